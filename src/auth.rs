//! Credentials and permissions (docs/api.md): parsing the four credential forms, checking
//! passwords and tokens, and the one decision of who may read or write an owner's packages.
//!
//! Parsing and [`decide`] are pure. [`Authenticator::authenticate`] reads the store and may
//! run argon2, so it blocks: callers run it off the async workers;
//! [`Authenticator::authenticate_cached`] answers a recently seen good credential from
//! memory without blocking (the store caches tokens and owners). A good password is
//! remembered (as a hash of user, password and stored hash) for [`CACHE_TTL`], so a busy
//! client does not cost an argon2 run per request; changing the password changes the stored
//! hash and so invalidates the entry. Every check first books an attempt with the
//! [`Throttle`] under the client's address and user name, so guessing is slowed (429) before
//! any argon2 run. Secrets are never logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::names;
use crate::store::{self, OwnerKind, OwnerRec, Role, Store};
use crate::throttle::{Rate, Throttle, Throttled};

/// Every token starts with this, so a token pasted as a password is recognized.
pub const TOKEN_PREFIX: &str = "depot_";
/// How long a verified password is remembered.
pub const CACHE_TTL: Duration = Duration::from_secs(600);
/// Remembered passwords at most; the cache is cleared when full (a cost, never a risk).
const CACHE_ENTRIES: usize = 4096;

/// Why a request may not go on. [`crate::http::error`] maps each to its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Credentials are needed and none were sent: 401.
    Missing,
    /// The credentials sent are wrong, expired, malformed or in the query string: 401.
    Bad,
    /// Authenticated and may read, but may not write: 403.
    Forbidden,
    /// Would be allowed to write, but the token used has `read` scope: 403.
    ReadOnlyToken,
    /// Authenticated but may not even read: 404, as if nothing were there.
    Hidden,
    /// Too many failed attempts from this address or for this user: 429, retry after this.
    Throttled(Duration),
}

/// What checking a credential decided (a store that cannot be read is an error instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The credential is good: who it speaks for and what it may do.
    Accepted(Principal),
    /// The credential is refused, for this reason.
    Refused(Denied),
}

/// A password or token in memory: its `Debug` shows no secret, so neither a stray `{:?}` nor
/// a derived `Debug` of a type holding one can put it in a log line.
#[derive(Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

impl std::ops::Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// A credential as sent by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Password {
        user: String,
        password: Secret,
    },
    /// A token; `user` is the Basic user name when the token came as a Basic password (used
    /// only when the secret turns out to be a password that merely starts like a token).
    Token {
        user: Option<String>,
        secret: Secret,
    },
}

/// A credential and the address of the client that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub credential: Credential,
    pub from: IpAddr,
}

/// Who is asking, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's name as created.
    pub name: String,
    pub admin: bool,
    /// False for a `read` token.
    pub may_write: bool,
    /// True when authenticated with the password (token management needs it).
    pub by_password: bool,
}

/// What the request wants to do with an owner's packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Parses an `Authorization` header value.
///
/// # Errors
/// [`Denied::Bad`] for a malformed or unknown scheme.
pub fn parse(value: &[u8]) -> Result<Credential, Denied> {
    let text = std::str::from_utf8(value).map_err(|_| Denied::Bad)?.trim();
    let (scheme, rest) = text.split_once(' ').ok_or(Denied::Bad)?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = base64::engine::general_purpose::STANDARD.decode(rest).map_err(|_| Denied::Bad)?;
        let raw = String::from_utf8(raw).map_err(|_| Denied::Bad)?;
        let (user, password) = raw.split_once(':').ok_or(Denied::Bad)?;
        // `x-oauth-basic` is the password GitHub-style clients send beside a token user name.
        if (password.is_empty() || password == "x-oauth-basic") && user.starts_with(TOKEN_PREFIX) {
            return Ok(Credential::Token { user: None, secret: user.into() });
        }
        if user.is_empty() {
            return Err(Denied::Bad);
        }
        if password.starts_with(TOKEN_PREFIX) {
            return Ok(Credential::Token { user: Some(user.to_string()), secret: password.into() });
        }
        Ok(Credential::Password { user: user.to_string(), password: password.into() })
    } else if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() || rest.contains(' ') {
            return Err(Denied::Bad);
        }
        Ok(Credential::Token { user: None, secret: rest.into() })
    } else {
        Err(Denied::Bad)
    }
}

