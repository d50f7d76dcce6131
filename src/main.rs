//! The `depot` binary: parses the command line, starts logging, runs the command and owns the
//! exit code (0 success, 1 failure with a one-line reason on stderr, 2 bad usage).

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use depot::admin::{self, Output};
use depot::cli::{
    BlobStore, BlobsCommand, Cli, Command, GenerateKind, GoCommand, KindArg, MemberCommand, OrgCommand,
    QuotaCommand, RoleArg, RulesCommand, TokenCommand, UserCommand,
};
use depot::clock::rfc3339;
use depot::config::{self, ServeConfig};
use depot::store::{self, Create, Role, Store};
use depot::{app::App, control, server, shutdown, tls};

/// mimalloc instead of glibc's malloc: per-thread heaps without the arena lock the writer
/// thread and the request workers contended on. Measured with `benches/put_compare.sh`, glibc
/// build against this one: durable 4 KiB PUT 7.6k -> 9.4k req/s (1.24x), and random 4 KiB GETs
/// 42.7k -> 51.4k (one `benches/bench.sh` run of each build, back to back; the rates move
/// with the VM's state from hour to hour, the ratio is the figure), big-file rates unchanged. Transparent huge pages
/// off (`no_thp`): with them, memory freed by the 1 MiB chunk buffers came back in 2 MiB
/// pages and the benchmark's peak RSS rose from 189 to 237 MiB; without, it is 189 MiB, as
/// with glibc (which needed two arenas and a pinned mmap threshold to get there).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match config::parse_command_line(std::env::args_os()) {
        Ok(cli) => cli,
        Err(config::Error::Usage(e)) => e.exit(), // help/version exit 0, bad usage 2
        // A bad config file is not command-line usage: exit 1, one line naming file and key.
        Err(config::Error::File(e)) => {
            eprintln!("depot: {e}");
            return ExitCode::from(1);
        }
    };
    let is_serve = matches!(cli.command, Command::Serve(_));
    // Flushes the log when main returns; must outlive everything that logs.
    let _log = init_logging(is_serve);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("depot: {reason}");
            ExitCode::from(1)
        }
    }
}

/// Logs go to stderr through a writer thread: formatting stays on the request path, the
/// write syscalls do not, and under load lines are written in batches (measured: one write
/// per request line cost a third of the 4 KiB GET rate). Nothing is dropped: when the
/// writer falls behind, logging waits. Lines reach stderr as soon as the writer is idle.
fn init_logging(is_serve: bool) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    let default = if is_serve { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEPOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(64 << 10, std::io::stderr()));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi).init();
    guard
}

