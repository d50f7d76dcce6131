//! The control socket: how admin commands reach a running server.
//!
//! redb locks the database file, so while `depot serve` runs, `depot user add …` cannot open
//! it. The server therefore listens on a Unix socket beside the database (`FILE.sock`), mode
//! 0600 so only the file's owner (and root) can connect — and, should a connection slip in
//! before the mode is set (a permissive umask), the peer's uid is checked too: only the
//! server's own user and root are served. It runs each command it receives
//! with [`admin::execute`] — the same code the CLI runs on a stopped database. The protocol
//! is one JSON line each way: an [`admin::Command`], then `Result<Output, String>`.
//!
//! On shutdown the socket stops taking commands, and those running get the same grace period
//! as requests; then a backup is cancelled (its partial copy deleted) and anything else runs
//! to its end. Every command that started gets its reply before the database is closed, so
//! the CLI's exit status always matches what happened.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::admin::{self, Command, Output};
use crate::store::Store;

/// Longest request line accepted on the socket, in bytes.
const MAX_LINE: usize = 1 << 20;

type Reply = Result<Output, String>;

/// A line of progress the server sends before the reply of a long command.
#[derive(serde::Serialize, serde::Deserialize)]
struct Progress {
    progress: String,
}

/// The socket path for a database file.
pub fn socket_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".sock");
    PathBuf::from(s)
}