/// Whether a query string carries a token (`token=` or `access_token=`), which is refused:
/// URLs end up in logs and shell histories.
pub fn query_has_token(query: &str) -> bool {
    query.split('&').any(|pair| {
        let name = pair.split('=').next().unwrap_or("");
        name.eq_ignore_ascii_case("token") || name.eq_ignore_ascii_case("access_token")
    })
}

/// The permission rule of docs/api.md. `owner` is `None` when no such owner exists; `role` is
/// the principal's membership when the owner is an organization.
///
/// # Errors
/// The [`Denied`] that answers the request.
pub fn decide(
    who: Option<&Principal>,
    owner: Option<&OwnerRec>,
    role: Option<Role>,
    access: Access,
) -> Result<(), Denied> {
    let Some(owner) = owner else {
        return Err(match (who, access) {
            (None, Access::Write) => Denied::Missing,
            _ => Denied::Hidden,
        });
    };
    let is_self = who.is_some_and(|p| names::key(&p.name) == names::key(&owner.name));
    let is_admin = who.is_some_and(|p| p.admin);
    let may_read = !owner.private || is_self || is_admin || role.is_some();
    match access {
        Access::Read if may_read => Ok(()),
        Access::Read if who.is_none() => Err(Denied::Missing),
        Access::Read => Err(Denied::Hidden),
        Access::Write => {
            let Some(p) = who else {
                return Err(Denied::Missing);
            };
            if !may_read {
                return Err(Denied::Hidden);
            }
            let owner_side = is_self || is_admin || role == Some(Role::Write);
            match (owner_side, p.may_write) {
                (true, true) => Ok(()),
                (true, false) => Err(Denied::ReadOnlyToken),
                (false, _) => Err(Denied::Forbidden),
            }
        }
    }
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("the OS random source is available");
    let salt = SaltString::encode_b64(&bytes).expect("16 bytes is a valid salt length");
    ARGON2_GATE.run(|| {
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .expect("argon2 with default parameters and a generated salt cannot fail")
            .to_string()
    })
}

/// argon2 runs allowed at once. Each takes ~19 MiB and a core for tens of milliseconds, so
/// an unthrottled flood of wrong passwords would exhaust memory; queued checks wait instead.
const ARGON2_PARALLEL: usize = 2;

/// A counting gate for argon2 runs (the callers are blocking threads, so it blocks).
struct Gate {
    free: Mutex<usize>,
    freed: Condvar,
}

static ARGON2_GATE: Gate = Gate { free: Mutex::new(ARGON2_PARALLEL), freed: Condvar::new() };

impl Gate {
    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        drop(free);
        let out = f();
        *self.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.freed.notify_one();
        out
    }
}

fn verify_password(password: &str, phc: &str) -> bool {
    ARGON2_GATE.run(|| verify_unthrottled(password, phc))
}

fn verify_unthrottled(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default().verify_password(password.as_bytes(), &hash).is_ok(),
        Err(_) => false,
    }
}

/// A new token secret (256 random bits) and the sha256 under which it is stored.
pub fn new_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS random source is available");
    let secret = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
    let hash = token_hash(&secret);
    (secret, hash)
}

/// The stored form of a token secret.
pub fn token_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Checks credentials against the store; shared by every connection.
pub struct Authenticator {
    store: Store,
    /// sha256(user key, password, stored hash) → when it was verified.
    good: Mutex<HashMap<[u8; 32], Instant>>,
    /// Held while a fingerprint is verified, so that many connections arriving at once with
    /// the same credential (a CI fan-out) cost one argon2 run, not one each.
    verifying: [Mutex<()>; 16],
    throttle: Throttle,
}

