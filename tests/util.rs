//! The test harness: a real `depot` process on a loopback port, its CLI, a raw HTTP/1.1 client,
//! and the small pure helpers (sha256, base64, JSON, deterministic content) the tests need.
//!
//! Everything here drives the built binary from the outside, over a real socket or through its
//! command line; nothing links the library crate. Waits in this file are hang guards (a generous
//! `WATCHDOG`), never timing assertions. A failed check panics with the request, what was
//! expected and what came back.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Index;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The binary under test, built by cargo for this test target.
pub const BIN: &str = env!("CARGO_BIN_EXE_depot");

/// Upper bound for anything we wait on (server start, a response, a process exit). It only turns
/// a hang into a failure with context; no test asserts how long something took.
pub const WATCHDOG: Duration = Duration::from_secs(180);

/// Records that tests were skipped because `tool` is missing: under CI (the `CI` variable set)
/// that is a failure; elsewhere one `SKIPPED:` line goes straight to stderr (the harness shows
/// a passing test's own output only with --nocapture) and to the run's skip log, which the
/// `skipped` target prints at the end of the run.
#[track_caller]
pub fn skipped(what: &str, tool: &str, install: &str) {
    assert!(std::env::var_os("CI").is_none(), "{tool} is missing under CI, so {what} cannot run ({install})");
    let line = format!("SKIPPED: {what} not run, {tool} missing ({install})\n");
    let _ = io::stderr().write_all(line.as_bytes());
    let log = std::fs::OpenOptions::new().create(true).append(true).open(crate::skiplog::skip_log());
    let _ = log.and_then(|mut f| f.write_all(line.as_bytes()));
}

pub const KIB: usize = 1024;
pub const MIB: usize = 1024 * 1024;

/// Compares two values and, on mismatch, panics showing the context (usually the request and
/// the whole response), the expected and the actual value.
macro_rules! eqnice {
    ($expected:expr, $actual:expr, $context:expr $(,)?) => {{
        let expected = &$expected;
        let actual = &$actual;
        if expected != actual {
            panic!(
                "\n==== mismatch ====\nexpected: {:?}\nactual:   {:?}\n==== context ====\n{}\n",
                expected, actual, $context
            );
        }
    }};
}

// ---------------------------------------------------------------------------------------------
// CLI runs
// ---------------------------------------------------------------------------------------------

/// A `depot` command with an environment that cannot leak into the test: no inherited
/// `DEPOT_*` variable (settings, `DEPOT_CONFIG`, a `DEPOT_LOG` filter that could hide the
/// startup line), no `RUST_LOG`, no colours. Every `DEPOT_` name is removed, not a list, so a
/// setting added later is covered too.
pub fn depot_command() -> Command {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DEPOT_") {
            cmd.env_remove(name);
        }
    }
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    cmd
}

/// Runs `cmd`, feeding `stdin` (if any) and capturing stdout and stderr.
pub fn run_command(mut cmd: Command, stdin: Option<&str>) -> CmdOutput {
    let cmdline = format!("{:?}", cmd);
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmdline}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin was piped");
        // A command may exit without reading its stdin (e.g. on bad usage): ignore EPIPE.
        let _ = pipe.write_all(input.as_bytes());
    }
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("cannot wait for {cmdline}: {e}"));
    CmdOutput { cmdline, stdin: stdin.map(str::to_owned), output }
}

/// The result of one CLI run, with enough context to explain a failed check.
pub struct CmdOutput {
    pub cmdline: String,
    pub stdin: Option<String>,
    pub output: Output,
}

impl CmdOutput {
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// stdout split into lines, without the line terminators.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout().lines().map(str::to_owned).collect()
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        eqnice!(Some(code), self.code(), self);
        self
    }

    #[track_caller]
    pub fn expect_ok(&self) -> &Self {
        self.expect_code(0)
    }

    /// Exit 1 with a one-line reason on stderr (docs/cli.md, Conventions).
    #[track_caller]
    pub fn expect_failure(&self) -> &Self {
        self.expect_code(1);
        let stderr = self.stderr();
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        eqnice!(1, lines.len(), format!("a failure prints one line on stderr\n{self}"));
        self
    }

    /// Exit 2 (bad usage).
    #[track_caller]
    pub fn expect_usage_error(&self) -> &Self {
        self.expect_code(2)
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "command: {}", self.cmdline)?;
        if let Some(stdin) = &self.stdin {
            writeln!(f, "stdin:   {stdin:?}")?;
        }
        writeln!(f, "status:  {}", self.output.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout())?;
        write!(f, "--- stderr ---\n{}", self.stderr())
    }
}

/// Label counter so every token a test creates has its own label.
static LABELS: AtomicUsize = AtomicUsize::new(0);

/// A fresh temporary directory holding `depot.redb`: the `TestCommand` of this suite, for CLI
/// runs with or without a server on the same file.
pub struct TestDb {
    dir: tempfile::TempDir,
    db: PathBuf,
}

impl TestDb {
    pub fn new() -> TestDb {
        let dir =
            tempfile::Builder::new().prefix("depot-test-").tempdir().expect("create a temporary directory");
        let db = dir.path().join("depot.redb");
        TestDb { dir, db }
    }

    /// A fresh directory holding a copy of the database file at `file` (a backup, say).
    pub fn copy_of(file: &Path) -> TestDb {
        let db = TestDb::new();
        std::fs::copy(file, db.path()).expect("copy the database file");
        db
    }

    /// The database file (it need not exist yet).
    pub fn path(&self) -> &Path {
        &self.db
    }

