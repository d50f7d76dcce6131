//! The web page in a real browser: Debian's chromium, driven by playwright-core from
//! `tests/browser/flow.mjs` (sign in, find a package by search, open a version, copy the
//! snippet with its button, delete a file through the confirmation, create, use and revoke a
//! token, reach the content by keyboard), with an axe-core accessibility check of every page
//! in light and dark schemes. `.ci/run` installs chromium, Node.js and the script's two npm
//! packages; in CI a missing one fails the test.

use std::path::Path;
use std::process::Command;

use crate::util::*;

/// What the browser test needs and is not there, with the command that installs it all.
const INSTALL: &str = "apt-get install -y chromium nodejs npm && npm ci --prefix tests/browser";

fn missing() -> Vec<&'static str> {
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()))
    };
    let mut missing = Vec::new();
    if !Path::new(&std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())).is_file() {
        missing.push("chromium");
    }
    if !on_path("node") {
        missing.push("node");
    }
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/node_modules");
    if !modules.join("playwright-core").is_dir() || !modules.join("axe-core").is_dir() {
        missing.push("tests/browser/node_modules");
    }
    missing
}

#[test]
fn the_web_page_works_in_a_real_browser_and_passes_axe() {
    let absent = missing();
    if !absent.is_empty() {
        skipped("the browser test", &absent.join(", "), INSTALL);
        return;
    }
    let srv = TestServer::start();
    let admin = srv.add_user("webadmin", "webadmin-password", true);
    for file in ["tool-linux.tar.gz", "tool-mac.tar.gz"] {
        srv.upload(&admin, "webadmin", "tool", "2.0", file, file.as_bytes()).expect(201);
    }
    srv.upload(&admin, "webadmin", "tool", "1.0", "tool-linux.tar.gz", b"old").expect(201);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/flow.mjs");
    let out = Command::new("node")
        .arg(&script)
        .args([&srv.url(""), "webadmin", "webadmin-password"])
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser flow failed\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all browser checks passed"), "{stdout}");
    // What the browser did is visible from outside too.
    srv.download(&Cred::Anon, "webadmin", "tool", "2.0", "tool-mac.tar.gz").expect(404);
    srv.download(&Cred::Anon, "webadmin", "tool", "2.0", "tool-linux.tar.gz").expect(200);
}
