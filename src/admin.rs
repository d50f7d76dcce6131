//! Administration of users, organizations and tokens: one implementation behind the CLI
//! (run against the file directly, or sent to a running server over the control socket) and
//! the management API.
//!
//! Commands and their outputs are plain serializable data so they can cross the socket. This
//! module validates names and hashes passwords (slow: callers run it off the async workers),
//! then calls the store; it knows nothing of HTTP or of the command line's text.

use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::auth::{self, Secret};
use crate::cleanup;
use crate::clock;
use crate::names;
use crate::store::{self, OwnerKind, OwnerRec, Role, Store, TokenRec};

/// One administrative action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Command {
    UserAdd {
        name: String,
        password: Secret,
        admin: bool,
        private: bool,
    },
    UserList,
    UserDelete {
        name: String,
    },
    UserPasswd {
        name: String,
        password: Secret,
    },
    OrgAdd {
        name: String,
        private: bool,
    },
    MemberAdd {
        org: String,
        user: String,
        role: Role,
    },
    MemberRemove {
        org: String,
        user: String,
    },
    TokenCreate {
        user: String,
        label: Option<String>,
        write: bool,
        expires_in_days: Option<u64>,
    },
    TokenList {
        user: String,
    },
    TokenRevoke {
        user: String,
        label: String,
    },
    /// Check everything; with `repair`, first fix what can be fixed without losing a file.
    Verify {
        repair: bool,
        /// Also re-read and hash every object in the object store.
        #[serde(default)]
        deep: bool,
    },
    /// Write a consistent copy of the database to `path` (absolute: it is opened by the
    /// process that runs the command, possibly the server).
    Backup {
        path: std::path::PathBuf,
    },
    /// Return freed space to the file system, unless the pause it is estimated to impose
    /// on requests is longer than `max_pause` (`None`: any pause; a stopped database has no
    /// requests to hold up).
    Compact {
        #[serde(default)]
        max_pause: Option<std::time::Duration>,
    },
    /// Set (replace) an owner's limits; `None` is unlimited.
    QuotaSet {
        owner: String,
        max_bytes: Option<u64>,
        max_versions: Option<u64>,
    },
    /// Usage and limits of one owner, or of all.
    Usage {
        owner: Option<String>,
    },
    /// Move file content to the object store or back into the database file.
    BlobsMigrate {
        to: store::MigrateTo,
        /// The store, when named: (endpoint, bucket, region).
        target: Option<(String, String, String)>,
        /// Its key id and secret, for a store this process must attach.
        access_key_id: Option<String>,
        secret_access_key: Option<Secret>,
    },
    /// Add a cleanup rule for an owner; answers the stored rule.
    RuleAdd {
        owner: String,
        rule: cleanup::NewRule,
    },
    RuleList {
        owner: String,
    },
    RuleDelete {
        owner: String,
        id: u64,
    },
    /// The versions rule `id` (or every enabled rule) would remove now; removes nothing.
    RulePreview {
        owner: String,
        id: Option<u64>,
    },
    /// Remove what `RulePreview` lists.
    RuleApply {
        owner: String,
        id: Option<u64>,
    },
}

/// How long a compaction waits for reads in flight (downloads, a verify) before giving up.
pub const COMPACT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A user as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub admin: bool,
    pub private: bool,
    pub created: u64,
    /// Bytes of files and number of versions the user holds.
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub versions: u64,
}

/// A token as listed: never the secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenInfo {
    pub label: String,
    pub write: bool,
    pub created: u64,
    pub expires: Option<u64>,
}

/// What a command produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Output {
    Done,
    Users(Vec<UserInfo>),
    /// A new token: the only time its secret is shown.
    Token {
        secret: Secret,
        info: TokenInfo,
    },
    Tokens(Vec<TokenInfo>),
    Verified(store::Report),
    Repaired(store::Repaired),
    BackedUp(store::BackedUp),
    Compacted(store::Compacted),
    Usage(Vec<store::OwnerUsage>),
    Migrated(store::Migrated),
    /// A new cleanup rule, as stored.
    RuleAdded(store::RuleRec),
    Rules(Vec<store::RuleRec>),
    /// Versions a rule removes (preview) or removed (apply).
    Removals(Vec<cleanup::Removal>),
}

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    Name(names::Error),
    /// An argument is unusable, e.g. an empty password.
    Invalid(String),
    /// A user, organization, membership or token the command names does not exist; the
    /// message names it and, where there is one, the command that lists what exists.
    NotFound(String),
    /// The name is taken; the message names it and says what to do instead.
    Exists(String),
    Store(store::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Name(e) => e.fmt(f),
            Error::Invalid(why) | Error::NotFound(why) | Error::Exists(why) => f.write_str(why),
            Error::Store(e) => e.fmt(f),
        }
    }
}