    /// The directory the database lives in; tests may put other files there.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `depot --db FILE` ready for more arguments.
    pub fn command(&self) -> Command {
        let mut cmd = depot_command();
        cmd.arg("--db").arg(&self.db);
        cmd
    }

    /// Runs `depot --db FILE ARGS…` with `stdin`.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> CmdOutput {
        let mut cmd = self.command();
        cmd.args(args);
        run_command(cmd, stdin)
    }

    /// Creates a user through the CLI and returns its password credential.
    #[track_caller]
    pub fn add_user(&self, name: &str, password: &str, admin: bool) -> Cred {
        let mut args = vec!["user", "add", name, "--password-stdin"];
        if admin {
            args.push("--admin");
        }
        self.cli(&args, Some(&format!("{password}\n"))).expect_ok();
        Cred::basic(name, password)
    }

    /// Creates a private (non-admin) user and returns its password credential.
    #[track_caller]
    pub fn add_private_user(&self, name: &str, password: &str) -> Cred {
        self.cli(&["user", "add", name, "--private", "--password-stdin"], Some(&format!("{password}\n")))
            .expect_ok();
        Cred::basic(name, password)
    }

    #[track_caller]
    pub fn add_org(&self, name: &str, private: bool) {
        let mut args = vec!["org", "add", name];
        if private {
            args.push("--private");
        }
        self.cli(&args, None).expect_ok();
    }

    #[track_caller]
    pub fn add_member(&self, org: &str, user: &str, role: &str) {
        self.cli(&["org", "member", "add", org, user, "--role", role], None).expect_ok();
    }

    /// Creates a token with a fresh label and returns the secret (checked to be alone on its line).
    #[track_caller]
    pub fn token(&self, user: &str, scope: &str) -> String {
        self.token_labeled(user, scope).1
    }

    /// Like [`TestDb::token`], also returning the label used.
    #[track_caller]
    pub fn token_labeled(&self, user: &str, scope: &str) -> (String, String) {
        let label = format!("t{}", LABELS.fetch_add(1, Ordering::Relaxed));
        let out = self.cli(&["token", "create", user, "--name", &label, "--scope", scope], None);
        out.expect_ok();
        let lines = out.stdout_lines();
        eqnice!(1, lines.len(), format!("token create prints exactly one line\n{out}"));
        let token = lines[0].trim().to_owned();
        assert!(!token.is_empty(), "empty token\n{out}");
        (label, token)
    }
}

// ---------------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------------

/// Server stderr, collected by a thread so the pipe never fills.
#[derive(Default)]
struct LogBuf {
    state: Mutex<(String, bool)>,
    changed: Condvar,
}

impl LogBuf {
    fn push(&self, text: &str) {
        self.state.lock().unwrap().0.push_str(text);
        self.changed.notify_all();
    }

    fn close(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }

    fn text(&self) -> String {
        self.state.lock().unwrap().0.clone()
    }
}

/// How a [`TestServer`] is started beyond `depot --db DIR/depot.redb serve --listen 127.0.0.1:0`.
#[derive(Clone, Debug, Default)]
pub struct ServeSetup {
    /// Extra `serve` arguments.
    pub args: Vec<String>,
    /// Environment variables for the server process (set after the `DEPOT_*` clean-up).
    pub env: Vec<(String, String)>,
    /// Leave out `--listen 127.0.0.1:0`: the address then comes from the environment or a config
    /// file, which must choose port 0 on a loopback address.
    pub no_listen_flag: bool,
    /// Leave out `--db`: the database then comes from the environment or a config file, which
    /// should name the `TestDb`'s file so the CLI helpers reach the same database.
    pub no_db_flag: bool,
}

impl ServeSetup {
    /// Extra `serve` arguments, nothing else changed.
    pub fn args(args: &[&str]) -> ServeSetup {
        ServeSetup { args: args.iter().map(|s| s.to_string()).collect(), ..ServeSetup::default() }
    }

    /// Adds an environment variable for the server process.
    pub fn env(mut self, name: &str, value: impl AsRef<std::ffi::OsStr>) -> ServeSetup {
        self.env.push((name.to_owned(), value.as_ref().to_string_lossy().into_owned()));
        self
    }
}

/// A running `depot --db DIR/depot.redb serve --listen 127.0.0.1:0 [EXTRA…]`, killed on drop.
pub struct TestServer {
    db: TestDb,
    setup: ServeSetup,
    child: Option<Child>,
    addr: Option<SocketAddr>,
    /// `http` or `https`, as the current run's startup line said.
    scheme: &'static str,
    log: Arc<LogBuf>,
    drain: Option<JoinHandle<()>>,
    /// Logs of earlier runs (before a restart), for failure messages.
    past_logs: String,
}

impl TestServer {
    /// A server on a fresh database.
    pub fn start() -> TestServer {
        TestServer::start_with(&[])
    }

    /// A server on a fresh database with extra `serve` flags.
    pub fn start_with(extra: &[&str]) -> TestServer {
        TestServer::start_on(TestDb::new(), extra)
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.db.path().to_path_buf()
    }

    /// The directory of the database file; tests may put other files there.
    pub fn db_dir(&self) -> PathBuf {
        self.db.dir().to_path_buf()
    }

    /// A server on an existing (possibly CLI-prepared) database.
    pub fn start_on(db: TestDb, extra: &[&str]) -> TestServer {
        TestServer::start_setup(db, ServeSetup::args(extra))
    }