impl Authenticator {
    /// `per_address` budgets failures per client address; a user name gets twice the burst
    /// and refills twice as fast, so one address alone can never spend it (see
    /// [`crate::throttle`]).
    pub fn new(store: Store, per_address: Rate) -> Self {
        let per_user =
            Rate { burst: per_address.burst.saturating_mul(2), interval: per_address.interval / 2 };
        Authenticator {
            store,
            good: Mutex::new(HashMap::new()),
            verifying: Default::default(),
            throttle: Throttle::new(per_address, per_user),
        }
    }

    /// Checks a credential. Blocks (store reads, argon2 on a cache miss).
    ///
    /// Guessing is throttled per client address and per user name: a password check is booked
    /// with the [`Throttle`] before argon2 runs (parallel guesses cannot slip past the count),
    /// and a failed token costs its address. A good token always passes, throttled or not: a
    /// 256-bit secret cannot be guessed, and CI runners behind one address must not suffer for
    /// a neighbour's typos.
    ///
    /// Refused with [`Denied::Throttled`] when the address or user has failed too often
    /// lately, with [`Denied::Bad`] for an unknown user, wrong password, unknown, revoked or
    /// expired token.
    ///
    /// # Errors
    /// Store errors.
    pub fn authenticate(&self, presented: &Presented) -> Result<Verdict, store::Error> {
        let from = presented.from;
        match &presented.credential {
            Credential::Password { user, password } => self.check_password(user, password, from),
            Credential::Token { user, secret } => match self.check_token(secret)? {
                Some(Verdict::Refused(denied)) => Ok(Verdict::Refused(self.token_failed(from, denied))),
                Some(accepted) => Ok(accepted),
                // A password that merely starts like a token.
                None => match user {
                    Some(u) => self.check_password(u, secret, from),
                    None => Ok(Verdict::Refused(self.token_failed(from, Denied::Bad))),
                },
            },
        }
    }

    /// The verdict on a token: refused when expired or its user deleted; `None` when no
    /// token has this secret.
    fn check_token(&self, secret: &str) -> Result<Option<Verdict>, store::Error> {
        let Some(tok) = self.store.token(&token_hash(secret))? else { return Ok(None) };
        if tok.expires.is_some_and(|t| t <= crate::clock::now()) {
            return Ok(Some(Verdict::Refused(Denied::Bad)));
        }
        // The Basic user name beside a token is not checked (as in Gitea): CI systems often
        // put a fixed name there. The token alone says who it acts for.
        Ok(Some(match self.store.owner(&tok.user)? {
            Some(OwnerRec { name, kind: OwnerKind::User { admin, .. }, .. }) => {
                Verdict::Accepted(Principal { name, admin, may_write: tok.write, by_password: false })
            }
            _ => Verdict::Refused(Denied::Bad),
        }))
    }

    /// Counts a failed token against its address: `denied`, or 429 once the address has
    /// failed too often.
    fn token_failed(&self, from: IpAddr, denied: Denied) -> Denied {
        match self.throttle.attempt(from, None, Instant::now()) {
            Ok(booking) => {
                self.throttle.failed(booking);
                denied
            }
            Err(t) => Denied::Throttled(t.retry_after),
        }
    }

    /// Checks a credential from memory alone: `Some` when the answer needs no store read and
    /// no argon2 run (a password verified recently or a token read recently, its user
    /// cached), `None` otherwise. Never blocks, so hot requests skip the blocking pool.
    ///
    /// Memory only ever accepts; every refusal is left to [`Authenticator::authenticate`],
    /// which counts it. A throttled client gets `None` for a password: memory must not answer
    /// what a checked attempt would refuse, or a remembered password would let guesses
    /// through. A good token passes throttled or not, as there. A token's expiry is checked on
    /// every use, from the cached record. The store's cache forgets tokens, owners and
    /// memberships at every commit that could change them, so a revoked token, a deleted user
    /// or a changed password is never answered from memory.
    pub fn authenticate_cached(&self, presented: &Presented) -> Option<Principal> {
        match &presented.credential {
            Credential::Password { user, password } => self.password_cached(user, password, presented.from),
            Credential::Token { secret, .. } => self.token_cached(secret),
        }
    }