/// Turns the store's bare "not found" and "exists" outcomes of `cmd` into messages that name
/// the user, organization or token concerned.
fn explain(store: &Store, cmd: &Command, e: Error) -> Error {
    use store::What;
    use Command as C;
    let no_user =
        |user: &str| Error::NotFound(format!("no user named {user:?} (`depot user list` shows the users)"));
    let Error::Store(inner) = &e else { return e };
    match (inner, cmd) {
        (store::Error::Exists(What::Owner), C::UserAdd { name, .. } | C::OrgAdd { name, .. }) => Error::Exists(
            format!("a user or organization named {name:?} already exists (users and organizations share one set of names)"),
        ),
        (store::Error::NotFound(What::Owner), C::MemberAdd { org, user, .. }) => {
            let is_org = matches!(store.owner(org), Ok(Some(OwnerRec { kind: OwnerKind::Org, .. })));
            if is_org {
                no_user(user)
            } else {
                Error::NotFound(format!("no organization named {org:?}"))
            }
        }
        (
            store::Error::NotFound(What::Owner),
            C::UserDelete { name: user }
            | C::UserPasswd { name: user, .. }
            | C::TokenCreate { user, .. }
            | C::TokenList { user }
            | C::TokenRevoke { user, .. },
        ) => no_user(user),
        (store::Error::NotFound(What::Owner), C::QuotaSet { owner, .. } | C::Usage { owner: Some(owner) }) => {
            Error::NotFound(format!("no user or organization named {owner:?}"))
        }
        (store::Error::NotFound(What::Member), C::MemberRemove { org, user }) => {
            Error::NotFound(format!("{user} is not a member of {org}"))
        }
        (store::Error::NotFound(What::Token), C::TokenRevoke { user, label }) => Error::NotFound(format!(
            "{user} has no token labelled {label:?} (`depot token list {user}` shows them)"
        )),
        (
            store::Error::NotFound(What::Owner),
            C::RuleAdd { owner, .. }
            | C::RuleList { owner }
            | C::RuleDelete { owner, .. }
            | C::RulePreview { owner, .. }
            | C::RuleApply { owner, .. },
        ) => Error::NotFound(format!("no user or organization named {owner:?}")),
        (store::Error::Exists(What::Rule), C::RuleAdd { owner, rule }) => {
            let id = store.rules(owner).ok().and_then(|r| r.into_iter().find(|r| r.kind == rule.kind)).map(|r| r.id);
            Error::Exists(format!(
                "{owner} already has a cleanup rule for {} packages (id {}); delete it first",
                rule.kind,
                id.map_or("?".into(), |i| i.to_string())
            ))
        }
        (
            store::Error::NotFound(What::Rule),
            C::RuleDelete { owner, id } | C::RulePreview { owner, id: Some(id) } | C::RuleApply { owner, id: Some(id) },
        ) => Error::NotFound(format!("{owner} has no cleanup rule {id} (`depot rules list {owner}` shows them)")),
        (store::Error::Exists(What::Token), C::TokenCreate { user, label, .. }) => Error::Exists(format!(
            "{user} already has a token labelled {:?}: choose another --name, or revoke that one first",
            label.as_deref().unwrap_or_default()
        )),
        _ => e,
    }
}

impl std::error::Error for Error {}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        Error::Store(e)
    }
}

impl From<names::Error> for Error {
    fn from(e: names::Error) -> Self {
        Error::Name(e)
    }
}

fn check_password(password: &str) -> Result<(), Error> {
    if password.is_empty() {
        return Err(Error::Invalid("the password is empty".into()));
    }
    if password.len() > 1024 {
        return Err(Error::Invalid("the password is longer than 1024 bytes".into()));
    }
    Ok(())
}