    /// A server on `db`, started as `setup` says (environment, which default flags to leave out).
    pub fn start_setup(db: TestDb, setup: ServeSetup) -> TestServer {
        let mut srv = TestServer {
            db,
            setup,
            child: None,
            addr: None,
            scheme: "http",
            log: Arc::new(LogBuf::default()),
            drain: None,
            past_logs: String::new(),
        };
        srv.spawn();
        srv
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let mut cmd = if self.setup.no_db_flag { depot_command() } else { self.db.command() };
        cmd.arg("serve");
        if !self.setup.no_listen_flag {
            cmd.arg("--listen").arg("127.0.0.1:0");
        }
        cmd.args(&self.setup.args)
            .envs(self.setup.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let cmdline = format!("{cmd:?}");
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmdline}: {e}"));
        let stderr = child.stderr.take().expect("stderr was piped");
        let log = Arc::new(LogBuf::default());
        let (tx, rx) = mpsc::channel::<Result<(&'static str, SocketAddr), String>>();
        let sink = Arc::clone(&log);
        let drain = thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut tx = Some(tx);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                sink.push(&text);
                if let Some(found) = parse_listen_line(&text) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(found);
                    }
                }
            }
            sink.close();
        });
        self.log = log;
        self.drain = Some(drain);
        match rx.recv_timeout(WATCHDOG) {
            Ok(Ok((scheme, addr))) => {
                self.scheme = scheme;
                self.addr = Some(addr);
                self.child = Some(child);
            }
            Ok(Err(line)) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("cannot parse the address in {line:?}\n{cmdline}\n--- log ---\n{}", self.log.text());
            }
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                if let Some(drain) = self.drain.take() {
                    let _ = drain.join();
                }
                panic!(
                    "server never logged `listening on http(s)://` (exit: {status:?})\n{cmdline}\n--- log ---\n{}",
                    self.log.text()
                );
            }
        }
    }

    /// The bound address of the current run.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("server is not running")
    }

    /// `http` or `https`: what the current run listens for.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// An absolute URL on the current run, with its scheme.
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.addr(), path)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is not running").id()
    }

    /// Everything the current run wrote on stderr so far.
    pub fn log(&self) -> String {
        self.log.text()
    }

    /// Waits (bounded by `WATCHDOG`) until the current run's log contains `needle`, or the
    /// process closed stderr. Returns whether it appeared.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + WATCHDOG;
        let mut state = self.log.state.lock().unwrap();
        loop {
            if state.0.contains(needle) {
                return true;
            }
            if state.1 || Instant::now() >= deadline {
                return false;
            }
            state = self.log.changed.wait_timeout(state, Duration::from_millis(200)).unwrap().0;
        }
    }

    /// Logs of every run so far (for failure messages).
    fn all_logs(&self) -> String {
        if self.child.is_some() {
            format!("{}{}", self.past_logs, self.log.text())
        } else {
            self.past_logs.clone()
        }
    }

    /// After the process is gone: collect the rest of its stderr and keep it readable through
    /// `log()` until the next start.
    fn finish_run(&mut self, how: &str) {
        if let Some(drain) = self.drain.take() {
            let _ = drain.join();
        }
        self.past_logs.push_str(&self.log.text());
        self.past_logs.push_str(&format!("----- {how} -----\n"));
        self.addr = None;
    }

    /// Stops the server with SIGKILL (no chance to clean up) and waits for it.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server is not running");
        child.kill().expect("SIGKILL the server");
        child.wait().expect("wait for the killed server");
        self.finish_run("server killed with SIGKILL");
    }

    /// Sends SIGTERM (through the `kill` command) and waits, bounded by `WATCHDOG`, for the exit.
    /// The run's complete log stays available through `log()`.
    #[track_caller]
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal_term();
        self.wait_exit()
    }

    /// Sends SIGTERM without waiting for the exit (see [`TestServer::wait_exit`]).
    #[track_caller]
    pub fn signal_term(&self) {
        self.signal("TERM");
    }

    /// Sends SIGHUP (reload the TLS certificate); returns once `kill` has delivered it.
    #[track_caller]
    pub fn signal_hup(&self) {
        self.signal("HUP");
    }

    /// Sends `SIG<name>` through the `kill` command.
    #[track_caller]
    fn signal(&self, name: &str) {
        let pid = self.pid();
        let status =
            Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().expect("run kill");
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// Waits, bounded by `WATCHDOG`, for the server to exit on its own (after a signal).
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WATCHDOG;
        let exit = loop {
            let child = self.child.as_mut().expect("server is not running");
            if let Some(exit) = child.try_wait().expect("try_wait") {
                break exit;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
                self.finish_run("server killed by the test watchdog");
                panic!("server did not exit after SIGTERM\n--- log ---\n{}", self.past_logs);
            }
            thread::sleep(Duration::from_millis(20));
        };
        self.child = None;
        self.finish_run("server exited");
        exit
    }

    /// Sets (or replaces) an environment variable of the server process for the next
    /// [`TestServer::restart`].
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.setup.env.retain(|(k, _)| k != name);
        self.setup.env.push((name.to_owned(), value.to_owned()));
    }

    /// Starts the server again on the same database file (and the same extra flags). A server
    /// that is still running is SIGKILLed first. The new run has a new address.
    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.spawn();
    }

    // ---- CLI through the same database (via the server's socket while it runs) ----

    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> CmdOutput {
        self.db.cli(args, stdin)
    }

    #[track_caller]
    pub fn add_user(&self, name: &str, password: &str, admin: bool) -> Cred {
        self.db.add_user(name, password, admin)
    }

    #[track_caller]
    pub fn add_private_user(&self, name: &str, password: &str) -> Cred {
        self.db.add_private_user(name, password)
    }

    #[track_caller]
    pub fn add_org(&self, name: &str, private: bool) {
        self.db.add_org(name, private)
    }

    #[track_caller]
    pub fn add_member(&self, org: &str, user: &str, role: &str) {
        self.db.add_member(org, user, role)
    }

    #[track_caller]
    pub fn token(&self, user: &str, scope: &str) -> String {
        self.db.token(user, scope)
    }

    #[track_caller]
    pub fn token_labeled(&self, user: &str, scope: &str) -> (String, String) {
        self.db.token_labeled(user, scope)
    }

    // ---- HTTP ----

    /// The sample of the unlabelled metric `name` on `/metrics`.
    #[track_caller]
    pub fn metric(&self, name: &str) -> u64 {
        let resp = self.send(Request::get("/metrics"));
        resp.expect(200);
        let text = resp.text();
        let value = text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' '));
        match value.and_then(|v| v.trim().parse().ok()) {
            Some(n) => n,
            None => panic!("no {name} sample\n{resp}"),
        }
    }

    /// Sends one request on its own connection and reads the whole response.
    #[track_caller]
    pub fn send(&self, req: Request) -> Response {
        let desc = req.describe();
        match send_to(self.addr(), &req) {
            Ok(resp) => resp,
            Err(e) => panic!(
                "request failed: {e}\n--- request ---\n{desc}\n--- server log ---\n{}",
                self.all_logs()
            ),
        }
    }

    /// Writes `bytes` as they are on a fresh connection and reads the response.
    #[track_caller]
    pub fn raw(&self, bytes: &[u8]) -> Response {
        let desc = String::from_utf8_lossy(&bytes[..bytes.len().min(2000)]).into_owned();
        match exchange(self.addr(), bytes, desc.clone()) {
            Ok(resp) => resp,
            Err(e) => panic!("raw request failed: {e}\n--- request ---\n{desc}"),
        }
    }

    /// PUT a generic file.
    #[track_caller]
    pub fn upload(
        &self,
        cred: &Cred,
        owner: &str,
        pkg: &str,
        ver: &str,
        file: &str,
        body: &[u8],
    ) -> Response {
        self.send(Request::put(&file_path(owner, pkg, ver, file), body).auth(cred))
    }

    /// GET a generic file.
    #[track_caller]
    pub fn download(&self, cred: &Cred, owner: &str, pkg: &str, ver: &str, file: &str) -> Response {
        self.send(Request::get(&file_path(owner, pkg, ver, file)).auth(cred))
    }

    /// Creates user `name` (not an admin) and returns a write token for it.
    pub fn token_after_user(&self, name: &str) -> String {
        self.add_user(name, &format!("{name}-password"), false);
        self.token(name, "write")
    }

    /// A reqwest client for the places where a stock client is the point (streaming).
    pub fn reqwest(&self) -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .no_proxy()
            .timeout(WATCHDOG * 3)
            .build()
            .expect("build a reqwest client")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Finds `listening on http://ADDR` or `listening on https://ADDR` in a log line and returns