/// Binds the socket (replacing a stale one) with owner-only permissions.
///
/// The socket is bound under a temporary name, restricted, then renamed into place, so there
/// is no moment when another user could connect to it.
///
/// # Errors
/// I/O errors from binding, chmod or rename.
pub fn bind(path: &Path) -> std::io::Result<Listener> {
    let tmp = path.with_extension(format!("sock.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    // The socket belongs to the user the server runs as.
    let uid = std::fs::metadata(&tmp)?.uid();
    std::fs::rename(&tmp, path)?;
    Ok(Listener { listener, uid })
}

/// The bound control socket and the uid allowed to use it (besides root).
pub struct Listener {
    listener: UnixListener,
    uid: u32,
}

/// The control socket while the server runs: [`Running::stop`] at the shutdown signal,
/// then [`Running::finished`] before the database is closed.
pub struct Running {
    /// When commands still running are cancelled; `None` until shutdown begins.
    stop: watch::Sender<Option<Instant>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops taking commands. Those running get `grace` (the requests' grace period) to
    /// finish; then a backup is cancelled (deleting its partial copy), and other commands,
    /// which cannot stop half-way, run to their end. Every command still gets its reply, so
    /// the CLI's exit status says what happened.
    pub fn stop(&self, grace: Duration) {
        self.stop.send_replace(Some(Instant::now() + grace));
    }

    /// Waits until every command has replied (after [`Running::stop`]; at once if the task
    /// already ended), so no command holds the store when the database is closed.
    pub async fn finished(self) {
        if self.stop.borrow().is_none() {
            self.stop(Duration::ZERO);
        }
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the control socket task failed");
        }
    }
}

/// Answers commands on `control` until [`Running::stop`].
pub fn spawn(control: Listener, store: Store) -> Running {
    let (stop, stopped) = watch::channel(None);
    Running { stop, task: tokio::spawn(serve(control, store, stopped)) }
}

async fn serve(control: Listener, store: Store, mut stop: watch::Receiver<Option<Instant>>) {
    let Listener { listener, uid } = control;
    let cancel = Arc::new(AtomicBool::new(false));
    let mut running = JoinSet::new();
    let deadline = loop {
        let (stream, refusal) = tokio::select! {
            changed = stop.changed() => match (changed, *stop.borrow()) {
                (Ok(()), Some(deadline)) => break deadline,
                (Ok(()), None) => continue,
                (Err(_), _) => break Instant::now(),
            },
            Some(_) = running.join_next(), if !running.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => {
                    let refusal = match s.peer_cred() {
                        Ok(peer) if peer.uid() == uid || peer.uid() == 0 => None,
                        Ok(peer) => Some(format!(
                            "the control socket serves only uid {uid} (the server's user) and root, not uid {}",
                            peer.uid()
                        )),
                        Err(e) => Some(format!("the control socket cannot tell who is asking ({e})")),
                    };
                    if let Some(why) = &refusal {
                        tracing::warn!(reason = %why, "control socket: connection refused");
                    }
                    (s, refusal)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control socket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        running.spawn(answer(stream, refusal, store.clone(), cancel.clone()));
    };
    // No new command from here on: a client still queued sees the connection close unanswered,
    // and its command never ran.
    drop(listener);
    drop(store);
    if running.is_empty() {
        return;
    }
    tracing::info!(commands = running.len(), "shutting down: finishing admin commands");
    let all_done = async { while running.join_next().await.is_some() {} };
    if tokio::time::timeout_at(deadline.into(), all_done).await.is_err() {
        tracing::warn!(
            commands = running.len(),
            "grace period over; cancelling backups, waiting for other admin commands to end"
        );
        cancel.store(true, Ordering::Relaxed);
        while running.join_next().await.is_some() {}
    }
    tracing::info!("admin commands finished");
}

/// Reads one command from `stream`, runs it and writes its progress and reply.
async fn answer(stream: UnixStream, refusal: Option<String>, store: Store, cancel: Arc<AtomicBool>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read).take(MAX_LINE as u64);
    // A refused peer gets the reason as its reply, so the CLI prints it.
    let reply: Reply = match refusal {
        Some(why) => Err(why),
        None => match reader.read_line(&mut line).await {
            Err(e) => Err(format!("reading the command: {e}")),
            Ok(_) => match serde_json::from_str::<Command>(&line) {
                Err(e) => Err(format!("unreadable command: {e}")),
                Ok(cmd) => {
                    tracing::info!(command = command_name(&cmd), "admin command over the control socket");
                    // Progress lines go out as they come, before the reply.
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                    let run = tokio::task::spawn_blocking(move || {
                        let progress = &mut |line: &str| {
                            let _ = tx.send(line.to_string());
                        };
                        admin::execute_cancellable(&store, cmd, progress, &cancel)
                    });
                    while let Some(line) = rx.recv().await {
                        let mut out = serde_json::to_vec(&Progress { progress: line }).expect("serializes");
                        out.push(b'\n');
                        let _ = write.write_all(&out).await;
                    }
                    match run.await {
                        Ok(r) => r.map_err(|e| e.to_string()),
                        Err(e) => Err(format!("command failed: {e}")),
                    }
                }
            },
        },
    };
    let mut out = serde_json::to_vec(&reply).expect("replies always serialize");
    out.push(b'\n');
    let _ = write.write_all(&out).await;
}

/// The command's name for the log (its arguments may hold a password).
fn command_name(cmd: &Command) -> &'static str {
    match cmd {
        Command::UserAdd { .. } => "user add",
        Command::UserList => "user list",
        Command::UserDelete { .. } => "user delete",
        Command::UserPasswd { .. } => "user passwd",
        Command::OrgAdd { .. } => "org add",
        Command::MemberAdd { .. } => "org member add",
        Command::MemberRemove { .. } => "org member remove",
        Command::TokenCreate { .. } => "token create",
        Command::TokenList { .. } => "token list",
        Command::TokenRevoke { .. } => "token revoke",
        Command::Verify { repair: false, deep: false } => "verify",
        Command::Verify { repair: false, deep: true } => "verify --deep",
        Command::Verify { repair: true, .. } => "verify --repair",
        Command::Backup { .. } => "backup",
        Command::Compact { .. } => "compact",
        Command::QuotaSet { .. } => "quota set",
        Command::Usage { .. } => "quota show",
        Command::BlobsMigrate { .. } => "blobs migrate",
        Command::RuleAdd { .. } => "rules add",
        Command::RuleList { .. } => "rules list",
        Command::RuleDelete { .. } => "rules delete",
        Command::RulePreview { .. } => "rules preview",
        Command::RuleApply { .. } => "rules apply",
    }
}

/// Sends `cmd` to the server listening at `path`; progress lines it sends first go to
/// `progress`. `None` when no server answers there (no socket, or a stale one), so the
/// caller opens the database itself.
///
/// # Errors
/// The server's one-line reason when the command failed, or an I/O error mid-exchange.
pub fn send(path: &Path, cmd: &Command, progress: &mut dyn FnMut(&str)) -> Option<Reply> {
    let stream = std::os::unix::net::UnixStream::connect(path).ok()?;
    let mut exchange = || -> std::io::Result<Reply> {
        let mut line = serde_json::to_vec(cmd).expect("commands always serialize");
        line.push(b'\n');
        (&stream).write_all(&line)?;
        let mut reader = BufReader::new(&stream);
        loop {
            let mut reply = String::new();
            if reader.read_line(&mut reply)? == 0 {
                return Err(std::io::Error::other("the server closed the connection without a reply"));
            }
            if let Ok(p) = serde_json::from_str::<Progress>(&reply) {
                progress(&p.progress);
                continue;
            }
            return serde_json::from_str(&reply).map_err(std::io::Error::other);
        }
    };
    Some(exchange().unwrap_or_else(|e| Err(format!("talking to the running server: {e}"))))
}