/// [`store::Error::NotFound`] of the owner when there is no owner named `owner`.
fn require_owner(store: &Store, owner: &str) -> Result<(), Error> {
    match store.owner(owner)? {
        Some(_) => Ok(()),
        None => Err(Error::Store(store::Error::NotFound(store::What::Owner))),
    }
}

fn token_info(t: TokenRec) -> TokenInfo {
    TokenInfo { label: t.label, write: t.write, created: t.created, expires: t.expires }
}

/// Runs `cmd` against `store`. Blocks (argon2, store writes).
///
/// # Errors
/// [`Error`] naming the rule or the store outcome that stopped it.
pub fn execute(store: &Store, cmd: Command) -> Result<Output, Error> {
    execute_with_progress(store, cmd, &mut |_| {})
}

/// [`execute`], telling `progress` how a long command (a backup) is getting on, one line
/// at a time.
///
/// # Errors
/// As [`execute`].
pub fn execute_with_progress(
    store: &Store,
    cmd: Command,
    progress: &mut dyn FnMut(&str),
) -> Result<Output, Error> {
    execute_cancellable(store, cmd, progress, &AtomicBool::new(false))
}

/// [`execute_with_progress`] that gives up once `cancel` is set, where a command can stop
/// without leaving anything half done: a backup deletes its partial copy, a rule apply stops between two removals. Other commands run
/// to their end.
///
/// # Errors
/// As [`execute`]; a cancelled backup fails with the reason.
pub fn execute_cancellable(
    store: &Store,
    cmd: Command,
    progress: &mut dyn FnMut(&str),
    cancel: &AtomicBool,
) -> Result<Output, Error> {
    let context = cmd.clone();
    run(store, cmd, progress, cancel).map_err(|e| explain(store, &context, e))
}