/// the scheme and the address. `Err` when the marker is there but the address does not
/// parse, so a start-up failure is reported at once.
fn parse_listen_line(line: &str) -> Option<Result<(&'static str, SocketAddr), String>> {
    let clean = strip_ansi(line);
    let (scheme, at, marker_len) = ["https", "http"].into_iter().find_map(|scheme| {
        let marker = format!("listening on {scheme}://");
        clean.find(&marker).map(|at| (scheme, at, marker.len()))
    })?;
    let rest = &clean[at + marker_len..];
    let end = rest.find(|c: char| c.is_whitespace() || c == '"' || c == ',').unwrap_or(rest.len());
    let addr = rest[..end].trim_end_matches('/');
    Some(addr.parse::<SocketAddr>().map(|addr| (scheme, addr)).map_err(|_| line.to_owned()))
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP/1.1
// ---------------------------------------------------------------------------------------------

/// Credentials in each of the forms docs/api.md, Credential forms, lists.
#[derive(Clone, Debug)]
pub enum Cred {
    Anon,
    /// `Authorization: Basic base64(user:secret)`; secret is a password or a token.
    Basic(String, String),
    /// `Authorization: token T`
    Token(String),
    /// `Authorization: Bearer T`
    Bearer(String),
}

impl Cred {
    pub fn basic(user: &str, secret: &str) -> Cred {
        Cred::Basic(user.to_owned(), secret.to_owned())
    }

    pub fn token(token: &str) -> Cred {
        Cred::Token(token.to_owned())
    }

    pub fn bearer(token: &str) -> Cred {
        Cred::Bearer(token.to_owned())
    }

    /// The `Authorization` header value, if any.
    pub fn header(&self) -> Option<String> {
        match self {
            Cred::Anon => None,
            Cred::Basic(u, p) => Some(format!("Basic {}", base64(format!("{u}:{p}").as_bytes()))),
            Cred::Token(t) => Some(format!("token {t}")),
            Cred::Bearer(t) => Some(format!("Bearer {t}")),
        }
    }
}

/// One HTTP/1.1 request, sent as written (the target is not normalised or re-encoded).
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, target: &str) -> Request {
        Request {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn get(target: &str) -> Request {
        Request::new("GET", target)
    }

    pub fn head(target: &str) -> Request {
        Request::new("HEAD", target)
    }

    pub fn delete(target: &str) -> Request {
        Request::new("DELETE", target)
    }

    pub fn put(target: &str, body: &[u8]) -> Request {
        Request::new("PUT", target).body(body)
    }

    /// A request with a JSON body and `Content-Type: application/json`.
    pub fn json(method: &str, target: &str, json: &str) -> Request {
        Request::new(method, target).header("Content-Type", "application/json").body(json.as_bytes())
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: &[u8]) -> Request {
        self.body = body.to_vec();
        self
    }

    pub fn auth(self, cred: &Cred) -> Request {
        match cred.header() {
            Some(value) => self.header("Authorization", &value),
            None => self,
        }
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The bytes on the wire: always `Host` and `Connection: close`, and `Content-Length` for
    /// bodies (and for PUT/POST/PATCH even when empty) unless the test set one itself.
    pub fn encode(&self, host: &str) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\nHost: {host}\r\n", self.method, self.target);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let wants_length = !self.body.is_empty() || matches!(self.method.as_str(), "PUT" | "POST" | "PATCH");
        if wants_length && !self.has_header("Content-Length") && !self.has_header("Transfer-Encoding") {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        if !self.has_header("Connection") {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Human-readable form for failure messages.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {} HTTP/1.1\n", self.method, self.target);
        for (name, value) in &self.headers {
            s.push_str(&format!("{name}: {value}\n"));
        }
        s.push_str(&format!("[body: {} bytes] {}", self.body.len(), preview(&self.body)));
        s
    }
}

/// One parsed response, with the request that produced it (for failure messages).
#[derive(Clone, Debug)]
pub struct Response {
    pub request: String,
    pub status: u16,
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every header of that name.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    pub fn json(&self) -> Json {
        let text = self.text();
        match Json::parse(&text) {
            Ok(v) => v,
            Err(e) => panic!("response body is not JSON: {e}\n{self}"),
        }
    }

    #[track_caller]
    pub fn expect(&self, status: u16) -> &Response {
        eqnice!(status, self.status, self);
        self
    }

    /// The status is one of `allowed`.
    #[track_caller]
    pub fn expect_one_of(&self, allowed: &[u16]) -> &Response {
        if !allowed.contains(&self.status) {
            panic!("\n==== status not in {allowed:?} ====\n{self}\n");
        }
        self
    }

    #[track_caller]
    pub fn expect_header(&self, name: &str, value: &str) -> &Response {
        eqnice!(Some(value), self.header(name), format!("header {name}\n{self}"));
        self
    }

    #[track_caller]
    pub fn expect_no_header(&self, name: &str) -> &Response {
        eqnice!(None::<&str>, self.header(name), format!("header {name} must be absent\n{self}"));
        self
    }

    #[track_caller]
    pub fn expect_body(&self, body: &[u8]) -> &Response {
        if self.body != body {
            panic!(
                "\n==== body mismatch ====\nexpected: [{} bytes] {}\nactual:   [{} bytes] {}\n==== context ====\n{self}\n",
                body.len(),
                preview(body),
                self.body.len(),
                preview(&self.body)
            );
        }
        self
    }

    /// 401 with the Basic challenge (docs/api.md, Who may do what).
    #[track_caller]
    pub fn expect_401(&self) -> &Response {
        self.expect(401).expect_header("WWW-Authenticate", "Basic realm=\"depot\"")
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- request ---\n{}", self.request)?;
        writeln!(f, "--- response ---\n{}", self.status_line)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}: {value}")?;
        }
        write!(f, "[body: {} bytes] {}", self.body.len(), preview(&self.body))
    }
}

fn preview(bytes: &[u8]) -> String {
    const MAX: usize = 600;
    let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]).into_owned();
    if bytes.len() > MAX {
        format!("{shown:?}…")
    } else {
        format!("{shown:?}")
    }
}