fn run(cli: Cli) -> Result<(), String> {
    let db = cli.db;
    let command = match cli.command {
        Command::Serve(args) => return serve(ServeConfig::resolve(db, &args)?),
        Command::Go(GoCommand::Zip { dir, module, version, output }) => {
            return go_zip(&dir, &module, &version, &output)
        }
        Command::Generate { what } => return generate(what),
        Command::User(UserCommand::Add { name, admin, private, .. }) => {
            admin::Command::UserAdd { name, password: read_password()?.into(), admin, private }
        }
        Command::User(UserCommand::List) => admin::Command::UserList,
        Command::User(UserCommand::Delete { name }) => admin::Command::UserDelete { name },
        Command::User(UserCommand::Passwd { name, .. }) => {
            admin::Command::UserPasswd { name, password: read_password()?.into() }
        }
        Command::Org(OrgCommand::Add { name, private }) => admin::Command::OrgAdd { name, private },
        Command::Org(OrgCommand::Member(MemberCommand::Add { org, user, role })) => {
            admin::Command::MemberAdd { org, user, role: role_of(role) }
        }
        Command::Org(OrgCommand::Member(MemberCommand::Remove { org, user })) => {
            admin::Command::MemberRemove { org, user }
        }
        Command::Token(TokenCommand::Create { user, name, scope, expires_in_days }) => {
            admin::Command::TokenCreate {
                user,
                label: name,
                write: matches!(scope, RoleArg::Write),
                expires_in_days,
            }
        }
        Command::Token(TokenCommand::List { user }) => admin::Command::TokenList { user },
        Command::Token(TokenCommand::Revoke { user, label }) => admin::Command::TokenRevoke { user, label },
        Command::Verify { repair, deep } => admin::Command::Verify { repair, deep },
        Command::Backup { file } => admin::Command::Backup { path: absolute(&file)? },
        Command::Compact { allow_pause, max_pause } => {
            admin::Command::Compact { max_pause: (!allow_pause).then_some(max_pause) }
        }
        Command::Quota(QuotaCommand::Set { owner, max_bytes, max_versions }) => {
            admin::Command::QuotaSet { owner, max_bytes: max_bytes.map(|b| b.0), max_versions }
        }
        Command::Quota(QuotaCommand::Show { owner }) => admin::Command::Usage { owner },
        Command::Blobs(BlobsCommand::Migrate {
            to,
            s3_endpoint,
            s3_bucket,
            s3_region,
            s3_access_key_id,
            s3_secret_access_key,
        }) => {
            let target = match (s3_endpoint, s3_bucket) {
                (Some(endpoint), Some(bucket)) => Some((endpoint, bucket, s3_region)),
                (None, None) => None,
                _ => return Err("--s3-endpoint and --s3-bucket go together".into()),
            };
            admin::Command::BlobsMigrate {
                to: match to {
                    BlobStore::S3 => store::MigrateTo::S3,
                    BlobStore::Local => store::MigrateTo::Local,
                },
                target,
                access_key_id: s3_access_key_id,
                secret_access_key: s3_secret_access_key.map(Into::into),
            }
        }
        Command::Rules(RulesCommand::Add {
            owner,
            kind,
            keep_count,
            keep_pattern,
            remove_days,
            remove_pattern,
            full_name,
        }) => admin::Command::RuleAdd {
            owner,
            rule: depot::cleanup::NewRule {
                enabled: true,
                kind: match kind {
                    KindArg::Generic => "generic",
                    KindArg::Go => "go",
                }
                .into(),
                keep_count,
                keep_pattern,
                remove_days,
                remove_pattern,
                match_full_name: full_name,
            },
        },
        Command::Rules(RulesCommand::List { owner }) => admin::Command::RuleList { owner },
        Command::Rules(RulesCommand::Delete { owner, id }) => admin::Command::RuleDelete { owner, id },
        Command::Rules(RulesCommand::Preview { owner, id }) => admin::Command::RulePreview { owner, id },
        Command::Rules(RulesCommand::Apply { owner, id }) => admin::Command::RuleApply { owner, id },
    };
    let summary = describe(&command);
    // Only `user add` may start a database (the first admin of a new install); a command
    // that reads or changes existing data refuses a missing file instead of creating one.
    let create =
        if matches!(command, admin::Command::UserAdd { .. }) { Create::IfMissing } else { Create::Never };
    let output = run_admin(&db, command, create)?;
    let problems = match &output {
        Output::Verified(report) => report.problems.len(),
        Output::Repaired(r) => r.after.problems.len(),
        Output::Migrated(m) => m.problems.len(),
        _ => 0,
    };
    let migrated = matches!(output, Output::Migrated(_));
    print_output(output).map_err(|e| format!("writing the output: {e}"))?;
    if problems > 0 && migrated {
        return Err(format!("{problems} blob(s) could not be moved (said above); the others were"));
    }
    if problems > 0 {
        return Err(format!("verify found {problems} problem(s)"));
    }
    if let Some(summary) = summary {
        eprintln!("depot: {summary}");
    }
    Ok(())
}

/// `path` made absolute against the current directory: a backup path may be opened by the
/// server, whose working directory is not ours.
fn absolute(path: &Path) -> Result<std::path::PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// `depot go zip`: builds the zip under a temporary name beside `output` and renames it
/// into place only when it is complete and valid.
fn go_zip(dir: &Path, module: &str, version: &str, output: &Path) -> Result<(), String> {
    let name = output.file_name().ok_or_else(|| format!("{}: not a file name", output.display()))?;
    let tmp = output.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    let file = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let built = depot::gomod::create::create(dir, module, version, std::io::BufWriter::new(file));
    let report = match built {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // The server's own check, so what this writes is exactly what an upload accepts.
    let checked = std::fs::File::open(&tmp)
        .and_then(|f| Ok((f.metadata()?.len(), f)))
        .map_err(|e| e.to_string())
        .and_then(|(len, f)| match depot::gomod::zipcheck::check(std::io::BufReader::new(f), len) {
            Ok(_) => Ok(()),
            Err(Ok(io)) => Err(format!("{}: {io}", tmp.display())),
            Err(Err(invalid)) => Err(format!("the server would refuse this zip: {invalid}")),
        });
    if let Err(e) = checked {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, output).map_err(|e| format!("{}: {e}", output.display()))?;
    for (path, why) in &report.omitted {
        eprintln!("depot: left out {path}: {why}");
    }
    eprintln!("depot: wrote {} ({module}@{version}, {} files)", output.display(), report.files.len());
    Ok(())
}

/// `depot generate`: the man page or a completion script on stdout, for packaging.
fn generate(what: GenerateKind) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(&depot::manual::render(what)).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("writing the output: {e}")),
        _ => Ok(()),
    }
}