fn run(
    store: &Store,
    cmd: Command,
    progress: &mut dyn FnMut(&str),
    cancel: &AtomicBool,
) -> Result<Output, Error> {
    match cmd {
        Command::UserAdd { name, password, admin, private } => {
            names::new_owner(&name)?;
            check_password(&password)?;
            let password_hash = auth::hash_password(&password);
            let kind = OwnerKind::User { password_hash, admin };
            store.add_owner(OwnerRec { name, kind, private, created: clock::now() })?;
        }
        Command::UserList => {
            let usage: std::collections::HashMap<String, store::UsageRec> =
                store.usage(None)?.into_iter().map(|u| (names::key(&u.owner), u.usage)).collect();
            let users = store
                .owners()?
                .into_iter()
                .filter_map(|o| match o.kind {
                    OwnerKind::User { admin, .. } => {
                        let u = usage.get(&names::key(&o.name)).copied().unwrap_or_default();
                        Some(UserInfo {
                            name: o.name,
                            admin,
                            private: o.private,
                            created: o.created,
                            bytes: u.bytes,
                            versions: u.versions,
                        })
                    }
                    OwnerKind::Org => None,
                })
                .collect();
            return Ok(Output::Users(users));
        }
        Command::UserDelete { name } => store.delete_user(&name)?,
        Command::UserPasswd { name, password } => {
            check_password(&password)?;
            store.set_password(&name, auth::hash_password(&password))?;
        }
        Command::OrgAdd { name, private } => {
            names::new_owner(&name)?;
            store.add_owner(OwnerRec { name, kind: OwnerKind::Org, private, created: clock::now() })?;
        }
        Command::MemberAdd { org, user, role } => store.set_member(&org, &user, role)?,
        Command::MemberRemove { org, user } => store.remove_member(&org, &user)?,
        Command::TokenCreate { user, label, write, expires_in_days } => {
            let now = clock::now();
            let (secret, hash) = auth::new_token();
            // The default label carries a piece of the token's hash, so two tokens made in the
            // same second still get distinct labels (and the hash reveals nothing of the secret).
            let label = label.unwrap_or_else(|| format!("token-{now}-{:02x}{:02x}", hash[0], hash[1]));
            if label.is_empty() || label.len() > names::MAX_LEN || label.chars().any(char::is_control) {
                return Err(Error::Invalid(
                    "a token label is 1 to 255 bytes without control characters".into(),
                ));
            }
            let expires = match expires_in_days {
                Some(0) => return Err(Error::Invalid("--expires-in-days must be at least 1".into())),
                Some(days) => Some(now.saturating_add(days.saturating_mul(86_400))),
                None => None,
            };
            let rec = TokenRec { user: names::key(&user), label, write, created: now, expires };
            store.add_token(hash, rec.clone())?;
            return Ok(Output::Token { secret: secret.into(), info: token_info(rec) });
        }
        Command::TokenList { user } => {
            if !matches!(store.owner(&user)?, Some(OwnerRec { kind: OwnerKind::User { .. }, .. })) {
                return Err(Error::Store(store::Error::NotFound(store::What::Owner)));
            }
            return Ok(Output::Tokens(store.tokens(&user)?.into_iter().map(token_info).collect()));
        }
        Command::TokenRevoke { user, label } => store.revoke_token(&user, &label)?,
        Command::Verify { repair: false, deep } => return Ok(Output::Verified(store.verify_deep(deep)?)),
        Command::Verify { repair: true, .. } => return Ok(Output::Repaired(store.repair()?)),
        Command::Compact { max_pause } => {
            return Ok(Output::Compacted(store.compact(COMPACT_WAIT, max_pause)?))
        }
        Command::QuotaSet { owner, max_bytes, max_versions } => {
            store.set_quota(&owner, store::QuotaRec { max_bytes, max_versions })?
        }
        Command::Usage { owner } => return Ok(Output::Usage(store.usage(owner.as_deref())?)),
        Command::BlobsMigrate { to, target, access_key_id, secret_access_key } => {
            let credentials = match (access_key_id, secret_access_key) {
                (Some(id), Some(secret)) => Some((id, secret.expose().to_string())),
                _ => None,
            };
            let target = match (target, &credentials) {
                (Some((endpoint, bucket, region)), Some((id, secret))) => Some(store::S3Config {
                    endpoint,
                    bucket,
                    region,
                    access_key_id: id.clone(),
                    secret_access_key: secret.clone(),
                    ..store::S3Config::defaults()
                }),
                (Some((endpoint, bucket, region)), None) if store.object_stats().is_none() => {
                    return Err(Error::Invalid(format!(
                        "moving content to {endpoint} needs its credentials: DEPOT_S3_ACCESS_KEY_ID and DEPOT_S3_SECRET_ACCESS_KEY (bucket {bucket}, region {region})"
                    )))
                }
                // A server with the store attached uses its own credentials.
                (Some((endpoint, bucket, region)), None) => Some(store::S3Config {
                    endpoint,
                    bucket,
                    region,
                    ..store::S3Config::defaults()
                }),
                (None, _) => None,
            };
            let migrate = store.migrate_blobs(to, target, credentials, progress, cancel);
            let migrated = match tokio::runtime::Handle::try_current() {
                Ok(rt) => rt.block_on(migrate)?,
                Err(_) => tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(|e| Error::Invalid(format!("starting a runtime: {e}")))?
                    .block_on(migrate)?,
            };
            return Ok(Output::Migrated(migrated));
        }
        Command::RuleAdd { owner, rule } => {
            let rec = cleanup::check(rule).map_err(Error::Invalid)?;
            return Ok(Output::RuleAdded(store.add_rule(&owner, rec)?));
        }
        Command::RuleList { owner } => {
            require_owner(store, &owner)?;
            return Ok(Output::Rules(store.rules(&owner)?));
        }
        Command::RuleDelete { owner, id } => {
            require_owner(store, &owner)?;
            store.delete_rule(&owner, id)?;
        }
        Command::RulePreview { owner, id } => {
            require_owner(store, &owner)?;
            return Ok(Output::Removals(cleanup::removals(cleanup::preview(store, &owner, id)?)));
        }
        Command::RuleApply { owner, id } => {
            require_owner(store, &owner)?;
            return Ok(Output::Removals(cleanup::removals(cleanup::apply(store, &owner, id, cancel)?)));
        }
        Command::Backup { path } => {
            let mut last = std::time::Instant::now();
            let mut report = |done: u64, total: u64| {
                if last.elapsed() >= std::time::Duration::from_secs(1) || done >= total {
                    last = std::time::Instant::now();
                    let pct = (done * 100).checked_div(total).unwrap_or(100);
                    progress(&format!(
                        "backup: {} of {} MiB of content copied ({pct}%)",
                        done >> 20,
                        total >> 20
                    ));
                }
            };
            return Ok(Output::BackedUp(store.backup(&path, &mut report, cancel)?));
        }
    }
    Ok(Output::Done)
}
