//! docs/go-modules.md with the real go command (Debian's golang-go, which `.ci/run` installs): publish
//! several versions, then `go list -m -versions`, `go get @latest`, `go mod download`,
//! `go build`, `go run` and `go mod verify` in a consumer module, with a scratch GOPATH,
//! GOCACHE and HOME, and no network but the test server.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::go::{module_zip, upload_path};
use crate::tls::{https_client, start_tls, Ca, TlsFiles};
use crate::util::*;

/// The go command, or `None` outside CI when it is not installed (the tests then say so and
/// do nothing). In CI (`CI` set) a missing go command fails the test: `.ci/run` installs it.
pub(crate) fn go() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("go")).find(|p| p.is_file()));
    if found.is_none() {
        skipped("the Go client tests", "the go command", "apt-get install -y golang-go");
    }
    found
}

/// A scratch Go environment: GOPATH, GOCACHE, HOME under one temporary directory.
pub(crate) struct GoEnv {
    go: PathBuf,
    dir: tempfile::TempDir,
    proxy: String,
    extra: Vec<(String, String)>,
}

impl GoEnv {
    pub(crate) fn new(go: PathBuf, proxy: String) -> GoEnv {
        let dir = tempfile::Builder::new().prefix("depot-go-").tempdir().unwrap();
        GoEnv { go, dir, proxy, extra: Vec::new() }
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `go ARGS` in `cwd`; panics with its output unless it succeeds.
    #[track_caller]
    pub(crate) fn run(&self, cwd: &Path, args: &[&str]) -> String {
        let out = self.try_run(cwd, args);
        if !out.status.success() {
            panic!(
                "go {} failed ({:?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn try_run(&self, cwd: &Path, args: &[&str]) -> std::process::Output {
        let h = self.home();
        let mut cmd = Command::new(&self.go);
        cmd.args(args)
            .current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", h)
            .env("GOPATH", h.join("gopath"))
            .env("GOCACHE", h.join("gocache"))
            .env("GOMODCACHE", h.join("gopath/pkg/mod"))
            .env("GOPROXY", &self.proxy)
            .env("GONOSUMDB", "example.com")
            .env("GOFLAGS", "-mod=mod")
            .env("GO111MODULE", "on")
            .env("GOTOOLCHAIN", "local")
            .env("CGO_ENABLED", "0");
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd.output().expect("run go")
    }

    /// A consumer module importing `imports` (path, package name) and printing `expr`.
    pub(crate) fn consumer(&self, imports: &[(&str, &str)], expr: &str) -> PathBuf {
        let dir = self.home().join("consumer");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("go.mod"), "module example.com/consumer\n\ngo 1.19\n").unwrap();
        let imports: String = imports.iter().map(|(path, name)| format!("\t{name} \"{path}\"\n")).collect();
        let main = format!(
            "package main\n\nimport (\n\t\"fmt\"\n\n{imports})\n\nfunc main() {{ fmt.Println({expr}) }}\n"
        );
        std::fs::write(dir.join("main.go"), main).unwrap();
        dir
    }
}

/// A module whose package `greet` returns "hello from VERSION".
pub(crate) fn greet_module(module: &str, version: &str) -> Vec<u8> {
    let go_mod = format!("module {module}\n\ngo 1.19\n");
    let code = format!(
        "package greet\n\n// Hello greets.\nfunc Hello() string {{ return \"hello from {version}\" }}\n"
    );
    module_zip(
        module,
        version,
        &[("go.mod", go_mod.as_bytes()), ("greet.go", code.as_bytes()), ("LICENSE", b"MIT\n")],
    )
}

#[test]
fn the_go_command_lists_resolves_downloads_builds_and_verifies_published_modules() {
    let Some(go) = go() else { return };
    let s = TestServer::start();
    let cred = s.add_user("alice", "alice-password", false);
    let upper = "example.com/Greeter";
    for v in ["v1.0.0", "v1.1.0", "v1.2.0-beta.1"] {
        s.send(Request::put(&upload_path("alice"), &greet_module(upper, v)).auth(&cred)).expect(201);
    }
    let v2 = "example.com/Greeter/v2";
    s.send(Request::put(&upload_path("alice"), &greet_module(v2, "v2.0.0")).auth(&cred)).expect(201);
    let env = GoEnv::new(go, s.url("/api/packages/alice/go"));
    let app = env.consumer(&[(upper, "greet"), (v2, "greet2")], "greet.Hello(), greet2.Hello()");

    let versions = env.run(&app, &["list", "-m", "-versions", upper]);
    eqnice!(format!("{upper} v1.0.0 v1.1.0 v1.2.0-beta.1"), versions.trim().to_string(), versions);
    env.run(&app, &["get", &format!("{upper}@latest")]);
    env.run(&app, &["get", &format!("{v2}@v2.0.0")]);
    let go_mod = std::fs::read_to_string(app.join("go.mod")).unwrap();
    assert!(go_mod.contains(&format!("{upper} v1.1.0")), "latest is the highest release\n{go_mod}");
    let dl = env.run(&app, &["mod", "download", "-json", &format!("{upper}@v1.2.0-beta.1")]);
    assert!(dl.contains("\"Version\": \"v1.2.0-beta.1\""), "{dl}");
    env.run(&app, &["build", "-o", "consumer", "."]);
    let out = Command::new(app.join("consumer")).output().unwrap();
    eqnice!(
        "hello from v1.1.0 hello from v2.0.0\n",
        String::from_utf8_lossy(&out.stdout).to_string(),
        format!("{out:?}")
    );
    let run = env.run(&app, &["run", "."]);
    eqnice!("hello from v1.1.0 hello from v2.0.0\n", run.as_str(), run);
    let verify = env.run(&app, &["mod", "verify"]);
    assert!(verify.contains("all modules verified"), "{verify}");
    // go.sum pins what was served; a second, clean cache gets the same bytes.
    let env2 = GoEnv::new(env.go.clone(), env.proxy.clone());
    let app2 = env2.consumer(&[(upper, "greet")], "greet.Hello()");
    std::fs::copy(app.join("go.sum"), app2.join("go.sum")).unwrap();
    env2.run(&app2, &["get", &format!("{upper}@v1.1.0")]);
    env2.run(&app2, &["mod", "verify"]);
}

#[test]
fn the_go_command_falls_through_a_404_to_the_next_proxy() {
    let Some(go) = go() else { return };
    let empty = TestServer::start();
    empty.add_user("nobody", "nobody-password", false);
    let s = TestServer::start();
    let cred = s.add_user("alice", "alice-password", false);
    s.send(Request::put(&upload_path("alice"), &greet_module("example.com/fall", "v0.1.0")).auth(&cred))
        .expect(201);
    let proxy = format!("{},{}", empty.url("/api/packages/nobody/go"), s.url("/api/packages/alice/go"));
    let env = GoEnv::new(go, proxy);
    let app = env.consumer(&[("example.com/fall", "greet")], "greet.Hello()");
    env.run(&app, &["get", "example.com/fall@latest"]);
    let run = env.run(&app, &["run", "."]);
    eqnice!("hello from v0.1.0\n", run.as_str(), run);
}

#[test]
fn a_private_owner_is_read_through_netrc_credentials_over_https() {
    let Some(go) = go() else { return };
    let db = TestDb::new();
    db.add_private_user("carol", "carol-password");
    let token = db.token("carol", "read");
    let ca = Ca::root("depot go test CA");
    let files = TlsFiles::write(db.dir(), &ca.issue());
    let ca_file = db.dir().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let s = start_tls(db, &files, &[]);
    let client = https_client(&ca);
    let up = client
        .put(s.url(&upload_path("carol")))
        .basic_auth("carol", Some("carol-password"))
        .body(greet_module("example.com/Private", "v1.0.0"))
        .send()
        .expect("upload over https");
    eqnice!(201, up.status().as_u16(), format!("{up:?}"));

    let mut env = GoEnv::new(go, s.url("/api/packages/carol/go"));
    env.extra.push(("SSL_CERT_FILE".into(), ca_file.display().to_string()));
    let app = env.consumer(&[("example.com/Private", "greet")], "greet.Hello()");
    // Without credentials the private module is refused...
    let denied = env.try_run(&app, &["get", "example.com/Private@latest"]);
    assert!(!denied.status.success(), "a private module must need credentials: {denied:?}");
    assert!(String::from_utf8_lossy(&denied.stderr).contains("401"), "{denied:?}");
    // ...and with a ~/.netrc line for the host the go command sends them (over HTTPS only).
    std::fs::write(env.home().join(".netrc"), format!("machine 127.0.0.1 login carol password {token}\n"))
        .unwrap();
    env.run(&app, &["get", "example.com/Private@latest"]);
    let run = env.run(&app, &["run", "."]);
    eqnice!("hello from v1.0.0\n", run.as_str(), run);
    env.run(&app, &["mod", "verify"]);
}