fn role_of(role: RoleArg) -> Role {
    match role {
        RoleArg::Read => Role::Read,
        RoleArg::Write => Role::Write,
    }
}

/// The stderr confirmation for commands that print nothing on stdout.
fn describe(cmd: &admin::Command) -> Option<String> {
    use admin::Command as C;
    Some(match cmd {
        C::UserAdd { name, .. } => format!("created user {name}"),
        C::UserDelete { name } => format!("deleted user {name}"),
        C::UserPasswd { name, .. } => format!("changed the password of {name}"),
        C::OrgAdd { name, .. } => format!("created organization {name}"),
        C::MemberAdd { org, user, .. } => format!("{user} is now a member of {org}"),
        C::MemberRemove { org, user } => format!("removed {user} from {org}"),
        C::TokenRevoke { user, label } => format!("revoked token {label} of {user}"),
        C::UserList | C::TokenCreate { .. } | C::TokenList { .. } | C::Verify { .. } => return None,
        C::QuotaSet { owner, .. } => format!("set the limits of {owner}"),
        C::Backup { .. } | C::Compact { .. } | C::Usage { .. } | C::BlobsMigrate { .. } => return None,
        C::RuleAdd { owner, rule } => format!("added a cleanup rule for {owner}'s {} packages", rule.kind),
        C::RuleDelete { owner, id } => format!("deleted cleanup rule {id} of {owner}"),
        C::RuleList { .. } | C::RulePreview { .. } | C::RuleApply { .. } => return None,
    })
}

/// First line of standard input, without its line ending.
fn read_password() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| format!("reading the password: {e}"))?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(
            "no password on standard input (pipe it in: printf '%s\\n' \"$PASSWORD\" | depot …)".into()
        );
    }
    Ok(password.to_string())
}

/// Runs an admin command through the running server's control socket, or on the database
/// file directly when no server runs.
///
/// A server that is starting holds the file a moment before its socket exists, so a locked
/// file with no answering socket is retried for a short while before giving up.
fn run_admin(db: &Path, command: admin::Command, create: Create) -> Result<Output, String> {
    const ATTEMPTS: u32 = 30;
    let socket = control::socket_path(db);
    for attempt in 1..=ATTEMPTS {
        if let Some(reply) = control::send(&socket, &command, &mut |line| eprintln!("depot: {line}")) {
            return reply;
        }
        match Store::open(db, &store::Options::default(), create) {
            Ok(opened) => {
                if matches!(command, admin::Command::Verify { .. }) {
                    match opened.store.attach_recorded_objects() {
                        Ok(true) => {}
                        Ok(false) => {
                            if let Ok(Some(s)) = opened.store.recorded_object_store() {
                                eprintln!(
                                    "depot: objects in {s} not checked: set DEPOT_S3_ACCESS_KEY_ID and DEPOT_S3_SECRET_ACCESS_KEY"
                                );
                            }
                        }
                        Err(e) => eprintln!("depot: objects not checked: {e}"),
                    }
                }
                // A stopped database has no requests for a compaction to hold up.
                let command = match command {
                    admin::Command::Compact { .. } => admin::Command::Compact { max_pause: None },
                    other => other,
                };
                let result = admin::execute_with_progress(&opened.store, command, &mut |line| {
                    eprintln!("depot: {line}")
                })
                .map_err(|e| e.to_string());
                opened.store.close();
                if opened.created {
                    if result.is_ok() {
                        eprintln!("depot: created a new database {}", shown(db));
                    } else {
                        // A `user add` that failed (a bad name, say) must not leave an empty
                        // database behind, like a failed start.
                        let _ = std::fs::remove_file(db);
                    }
                }
                return result;
            }
            Err(store::Error::AlreadyOpen) if attempt < ATTEMPTS => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(store::Error::AlreadyOpen) => {
                return Err(format!(
                    "{} is in use by another process and no server answers on {}",
                    db.display(),
                    socket.display()
                ))
            }
            Err(store::Error::NoDatabase) => {
                return Err(format!(
                    "no database at {}: give its path with --db FILE (or DEPOT_DB); \
                     `depot serve` or `depot user add` creates a new one",
                    shown(db)
                ))
            }
            Err(e) => return Err(format!("{}: {e}", db.display())),
        }
    }
    unreachable!("the last attempt returns")
}

