//! `depot serve --config FILE` (docs/cli.md, Config file): the file's settings
//! reach the running server, the order flag > environment > file > default holds, and every
//! fault in a file stops the server with exit 1 and one line naming the file and the key.
//!
//! Settings are observed from outside: `max_file_size` through 413 versus 201, `listen` through
//! the address the startup line reports, `db` through the database the CLI then reaches.

use std::net::IpAddr;
use std::path::PathBuf;

use crate::util::*;

/// Writes `text` as `name` in the database's directory and returns its path.
fn write_config(db: &TestDb, name: &str, text: &str) -> PathBuf {
    let path = db.dir().join(name);
    std::fs::write(&path, text).expect("write the config file");
    path
}

/// A server on `db` started as `setup`, with user `alice` and a write token for her.
fn start_with_alice(db: TestDb, setup: ServeSetup) -> (TestServer, Cred) {
    let srv = TestServer::start_setup(db, setup);
    let token = srv.token_after_user("alice");
    (srv, Cred::token(&token))
}

/// Uploads `len` bytes as a new file and returns the status.
fn upload_status(srv: &TestServer, cred: &Cred, len: usize) -> u16 {
    let name = format!("f{len}.bin");
    srv.upload(cred, "alice", "sized", "1", &name, &content_for(&name, len)).status
}

/// Checks that the server's size limit lies in `below..above`: `below` bytes are accepted,
/// `above` bytes get 413.
#[track_caller]
fn expect_size_limit_between(srv: &TestServer, cred: &Cred, below: usize, above: usize) {
    let context = format!("limit expected in {below}..{above}\n--- log ---\n{}", srv.log());
    eqnice!(201, upload_status(srv, cred, below), context);
    eqnice!(413, upload_status(srv, cred, above), context);
}

fn config_arg(path: &std::path::Path) -> ServeSetup {
    ServeSetup::args(&["--config", path.to_str().expect("temporary paths are UTF-8")])
}

#[test]
fn a_config_file_sets_the_size_limit_the_server_enforces() {
    let db = TestDb::new();
    let file = write_config(&db, "depot.toml", "# the upload limit\nmax_file_size = 1000\n");
    let (srv, alice) = start_with_alice(db, config_arg(&file));
    expect_size_limit_between(&srv, &alice, 500, 2000);
    assert!(srv.log().contains("settings read from the config file"), "{}", srv.log());
}

#[test]
fn listen_and_db_can_come_from_the_file() {
    // 127.0.0.2 is a loopback address on Linux; the default 127.0.0.1:8080 would not match it.
    let db = TestDb::new();
    let text = format!("listen = \"127.0.0.2:0\"\ndb = {:?}\n", db.path().to_str().unwrap());
    let file = write_config(&db, "depot.toml", &text);
    let db_path = db.path().to_owned();
    let setup = ServeSetup { no_listen_flag: true, no_db_flag: true, ..config_arg(&file) };
    // The CLI helpers use `--db` with the TestDb's file: they reach the server the file configured.
    let (srv, alice) = start_with_alice(db, setup);
    eqnice!("127.0.0.2".parse::<IpAddr>().unwrap(), srv.addr().ip(), srv.log());
    assert!(srv.log().contains(&format!("db={}", db_path.display())), "{}", srv.log());
    eqnice!(201, upload_status(&srv, &alice, 10), srv.log());
}

#[test]
fn environment_beats_the_file_and_a_flag_beats_both() {
    const FILE: &str = "max_file_size = 1000\nlisten = \"127.0.0.2:0\"\n";

    // Environment over file: the limit is the environment's 3000, neither 1000 nor the default.
    let db = TestDb::new();
    let file = write_config(&db, "depot.toml", FILE);
    let setup = ServeSetup { no_listen_flag: true, ..config_arg(&file) }
        .env("DEPOT_MAX_FILE_SIZE", "3000")
        .env("DEPOT_LISTEN", "127.0.0.3:0");
    let (srv, alice) = start_with_alice(db, setup);
    expect_size_limit_between(&srv, &alice, 2000, 4000);
    eqnice!("127.0.0.3".parse::<IpAddr>().unwrap(), srv.addr().ip(), srv.log());
    drop(srv);

    // Flag over environment and file.
    let db = TestDb::new();
    let file = write_config(&db, "depot.toml", FILE);
    let mut setup = config_arg(&file).env("DEPOT_MAX_FILE_SIZE", "3000").env("DEPOT_LISTEN", "127.0.0.3:0");
    setup.args.extend(["--max-file-size".to_owned(), "5000".to_owned()]);
    let (srv, alice) = start_with_alice(db, setup);
    expect_size_limit_between(&srv, &alice, 4000, 6000);
    // The harness's own `--listen 127.0.0.1:0` beats both the environment and the file.
    eqnice!("127.0.0.1".parse::<IpAddr>().unwrap(), srv.addr().ip(), srv.log());
}

#[test]
fn depot_config_names_the_file_and_config_flag_beats_it() {
    // The files outlive both servers' databases.
    let files = TestDb::new();
    let small = write_config(&files, "small.toml", "max_file_size = 1000\n");
    let large = write_config(&files, "large.toml", "max_file_size = 3000\n");
    let (srv, alice) = start_with_alice(TestDb::new(), ServeSetup::default().env("DEPOT_CONFIG", &large));
    expect_size_limit_between(&srv, &alice, 2000, 4000);
    drop(srv);

    let setup = config_arg(&small).env("DEPOT_CONFIG", &large);
    let (srv, alice) = start_with_alice(TestDb::new(), setup);
    expect_size_limit_between(&srv, &alice, 500, 2000);
}