/// Opens a connection with hang guards on both directions.
pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(WATCHDOG))?;
    stream.set_write_timeout(Some(WATCHDOG))?;
    Ok(stream)
}

/// Sends `req` on a fresh connection to `addr` and reads the response.
pub fn send_to(addr: SocketAddr, req: &Request) -> io::Result<Response> {
    exchange(addr, &req.encode(&addr.to_string()), req.describe())
}

/// Opens a connection to `addr` and sends the head of `PUT target` announcing a `total`-byte
/// body (with `cred` and any `extra` headers), leaving the body to the caller: for uploads that
/// are cut off, stalled or streamed in pieces.
pub fn begin_put(
    addr: SocketAddr,
    target: &str,
    cred: &Cred,
    total: usize,
    extra: &[(&str, &str)],
) -> io::Result<TcpStream> {
    let mut stream = connect(addr)?;
    let mut head = format!("PUT {target} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {total}\r\n");
    if let Some(value) = cred.header() {
        head.push_str(&format!("Authorization: {value}\r\n"));
    }
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    Ok(stream)
}

/// Writes the next `len` bytes of `pattern` to `out`, a MiB at a time (so a multi-MiB body is
/// never held in memory).
pub fn write_pattern(out: &mut impl Write, pattern: &mut Pattern, mut len: usize) -> io::Result<()> {
    let mut buf = vec![0u8; MIB.min(len)];
    while len > 0 {
        let n = len.min(buf.len());
        pattern.fill(&mut buf[..n]);
        out.write_all(&buf[..n])?;
        len -= n;
    }
    Ok(())
}