/// `path` as absolute as it can be made, for messages: "./depot.redb" does not say which
/// directory was meant.
fn shown(path: &Path) -> String {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

/// A database made by an older depot, or copied with a loose umask, may be readable by other
/// users; say so (changing modes the operator chose is theirs to do).
fn warn_if_shared(db: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(mode) = std::fs::metadata(db).map(|m| m.permissions().mode() & 0o777) {
        if mode & 0o077 != 0 {
            tracing::warn!(
                "{} has mode {mode:o}: other users can read every package and hash in it; \
                 chmod 600 it (and its backups)",
                shown(db)
            );
        }
    }
}

/// How to run this very binary from a shell: `depot` when that name on `PATH` is this
/// executable, else its full path (a binary built with cargo is not on `PATH`).
fn this_command() -> String {
    let Ok(exe) = std::env::current_exe().and_then(std::fs::canonicalize) else {
        return "depot".into();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .any(|dir| std::fs::canonicalize(dir.join("depot")).is_ok_and(|found| found == exe))
    });
    if on_path {
        "depot".into()
    } else {
        shell_quoted(&exe.display().to_string())
    }
}

/// `s` quoted for a POSIX shell when it holds anything but plain path characters.
fn shell_quoted(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn print_report(out: &mut impl Write, r: &store::Report) -> std::io::Result<()> {
    for p in &r.problems {
        writeln!(out, "problem: {p}")?;
    }
    writeln!(
        out,
        "checked {} owners, {} packages, {} versions, {} files, {} blobs, {} chunks, {} bytes; \
         {} uploads in progress; {} problems",
        r.owners,
        r.packages,
        r.versions,
        r.files,
        r.blobs,
        r.chunks,
        r.bytes,
        r.staged,
        r.problems.len()
    )
}

fn print_output(output: Output) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let result = match output {
        Output::Done => Ok(()),
        Output::Users(users) => users.iter().try_for_each(|u| {
            let role = if u.admin { "admin" } else { "user" };
            let vis = if u.private { "private" } else { "public" };
            writeln!(out, "{}\t{role}\t{vis}\t{}\t{}", u.name, u.bytes, u.versions)
        }),
        Output::Token { secret, .. } => writeln!(out, "{}", secret.expose()),
        Output::Tokens(tokens) => tokens.iter().try_for_each(|t| {
            let scope = if t.write { "write" } else { "read" };
            let expires = t.expires.map(rfc3339).unwrap_or_else(|| "never".into());
            writeln!(out, "{}\t{scope}\t{}\t{expires}", t.label, rfc3339(t.created))
        }),
        Output::Verified(r) => print_report(&mut out, &r),
        Output::Repaired(r) => {
            for a in &r.actions {
                writeln!(out, "repaired: {a}")?;
            }
            print_report(&mut out, &r.after)
        }
        Output::BackedUp(b) => {
            eprintln!("depot: wrote {} ({} files, {} blobs)", b.path.display(), b.files, b.blobs);
            if let Some(store) = &b.object_store {
                eprintln!(
                    "depot: the content of large files is in the object store {store}, not in this copy: \
                     the store keeps it (its own replication or backups)"
                );
            }
            writeln!(out, "{}\t{}", b.path.display(), b.bytes)
        }
        Output::Usage(list) => list.iter().try_for_each(|u| {
            let limit = |l: Option<u64>| l.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}",
                u.owner,
                u.usage.bytes,
                limit(u.quota.max_bytes),
                u.usage.versions,
                limit(u.quota.max_versions)
            )
        }),
        Output::Migrated(m) => {
            for p in &m.problems {
                eprintln!("depot: {p}");
            }
            if m.left > 0 {
                eprintln!("depot: {} blob(s) left where they were (still being downloaded, or stopped); run it again", m.left);
            }
            writeln!(out, "{}\t{}\t{}", m.moved, m.bytes, m.left)
        }
        Output::Compacted(c) => {
            eprintln!("depot: compacted the database from {} to {} bytes", c.before, c.after);
            writeln!(out, "{}\t{}", c.before, c.after)
        }
        Output::RuleAdded(r) => writeln!(out, "{}", r.id),
        Output::Rules(list) => list.iter().try_for_each(|r| {
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                r.id,
                r.kind,
                if r.enabled { "enabled" } else { "disabled" },
                r.keep_count,
                r.keep_pattern,
                r.remove_days,
                r.remove_pattern,
                if r.match_full_name { "full-name" } else { "version" }
            )
        }),
        Output::Removals(list) => list.iter().try_for_each(|r| writeln!(out, "{}\t{}", r.package, r.version)),
    };
    match result {
        // A closed pipe (`depot user list | head -1`) is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn serve(cfg: ServeConfig) -> Result<(), String> {
    if let Some(file) = &cfg.config {
        tracing::info!(file = %file.display(), "settings read from the config file");
    }
    // Before the database: a bad certificate should not create or lock a file first.
    let tls = match &cfg.tls {
        Some(files) => Some(Arc::new(tls::Tls::new(files.clone()).map_err(|e| e.to_string())?)),
        None => None,
    };
    // Also before the database: a port that is taken must not leave a new file behind.
    let listener = std::net::TcpListener::bind(cfg.listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("listening on {}: {e}", cfg.listen))?;
    let opened = Store::open(&cfg.db, &cfg.store, Create::IfMissing).map_err(|e| match e {
        store::Error::AlreadyOpen => format!("{} is in use by another depot", shown(&cfg.db)),
        e => format!("{}: {e}", shown(&cfg.db)),
    })?;
    let store = opened.store;
    if opened.created {
        tracing::info!("created a new database {}", shown(&cfg.db));
    }
    warn_if_shared(&cfg.db);
    if opened.reclaimed > 0 {
        tracing::info!(uploads = opened.reclaimed, "reclaimed chunks of unfinished uploads");
    }
    if opened.is_empty {
        tracing::warn!(
            "no users yet; create the first admin (choose the password) with: \
             printf '%s\\n' 'PASSWORD' | {} --db {} user add admin --admin --password-stdin",
            this_command(),
            shell_quoted(&shown(&cfg.db))
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let grace = cfg.conn.grace;
    let socket = control::socket_path(&cfg.db);
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("listening on {}: {e}", cfg.listen))?;
        let control =
            control::bind(&socket).map_err(|e| format!("control socket {}: {e}", socket.display()))?;
        // Installed before the startup line, so a SIGHUP sent once it is seen reloads.
        let reloader = match &tls {
            Some(tls) => Some(
                tls::reload_on_sighup(tls.clone())
                    .map_err(|e| format!("installing the SIGHUP handler: {e}"))?,
            ),
            None => None,
        };
        if let Some(s3) = &cfg.objects {
            let objects = store::Objects::new(s3.clone())?;
            let recovered = store.attach_objects(objects).await.map_err(|e| format!("{}: {e}", shown(&cfg.db)))?;
            tracing::info!(endpoint = %s3.endpoint, bucket = %s3.bucket, "file content goes to the object store");
            if recovered > 0 {
                tracing::info!(uploads = recovered, "objects of unfinished uploads queued for deletion");
            }
        } else {
            match store.attach_recorded_objects_for_reads(cfg.object_credentials.clone()).await {
                Ok(Some(s)) => tracing::info!(store = %s, "new content stays in the database file; content already in the object store is read there"),
                Ok(None) => {}
                // The rest keeps working; reads of that content answer 503 until it is fixed.
                Err(e) => tracing::warn!("{e}"),
            }
        }
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(db = %cfg.db.display(), "listening on {scheme}://{addr}");
        let webhooks = depot::webhook::Webhooks::new(cfg.webhook_allow_private);
        let app = App::serving(store.clone(), cfg.limits.clone(), cfg.db.clone(), tls.is_some(), webhooks);
        let deliverer = depot::webhook::spawn(app.clone());
        let control = control::spawn(control, store.clone());
        let cleanup_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cleanup =
            tokio::spawn(depot::cleanup::schedule(store.clone(), cfg.cleanup_interval, cleanup_stop.clone()));
        let acceptor = tls.as_ref().map(|tls| tls.acceptor());
        let stopping = async {
            shutdown::signal().await;
            control.stop(grace);
        };
        server::run(listener, app, cfg.conn.clone(), acceptor, stopping).await;
        // A cleanup run stops between two removals; one waiting for its next turn ends now.
        cleanup_stop.store(true, std::sync::atomic::Ordering::Relaxed);
        cleanup.abort();
        // Deliveries cut short are still in the outbox: the next start sends them.
        deliverer.abort();
        control.finished().await;
        if let Some(reloader) = reloader {
            reloader.abort();
        }
        Ok::<_, String>(())
    });
    let _ = std::fs::remove_file(&socket);
    // Ends the tasks still running after the grace period; their store handles drop with them.
    runtime.shutdown_timeout(grace);
    // Every request's line reaches the log before the process says it is done.
    server::flush_request_log();
    store.close();
    tracing::info!("database closed");
    if result.is_err() && opened.created {
        // The start failed before anything was served: take back the file this run made.
        let _ = std::fs::remove_file(&cfg.db);
    }
    result
}