    fn token_cached(&self, secret: &str) -> Option<Principal> {
        let tok = self.store.cached_token(&token_hash(secret))?;
        if tok.expires.is_some_and(|t| t <= crate::clock::now()) {
            return None;
        }
        match self.store.cached_owner(&tok.user)?? {
            OwnerRec { name, kind: OwnerKind::User { admin, .. }, .. } => {
                Some(Principal { name, admin, may_write: tok.write, by_password: false })
            }
            _ => None,
        }
    }

    fn password_cached(&self, user: &str, password: &str, from: IpAddr) -> Option<Principal> {
        if !self.throttle.is_clear(from, Some(&names::key(user)), Instant::now()) {
            return None;
        }
        let Some(OwnerRec { name, kind: OwnerKind::User { password_hash, admin }, .. }) =
            self.store.cached_owner(user)?
        else {
            return None;
        };
        let fingerprint = fingerprint(user, password, &password_hash);
        self.is_remembered(&fingerprint).then_some(Principal {
            name,
            admin,
            may_write: true,
            by_password: true,
        })
    }

    fn check_password(&self, user: &str, password: &str, from: IpAddr) -> Result<Verdict, store::Error> {
        let key = names::key(user);
        let throttled = |t: Throttled| Ok(Verdict::Refused(Denied::Throttled(t.retry_after)));
        let rec = self.store.owner(user)?;
        let Some(OwnerRec { name, kind: OwnerKind::User { password_hash, admin }, .. }) = rec else {
            // A name no account could have is not tracked (it would only fill the table); the
            // address pays.
            let user_key = names::owner(user).is_ok().then_some(key.as_str());
            let booking = match self.throttle.attempt(from, user_key, Instant::now()) {
                Ok(b) => b,
                Err(t) => return throttled(t),
            };
            // Same cost as a real check, so response time does not reveal which names exist.
            verify_password(password, dummy_hash());
            self.throttle.failed(booking);
            return Ok(Verdict::Refused(Denied::Bad));
        };
        let principal = Principal { name, admin, may_write: true, by_password: true };
        let fingerprint = fingerprint(user, password, &password_hash);
        let known_good =
            || self.is_remembered(&fingerprint) && self.throttle.is_clear(from, Some(&key), Instant::now());
        if known_good() {
            return Ok(Verdict::Accepted(principal));
        }
        // Many connections arriving at once with one credential (a CI fan-out, `go mod
        // download`) wait here for the first one's check, then find it remembered: one argon2
        // run and one booked attempt, not one each.
        let _one_at_a_time =
            self.verifying[usize::from(fingerprint[0]) % 16].lock().unwrap_or_else(|p| p.into_inner());
        if known_good() {
            return Ok(Verdict::Accepted(principal));
        }
        let booking = match self.throttle.attempt(from, Some(&key), Instant::now()) {
            Ok(b) => b,
            Err(t) => return throttled(t),
        };
        if verify_password(password, &password_hash) {
            self.remember(fingerprint);
            self.throttle.succeeded(booking, Instant::now());
            Ok(Verdict::Accepted(principal))
        } else {
            self.throttle.failed(booking);
            Ok(Verdict::Refused(Denied::Bad))
        }
    }

    fn is_remembered(&self, fingerprint: &[u8; 32]) -> bool {
        let good = self.good.lock().unwrap_or_else(|p| p.into_inner());
        // Map lookup is by hash; the final comparison is constant-time anyway.
        good.get_key_value(fingerprint)
            .is_some_and(|(k, at)| bool::from(k.ct_eq(fingerprint)) && at.elapsed() < CACHE_TTL)
    }

    fn remember(&self, fingerprint: [u8; 32]) {
        let mut good = self.good.lock().unwrap_or_else(|p| p.into_inner());
        if good.len() >= CACHE_ENTRIES {
            good.clear();
        }
        good.insert(fingerprint, Instant::now());
    }
}