/// Writes `bytes` on a fresh connection and reads one response. A write error is not fatal by
/// itself (the server may answer early, e.g. 401 before the body, and close): the response, if
/// one arrived, is what counts.
pub fn exchange(addr: SocketAddr, bytes: &[u8], desc: String) -> io::Result<Response> {
    let mut stream = connect(addr)?;
    let head_request = bytes.starts_with(b"HEAD ");
    let write_result = stream.write_all(bytes).and_then(|_| stream.flush());
    match read_response(&mut stream, head_request, desc) {
        Ok(resp) => Ok(resp),
        Err(read_err) => Err(write_result.err().unwrap_or(read_err)),
    }
}

/// Reads one final (non-1xx) response from `stream` (a socket, or TLS over one). For a HEAD
/// request everything after the header block up to EOF is kept as the "body", so tests can
/// assert it is empty.
pub fn read_response(stream: &mut impl Read, head_request: bool, request: String) -> io::Result<Response> {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let mut eof = false;
    // Reads more into `buf`; tolerates a reset after data arrived (the peer closed early).
    let mut fill = |buf: &mut Vec<u8>, eof: &mut bool| -> io::Result<()> {
        match stream.read(&mut chunk) {
            Ok(0) => {
                *eof = true;
                Ok(())
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) if !buf.is_empty() && e.kind() == io::ErrorKind::ConnectionReset => {
                *eof = true;
                Ok(())
            }
            Err(e) => Err(e),
        }
    };
    loop {
        let end = loop {
            if let Some(pos) = find(&buf, b"\r\n\r\n") {
                break pos;
            }
            if eof {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("connection closed before a complete response head; got {}", preview(&buf)),
                ));
            }
            fill(&mut buf, &mut eof)?;
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_owned();
        let status: u16 =
            status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("bad status line {status_line:?}"))
            })?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let rest = buf[end + 4..].to_vec();
        if (100..200).contains(&status) {
            buf = rest;
            continue;
        }
        let mut resp = Response { request, status, status_line, headers, body: Vec::new() };
        let mut body = rest;
        let chunked = resp
            .header("Transfer-Encoding")
            .map(|v| v.to_ascii_lowercase().contains("chunked"))
            .unwrap_or(false);
        if head_request {
            while !eof {
                fill(&mut body, &mut eof)?;
            }
        } else if status == 204 || status == 304 {
            // No body by definition.
        } else if chunked {
            while !eof {
                fill(&mut body, &mut eof)?;
            }
            body = dechunk(&body)?;
        } else if let Some(len) = resp.header("Content-Length") {
            let len: usize =
                len.parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?;
            while body.len() < len && !eof {
                fill(&mut body, &mut eof)?;
            }
            if body.len() < len {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("body ended after {} of {len} bytes", body.len()),
                ));
            }
            body.truncate(len);
        } else {
            while !eof {
                fill(&mut body, &mut eof)?;
            }
        }
        resp.body = body;
        return Ok(resp);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut data: &[u8]) -> io::Result<Vec<u8>> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, format!("bad chunked body: {m}"));
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n").ok_or_else(|| bad("no size line"))?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("size"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(bad("truncated chunk"));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

// ---------------------------------------------------------------------------------------------
// Paths and names
// ---------------------------------------------------------------------------------------------