#[test]
fn bad_config_files_exit_1_with_one_line_naming_the_file_and_the_key() {
    // (file content or None for a missing file, what the line must also contain)
    let cases: &[(Option<&str>, &[&str])] = &[
        (None, &["cannot read it"]),
        (Some("max_file_size = = 1\n"), &["not valid TOML", "line 1"]),
        (Some("listen = \"127.0.0.1:0\"\n[server]\nport = 1\n"), &["server: unknown key"]),
        (Some("max_file_sise = 1000\n"), &["max_file_sise: unknown key", "max_file_size"]),
        (Some("max-file-size = 1000\n"), &["max-file-size: unknown key", "did you mean max_file_size?"]),
        (Some("max_connections = \"lots\"\n"), &["max_connections: expected an integer, found a string"]),
        (Some("max_connections = 0\n"), &["max_connections: invalid value 0: must be at least 1"]),
        (Some("listen = \"nowhere\"\n"), &["listen: invalid value \"nowhere\""]),
        (Some("config = \"other.toml\"\n"), &["config: not a setting a config file may hold"]),
        (Some("tls_cert = \"chain.pem\"\n"), &["--tls-key"]),
    ];
    for (content, expected) in cases {
        let db = TestDb::new();
        let path = match content {
            Some(text) => write_config(&db, "depot.toml", text),
            None => db.dir().join("missing.toml"),
        };
        let path_text = path.to_str().unwrap();
        for by_env in [false, true] {
            let mut cmd = db.command();
            cmd.args(["serve", "--listen", "127.0.0.1:0"]);
            if by_env {
                cmd.env("DEPOT_CONFIG", &path);
            } else {
                cmd.args(["--config", path_text]);
            }
            let out = run_command(cmd, None);
            out.expect_failure();
            let stderr = out.stderr();
            let line = stderr.trim_end();
            let prefix = format!("depot: config file {path_text}: ");
            assert!(line.starts_with(&prefix), "expected {prefix:?}…\n{out}");
            for part in *expected {
                assert!(line.contains(part), "expected {part:?} in the reason\n{out}");
            }
            // Refused before anything else: no database file was created.
            assert!(!db.path().exists(), "a database was created\n{out}");
        }
    }
}

#[test]
fn a_bad_file_line_is_refused_even_when_a_flag_overrides_it() {
    let db = TestDb::new();
    let file = write_config(&db, "depot.toml", "max_connections = \"lots\"\n");
    let out = db.cli(
        &["serve", "--listen", "127.0.0.1:0", "--max-connections", "5", "--config", file.to_str().unwrap()],
        None,
    );
    out.expect_failure();
    assert!(out.stderr().contains("max_connections"), "{out}");
}

#[test]
fn command_line_mistakes_stay_usage_errors_with_a_config_file() {
    let db = TestDb::new();
    let file = write_config(&db, "depot.toml", "max_file_size = 1000\n");
    let file = file.to_str().unwrap();
    for args in [
        vec!["serve", "--config"],
        vec!["serve", "--config", file, "--max-connections", "0"],
        vec!["serve", "--config", file, "--max-file-size", "lots"],
        // Half a TLS pair on the command line; the file does not supply the other half.
        vec!["serve", "--config", file, "--tls-cert", "chain.pem"],
    ] {
        db.cli(&args, None).expect_usage_error();
    }
    assert!(!db.path().exists());
}

#[test]
fn serve_help_lists_config_every_setting_and_the_precedence() {
    let out = run_command(
        {
            let mut cmd = depot_command();
            cmd.args(["serve", "--help"]);
            cmd
        },
        None,
    );
    out.expect_ok();
    let help = out.stdout();
    for needle in [
        "--config <FILE>",
        "[env: DEPOT_CONFIG=]",
        "flag, its DEPOT_* environment variable, the --config file, the built-in default",
    ] {
        assert!(help.contains(needle), "{needle:?} missing\n{out}");
    }
    for (flag, env) in [
        ("--db", "DEPOT_DB"),
        ("--listen", "DEPOT_LISTEN"),
        ("--tls-cert", "DEPOT_TLS_CERT"),
        ("--tls-key", "DEPOT_TLS_KEY"),
        ("--max-file-size", "DEPOT_MAX_FILE_SIZE"),
        ("--body-idle-timeout-secs", "DEPOT_BODY_IDLE_TIMEOUT_SECS"),
        ("--header-timeout-secs", "DEPOT_HEADER_TIMEOUT_SECS"),
        ("--max-header-bytes", "DEPOT_MAX_HEADER_BYTES"),
        ("--max-connections", "DEPOT_MAX_CONNECTIONS"),
        ("--grace-secs", "DEPOT_GRACE_SECS"),
        ("--cache-mib", "DEPOT_CACHE_MIB"),
    ] {
        assert!(help.contains(flag) && help.contains(&format!("[env: {env}=]")), "{flag} {env}\n{out}");
    }
}