/// What a verified password is remembered by: it changes when the stored hash changes.
fn fingerprint(user: &str, password: &str, password_hash: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [names::key(user).as_bytes(), password.as_bytes(), password_hash.as_bytes()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    fn basic(s: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(s)).into_bytes()
    }

    #[test]
    fn four_credential_forms() {
        assert_eq!(
            parse(&basic("alice:pw")),
            Ok(Credential::Password { user: "alice".into(), password: "pw".into() })
        );
        assert_eq!(
            parse(&basic("alice:depot_x")),
            Ok(Credential::Token { user: Some("alice".into()), secret: "depot_x".into() })
        );
        assert_eq!(parse(&basic("depot_x:")), Ok(Credential::Token { user: None, secret: "depot_x".into() }));
        assert_eq!(parse(b"token depot_x"), Ok(Credential::Token { user: None, secret: "depot_x".into() }));
        assert_eq!(parse(b"Bearer depot_x"), Ok(Credential::Token { user: None, secret: "depot_x".into() }));
    }

    #[test]
    fn malformed_headers_are_bad() {
        for h in [&b"Basic"[..], b"Basic !!!", b"Digest x", b"Bearer ", b"", b"\xff\xfe"] {
            assert_eq!(parse(h), Err(Denied::Bad), "{h:?}");
        }
        assert_eq!(parse(&basic("nocolon")), Err(Denied::Bad));
        assert_eq!(parse(&basic(":pw")), Err(Denied::Bad));
    }

    #[test]
    fn query_tokens_are_detected() {
        assert!(query_has_token("token=abc"));
        assert!(query_has_token("a=1&access_token=x"));
        assert!(!query_has_token("type=generic&q=token"));
    }

    fn owner(name: &str, private: bool, org: bool) -> OwnerRec {
        let kind =
            if org { OwnerKind::Org } else { OwnerKind::User { password_hash: String::new(), admin: false } };
        OwnerRec { name: name.into(), kind, private, created: 0 }
    }

    fn who(name: &str, admin: bool, may_write: bool) -> Principal {
        Principal { name: name.into(), admin, may_write, by_password: true }
    }

    #[test]
    fn permission_rules() {
        use Access::*;
        let public = owner("alice", false, false);
        let private = owner("alice", true, false);
        let bob = who("bob", false, true);
        let alice = who("Alice", false, true);
        let alice_read = who("alice", false, false);
        let admin = who("root", true, true);
        // Public read needs nothing; any write needs credentials.
        assert_eq!(decide(None, Some(&public), None, Read), Ok(()));
        assert_eq!(decide(None, Some(&public), None, Write), Err(Denied::Missing));
        assert_eq!(decide(None, Some(&private), None, Read), Err(Denied::Missing));
        // Others: 403 where they can read, 404 where they cannot.
        assert_eq!(decide(Some(&bob), Some(&public), None, Write), Err(Denied::Forbidden));
        assert_eq!(decide(Some(&bob), Some(&private), None, Read), Err(Denied::Hidden));
        assert_eq!(decide(Some(&bob), Some(&private), None, Write), Err(Denied::Hidden));
        // The owner itself (any case), a read token, admins.
        assert_eq!(decide(Some(&alice), Some(&private), None, Write), Ok(()));
        assert_eq!(decide(Some(&alice_read), Some(&private), None, Read), Ok(()));
        assert_eq!(decide(Some(&alice_read), Some(&private), None, Write), Err(Denied::ReadOnlyToken));
        assert_eq!(decide(Some(&admin), Some(&private), None, Write), Ok(()));
        // Organization members.
        let org = owner("team", true, true);
        assert_eq!(decide(Some(&bob), Some(&org), Some(Role::Read), Read), Ok(()));
        assert_eq!(decide(Some(&bob), Some(&org), Some(Role::Read), Write), Err(Denied::Forbidden));
        assert_eq!(decide(Some(&bob), Some(&org), Some(Role::Write), Write), Ok(()));
        // Unknown owners.
        assert_eq!(decide(None, None, None, Read), Err(Denied::Hidden));
        assert_eq!(decide(None, None, None, Write), Err(Denied::Missing));
        assert_eq!(decide(Some(&bob), None, None, Write), Err(Denied::Hidden));
    }

    #[test]
    fn tokens_are_256_bit_and_hashed() {
        let (secret, hash) = new_token();
        assert!(secret.starts_with(TOKEN_PREFIX));
        assert_eq!(secret.len(), TOKEN_PREFIX.len() + 43);
        assert_eq!(token_hash(&secret), hash);
        assert_ne!(new_token().0, secret);
    }

    #[test]
    fn passwords_hash_with_argon2id() {
        let h = hash_password("s3cret");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3cre", &h));
    }

    #[test]
    fn an_expired_token_is_refused_and_a_live_one_accepted() {
        let store = Store::open_backend(redb::backends::InMemoryBackend::new(), &store::Options::default())
            .unwrap()
            .store;
        let kind = OwnerKind::User { password_hash: hash_password("pw"), admin: false };
        store.add_owner(OwnerRec { name: "alice".into(), kind, private: false, created: 0 }).unwrap();
        let now = crate::clock::now();
        let auth = Authenticator::new(store.clone(), Rate { burst: 10, interval: Duration::from_secs(1) });
        let from = IpAddr::from([127, 0, 0, 1]);
        for (label, expires, ok) in
            [("old", Some(now - 1), false), ("live", Some(now + 3600), true), ("forever", None, true)]
        {
            let (secret, hash) = new_token();
            let rec = store::TokenRec {
                user: "alice".into(),
                label: label.into(),
                write: true,
                created: 0,
                expires,
            };
            store.add_token(hash, rec).unwrap();
            let presented =
                Presented { credential: Credential::Token { user: None, secret: secret.into() }, from };
            let outcome = auth.authenticate(&presented).unwrap();
            assert_eq!(matches!(outcome, Verdict::Accepted(_)), ok, "{label}: {outcome:?}");
            if !ok {
                assert_eq!(outcome, Verdict::Refused(Denied::Bad));
            }
        }
    }

    #[test]
    fn a_token_answered_from_memory_is_refused_from_the_second_it_expires() {
        let store = Store::open_backend(redb::backends::InMemoryBackend::new(), &store::Options::default())
            .unwrap()
            .store;
        let kind = OwnerKind::User { password_hash: String::new(), admin: false };
        store.add_owner(OwnerRec { name: "alice".into(), kind, private: false, created: 0 }).unwrap();
        let auth = Authenticator::new(store.clone(), Rate { burst: 10, interval: Duration::from_secs(1) });
        let (secret, hash) = new_token();
        let expires = crate::clock::now() + 2;
        let rec = store::TokenRec {
            user: "alice".into(),
            label: "ci".into(),
            write: false,
            created: 0,
            expires: Some(expires),
        };
        store.add_token(hash, rec).unwrap();
        let presented = Presented {
            credential: Credential::Token { user: None, secret: secret.into() },
            from: IpAddr::from([127, 0, 0, 1]),
        };
        assert!(auth.authenticate_cached(&presented).is_none(), "not seen yet");
        assert!(matches!(auth.authenticate(&presented).unwrap(), Verdict::Accepted(_)));
        let remembered = auth.authenticate_cached(&presented).expect("answered from memory once seen");
        assert_eq!((remembered.name.as_str(), remembered.may_write), ("alice", false));
        while crate::clock::now() < expires {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            auth.authenticate_cached(&presented).is_none(),
            "an expired token is not answered from memory"
        );
        assert_eq!(auth.authenticate(&presented).unwrap(), Verdict::Refused(Denied::Bad));
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let cred = parse(&basic("alice:hunter2-secret")).unwrap();
        let token = parse(b"Bearer depot_abcdef-secret").unwrap();
        let shown = format!(
            "{cred:?} {token:?} {:?}",
            Presented { credential: cred.clone(), from: [0, 0, 0, 0].into() }
        );
        assert!(!shown.contains("hunter2") && !shown.contains("abcdef"), "{shown}");
        assert!(shown.contains("alice"), "{shown}");
    }
}
