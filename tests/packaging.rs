//! The files under packaging/ that the .deb installs: the generated man page and completions
//! must be exactly what the binary renders now, and the unit, the default config and the
//! package metadata must agree with the command line they describe.
//!
//! The unit itself is checked by `systemd-analyze verify` in .ci/run, against the installed
//! package; this module needs no outside tool.

use std::path::{Path, PathBuf};

use crate::util::*;

/// The command to refresh the generated files, quoted in every failure that asks for it.
const REGENERATE: &str = "run bash packaging/generate.sh";

fn source_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read_source(relative: &str) -> String {
    std::fs::read_to_string(source_path(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

#[test]
fn generated_files_are_current() {
    let mut stale = Vec::new();
    for (what, file) in [
        ("man", "packaging/man/depot.1"),
        ("complete-bash", "packaging/completions/depot.bash"),
        ("complete-zsh", "packaging/completions/_depot"),
        ("complete-fish", "packaging/completions/depot.fish"),
    ] {
        let mut cmd = depot_command();
        cmd.args(["generate", what]);
        let out = run_command(cmd, None);
        out.expect_ok();
        assert!(!out.output.stdout.is_empty(), "empty output\n{out}");
        let committed = std::fs::read(source_path(file)).unwrap_or_default();
        if committed != out.output.stdout {
            let now = out.stdout();
            let before = String::from_utf8_lossy(&committed);
            let first_difference = now
                .lines()
                .zip(before.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| "one is a prefix of the other".to_owned(), |i| format!("line {}", i + 1));
            stale.push(format!("{file} differs from `depot generate {what}` ({first_difference})"));
        }
    }
    assert!(
        stale.is_empty(),
        "\n{}\nThe command line changed: {REGENERATE} and commit the result.\n",
        stale.join("\n")
    );
}

#[test]
fn generate_is_hidden_and_checks_its_argument() {
    let mut cmd = depot_command();
    cmd.arg("--help");
    let help = run_command(cmd, None);
    help.expect_ok();
    assert!(!help.stdout().contains("generate"), "depot --help shows the hidden command\n{help}");

    let mut cmd = depot_command();
    cmd.args(["generate", "complete-powershell"]);
    run_command(cmd, None).expect_usage_error();
}

/// `(key, default)` for every `depot serve` option, from its `--help`: the long name with '-'
/// as '_' (the config file's key), and the `[default: …]` clap shows, if any.
fn serve_settings() -> Vec<(String, Option<String>)> {
    let mut cmd = depot_command();
    cmd.args(["serve", "--help"]);
    let out = run_command(cmd, None);
    out.expect_ok();
    let mut settings: Vec<(String, Option<String>)> = Vec::new();
    for line in out.stdout().lines().map(str::trim) {
        if let Some(option) = line.strip_prefix("--") {
            let name = option.split([' ', '<']).next().unwrap_or_default();
            settings.push((name.replace('-', "_"), None));
        } else if let (Some(default), Some(last)) = (line.strip_prefix("[default: "), settings.last_mut()) {
            last.1 = Some(default.trim_end_matches(']').to_owned());
        }
    }
    // The global --db is the unit's business (ExecStart), --config names the file itself,
    // help and version are not settings.
    settings.retain(|(key, _)| !["db", "config", "help", "version"].contains(&key.as_str()));
    assert!(settings.len() >= 10, "parsed too few options from\n{out}");
    settings
}

#[test]
fn default_config_lists_every_serve_setting_commented_out_with_its_default() {
    let config = read_source("packaging/depot.toml");
    // Nothing active: the shipped file is an empty TOML document and changes no default.
    for line in config.lines() {
        assert!(line.is_empty() || line.starts_with('#'), "active line in packaging/depot.toml: {line:?}");
    }
    for (key, default) in serve_settings() {
        let expected = match &default {
            Some(value) if value.parse::<u64>().is_ok() => format!("# {key} = {value}\n"),
            Some(value) => format!("# {key} = \"{value}\"\n"),
            // No default (e.g. tls_cert): an example value.
            None => format!("# {key} = "),
        };
        assert!(
            config.contains(&expected),
            "packaging/depot.toml lacks {expected:?} (a `depot serve` option, default {default:?})"
        );
    }
}

#[test]
fn unit_runs_the_packaged_binary_hardened_and_stops_within_its_timeout() {
    let unit = read_source("packaging/depot.service");
    let settings: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#') && l.contains('=')).collect();
    for expected in [
        "User=depot",
        "Group=depot",
        "StateDirectory=depot depot/backups",
        "WorkingDirectory=/var/lib/depot",
        "Environment=DEPOT_CONFIG=/etc/depot/depot.toml",
        "ExecStart=/usr/bin/depot --db /var/lib/depot/depot.redb serve",
        "KillSignal=SIGTERM",
        "Restart=on-failure",
        "UMask=0077",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute=yes",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=",
    ] {
        assert!(settings.contains(&expected), "packaging/depot.service lacks the line {expected:?}");
    }
    // Without TLS, SIGHUP ends the server: `systemctl reload` must not send it.
    assert!(!settings.iter().any(|l| l.starts_with("ExecReload=")), "ExecReload= in packaging/depot.service");

    // After SIGTERM the server waits up to grace_secs for requests, then up to grace_secs
    // for the tasks left: systemd must not SIGKILL it before both have passed.
    let grace: u64 = serve_settings()
        .into_iter()
        .find(|(key, _)| key == "grace_secs")
        .and_then(|(_, default)| default?.parse().ok())
        .expect("depot serve --help shows the grace_secs default");
    let timeout: u64 = settings
        .iter()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.parse().ok())
        .expect("TimeoutStopSec=<seconds> in packaging/depot.service");
    assert!(timeout > 2 * grace, "TimeoutStopSec={timeout} does not exceed twice the {grace} s grace");
}

#[test]
fn every_packaged_file_exists() {
    let manifest = read_source("Cargo.toml");
    let deb = manifest.split("[package.metadata.deb]").nth(1).expect("Cargo.toml has [package.metadata.deb]");
    let sources: Vec<&str> = deb
        .lines()
        .filter_map(|l| l.trim().strip_prefix("[\""))
        .filter_map(|l| l.split('"').next())
        .filter(|source| !source.starts_with("target/"))
        .collect();
    assert!(sources.contains(&"packaging/depot.toml"), "{sources:?}");
    for source in sources {
        assert!(source_path(source).is_file(), "Cargo.toml packages {source}, which does not exist");
    }
    for file in ["packaging/depot.service", "packaging/debian/postinst"] {
        assert!(source_path(file).is_file(), "{file} is missing");
    }
}