/// Percent-encodes a path segment the way a careful client does: everything that is not a
/// `pchar` of RFC 3986 (unreserved, sub-delims, `:` and `@`) becomes `%XX`.
pub fn enc(segment: &str) -> String {
    let mut out = String::new();
    for &b in segment.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/api/packages/{owner}/generic/{pkg}/{ver}` with each segment encoded by [`enc`].
pub fn version_path(owner: &str, pkg: &str, ver: &str) -> String {
    format!("/api/packages/{}/generic/{}/{}", enc(owner), enc(pkg), enc(ver))
}

/// `/api/packages/{owner}/generic/{pkg}/{ver}/{file}` with each segment encoded by [`enc`].
pub fn file_path(owner: &str, pkg: &str, ver: &str, file: &str) -> String {
    format!("{}/{}", version_path(owner, pkg, ver), enc(file))
}

/// `/api/v1/packages/{owner}/generic/{pkg}[/{ver}]`.
pub fn api_version_path(owner: &str, pkg: &str, ver: Option<&str>) -> String {
    match ver {
        Some(v) => format!("/api/v1/packages/{}/generic/{}/{}", enc(owner), enc(pkg), enc(v)),
        None => format!("/api/v1/packages/{}/generic/{}", enc(owner), enc(pkg)),
    }
}

/// A management API listing by name: `None` when the answer was 404.
pub type Listing<V> = Option<BTreeMap<String, V>>;

/// `/api/v1/packages/{owner}/{kind}/{pkg}/{ver}/files`; a Go module path goes in `pkg` as it is
/// (its `/` is percent-encoded here, as docs/api.md, Management API, says).
pub fn api_files_path(owner: &str, kind: &str, pkg: &str, ver: &str) -> String {
    format!("/api/v1/packages/{}/{kind}/{}/{}/files", enc(owner), enc(pkg), enc(ver))
}

/// A version's files as a `…/files` answer lists them: `Ok(None)` for a 404, else each file's
/// name with its size and sha256. Any other status, or an entry missing a field, is an `Err`
/// naming the response.
pub fn listed_files(resp: &Response) -> Result<Listing<(u64, String)>, String> {
    listed(resp, |f| {
        Some((f["name"].as_str()?.to_owned(), (f["size"].as_u64()?, f["sha256"].as_str()?.to_owned())))
    })
}

/// A package's versions as `GET /api/v1/packages/{owner}/{kind}/{pkg}` lists them: `Ok(None)`
/// for a 404, else each version with its `file_count` and `size`.
pub fn listed_versions(resp: &Response) -> Result<Listing<(u64, u64)>, String> {
    listed(resp, |v| {
        Some((v["version"].as_str()?.to_owned(), (v["file_count"].as_u64()?, v["size"].as_u64()?)))
    })
}

/// An owner's packages as `GET /api/v1/packages/{owner}?type=…` lists them (one entry per
/// version): each name with its number of versions (an owner with none answers 200 and an
/// empty list, or 404).
pub fn listed_packages(resp: &Response) -> Result<Listing<u64>, String> {
    let Some(items) = listed_items(resp)? else { return Ok(None) };
    let mut out = BTreeMap::new();
    for item in items {
        let name = item["name"].as_str().ok_or_else(|| format!("an entry lacks a name: {item:?}\n{resp}"))?;
        *out.entry(name.to_owned()).or_default() += 1;
    }
    Ok(Some(out))
}

/// The items of a list answer: `None` for 404, an error for any other status or a body that
/// is not a JSON array.
fn listed_items(resp: &Response) -> Result<Option<Vec<Json>>, String> {
    match resp.status {
        404 => return Ok(None),
        200 => {}
        _ => return Err(format!("expected 200 or 404\n{resp}")),
    }
    let json = Json::parse(&resp.text()).map_err(|e| format!("not JSON: {e}\n{resp}"))?;
    let items = json.as_array().ok_or_else(|| format!("expected a JSON array\n{resp}"))?;
    Ok(Some(items.to_vec()))
}

fn listed<V>(resp: &Response, entry: impl Fn(&Json) -> Option<(String, V)>) -> Result<Listing<V>, String> {
    let Some(items) = listed_items(resp)? else { return Ok(None) };
    let mut out = BTreeMap::new();
    for item in items {
        let (key, value) = entry(&item).ok_or_else(|| format!("an entry lacks a field: {item:?}\n{resp}"))?;
        if out.insert(key.clone(), value).is_some() {
            return Err(format!("{key:?} is listed twice\n{resp}"));
        }
    }
    Ok(Some(out))
}

/// An RFC 7231 IMF-fixdate such as `Tue, 25 Nov 2026 17:46:44 GMT`.
pub fn is_http_date(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 29
        && s.ends_with(" GMT")
        && b[3] == b','
        && b[4] == b' '
        && b[7] == b' '
        && b[11] == b' '
        && b[16] == b' '
        && b[19] == b':'
        && b[22] == b':'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[12..16].iter().all(u8::is_ascii_digit)
}

/// An RFC 3339 timestamp: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let fixed = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !fixed {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    rest == "Z"
        || rest == "z"
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':'
            && rest[1..3].bytes().all(|c| c.is_ascii_digit())
            && rest[4..6].bytes().all(|c| c.is_ascii_digit()))
}

// ---------------------------------------------------------------------------------------------
// Deterministic content
// ---------------------------------------------------------------------------------------------

/// FNV-1a of a name: the seed for that name's content.
pub fn seed_of(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A splitmix64 byte stream: the same seed always yields the same bytes.
pub struct Pattern {
    state: u64,
    word: [u8; 8],
    used: usize,
}

impl Pattern {
    pub fn new(seed: u64) -> Pattern {
        Pattern { state: seed, word: [0; 8], used: 8 }
    }

    fn next_word(&mut self) -> [u8; 8] {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)).to_le_bytes()
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        let mut i = 0;
        while i < out.len() {
            if self.used == 8 && out.len() - i >= 8 {
                out[i..i + 8].copy_from_slice(&self.next_word());
                i += 8;
                continue;
            }
            if self.used == 8 {
                self.word = self.next_word();
                self.used = 0;
            }
            out[i] = self.word[self.used];
            self.used += 1;
            i += 1;
        }
    }
}

/// `len` deterministic bytes from `seed`, produced on demand (for streamed uploads).
pub struct PatternReader {
    pattern: Pattern,
    remaining: u64,
}

impl PatternReader {
    pub fn new(seed: u64, len: u64) -> PatternReader {
        PatternReader { pattern: Pattern::new(seed), remaining: len }
    }
}

impl Read for PatternReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = out.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        self.pattern.fill(&mut out[..n]);
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// `len` deterministic bytes for `name`.
pub fn content_for(name: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    Pattern::new(seed_of(name)).fill(&mut out);
    out
}

/// Reads `reader` to the end and checks it yields exactly the `len` bytes of `seed`, chunk by
/// chunk, without holding either side in memory. Panics with the first differing offset.
#[track_caller]
pub fn assert_stream_matches(mut reader: impl Read, seed: u64, len: u64, context: &str) {
    let mut expected = Pattern::new(seed);
    let mut got = vec![0u8; 256 * KIB];
    let mut want = vec![0u8; 256 * KIB];
    let mut offset: u64 = 0;
    loop {
        let n = match reader.read(&mut got) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("download failed after {offset} bytes: {e}\n{context}"),
        };
        if n == 0 {
            break;
        }
        if offset + n as u64 > len {
            panic!("download is longer than {len} bytes\n{context}");
        }
        expected.fill(&mut want[..n]);
        if got[..n] != want[..n] {
            let at = (0..n).find(|&i| got[i] != want[i]).unwrap_or(0);
            panic!("downloaded byte {} differs from what was uploaded\n{context}", offset + at as u64);
        }
        offset += n as u64;
    }
    eqnice!(len, offset, format!("downloaded length\n{context}"));
}

// ---------------------------------------------------------------------------------------------
// sha256 and base64 (the suite may not add crates for them)
// ---------------------------------------------------------------------------------------------

const K256: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

fn sha256_block(h: &mut [u32; 8], block: &[u8]) {
    let mut w = [0u32; 64];
    for i in 0..16 {
        w[i] = u32::from_be_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]]);
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
    for i in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K256[i]).wrapping_add(w[i]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        hh = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
        *x = x.wrapping_add(y);
    }
}

/// The raw 32-byte SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut blocks = data.chunks_exact(64);
    for block in blocks.by_ref() {
        sha256_block(&mut h, block);
    }
    let rem = blocks.remainder();
    let mut tail = rem.to_vec();
    tail.push(0x80);
    while tail.len() % 64 != 56 {
        tail.push(0);
    }
    tail.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in tail.chunks_exact(64) {
        sha256_block(&mut h, block);
    }
    let mut out = [0u8; 32];
    for (i, word) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    sha256(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(ALPHABET[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { ALPHABET[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { ALPHABET[n as usize & 63] as char } else { '=' });
    }
    out
}

/// `Content-Digest: sha-256=:<base64>:` for `data` (RFC 9530).
pub fn content_digest(data: &[u8]) -> String {
    format!("sha-256=:{}:", base64(&sha256(data)))
}

// ---------------------------------------------------------------------------------------------
// A small JSON reader (the suite may not add serde_json)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

static JSON_NULL: Json = Json::Null;

impl Json {
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut p = JsonParser { s: text.as_bytes(), i: 0 };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing data at byte {}", p.i));
        }
        Ok(v)
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Num(n) if *n >= 0.0 && n.fract() == 0.0 => Some(*n as u64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Json::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Json>> {
        match self {
            Json::Arr(a) => Some(a),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }
}

impl Index<&str> for Json {
    type Output = Json;
    fn index(&self, key: &str) -> &Json {
        self.get(key).unwrap_or(&JSON_NULL)
    }
}

impl Index<usize> for Json {
    type Output = Json;
    fn index(&self, i: usize) -> &Json {
        self.as_array().and_then(|a| a.get(i)).unwrap_or(&JSON_NULL)
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {}", self.i))
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.s.get(self.i) {
            None => self.err("unexpected end"),
            Some(b'{') => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    if !self.eat(":") {
                        return self.err("expected ':'");
                    }
                    let v = self.value()?;
                    fields.push((key, v));
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("}") {
                        return Ok(Json::Obj(fields));
                    }
                    return self.err("expected ',' or '}'");
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("]") {
                        return Ok(Json::Arr(items));
                    }
                    return self.err("expected ',' or ']'");
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') if self.eat("true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Json::Bool(false)),
            Some(b'n') if self.eat("null") => Ok(Json::Null),
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(self.s[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                text.parse().map(Json::Num).map_err(|_| format!("bad number {text:?}"))
            }
            Some(_) => self.err("unexpected character"),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if !self.eat("\"") {
            return self.err("expected string");
        }
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else { return self.err("unterminated string") };
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|_| "string is not UTF-8".to_owned()),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else { return self.err("bad escape") };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) && self.eat("\\u") {
                                let lo = self.hex4()?;
                                0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        _ => return self.err("bad escape"),
                    };
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                }
                _ => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let Some(digits) = self.s.get(self.i..self.i + 4) else { return self.err("short \\u escape") };
        let text = std::str::from_utf8(digits).map_err(|_| "bad \\u escape".to_owned())?;
        let v = u32::from_str_radix(text, 16).map_err(|_| format!("bad \\u escape {text:?}"))?;
        self.i += 4;
        Ok(v)
    }
}

/// The helpers above are the suite's own measuring instruments: check them against published
/// vectors so a wrong helper cannot make a server look wrong (or right).
#[test]
fn harness_helpers_match_known_vectors() {
    assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_eq!(
        sha256_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
    assert_eq!(sha256_hex(&[b'a'; 1000]), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(content_digest(b""), "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:");
    let v = Json::parse(r#"[{"a":"x\u00e9\n","b":12,"c":[true,null]},{}]"#).unwrap();
    assert_eq!(v[0]["a"].as_str(), Some("xé\n"));
    assert_eq!(v[0]["b"].as_u64(), Some(12));
    assert_eq!(v[0]["c"][0].as_bool(), Some(true));
    assert!(v[1]["missing"].is_null());
    assert_eq!(enc("a b/ü+:"), "a%20b%2F%C3%BC+:");
    assert!(is_http_date("Tue, 25 Nov 2026 17:46:44 GMT"));
    assert!(is_rfc3339("2026-11-25T17:46:44Z"));
    assert!(!is_rfc3339("never"));
    let mut streamed = Vec::new();
    PatternReader::new(7, 1001).read_to_end(&mut streamed).unwrap();
    let mut pieces = vec![0u8; 1001];
    let mut p = Pattern::new(7);
    p.fill(&mut pieces[..3]);
    p.fill(&mut pieces[3..500]);
    p.fill(&mut pieces[500..]);
    assert_eq!(streamed, pieces, "the pattern does not depend on how it is chunked");
    assert_eq!(
        parse_listen_line("2026-01-01T00:00:00Z  INFO depot: listening on http://127.0.0.1:4321\n"),
        Some(Ok(("http", "127.0.0.1:4321".parse().unwrap())))
    );
    assert_eq!(
        parse_listen_line("2026-01-01T00:00:00Z  INFO depot: listening on https://127.0.0.1:4321 db=x\n"),
        Some(Ok(("https", "127.0.0.1:4321".parse().unwrap())))
    );
    assert_eq!(parse_listen_line("INFO depot: listening on ftp://127.0.0.1:4321\n"), None);
}
