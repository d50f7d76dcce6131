//! Who is looking at a page: the session cookie, the CSRF token of each form, and the
//! same-origin check of every POST.
//!
//! A session id is 256 random bits in an `HttpOnly; SameSite=Lax` cookie (`Secure` under
//! TLS); the store keeps only its sha256 ([`crate::store::SessionRec`]). A session's CSRF
//! token is derived from its id (sha256 of a label and the id), so it needs no storage, is
//! different for every session, and cannot be computed from anything the server stores.
//! Before sign-in there is no session: the sign-in form's token is a random value that the
//! form and a short-lived cookie must both carry.

use base64::Engine;
use hyper::header::{HeaderMap, HeaderValue, COOKIE, HOST, ORIGIN};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::auth::Principal;
use crate::store::{self, OwnerKind, SessionRec};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "depot_session";
/// The pre-sign-in CSRF cookie's name.
pub const LOGIN_COOKIE: &str = "depot_login";
/// How long a session lasts after sign-in, whatever happens.
pub const SESSION_SECS: u64 = 7 * 24 * 3600;

/// A signed-in visitor.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub who: Principal,
    /// The session id from the cookie (needed to end it and to derive the CSRF token).
    secret: String,
}

impl Viewer {
    /// The CSRF token every form of this session carries.
    pub fn csrf(&self) -> String {
        csrf_of(&self.secret)
    }

    /// The sha256 the session is stored under.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(self.secret.as_bytes()).into()
    }
}

fn csrf_of(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"depot csrf\0");
    h.update(secret.as_bytes());
    crate::http::headers::hex(&h.finalize())
}

/// 256 random bits, URL-safe base64 without padding.
pub fn random_id() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS random source is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of cookie `name` in the request, if sent once or more (the first wins).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `HttpOnly; SameSite=Lax; Path=/`, `Secure` under TLS; `max_age`
/// 0 deletes it.
pub fn set_cookie(name: &str, value: &str, max_age: u64, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&text).expect("cookie values are base64url and fixed attributes")
}

/// The signed-in visitor, if the session cookie names a live session of an existing user.
/// Blocks: one store read (and one for the user).
///
/// # Errors
/// Store errors.
pub fn viewer(app: &App, headers: &HeaderMap) -> Result<Option<Viewer>, store::Error> {
    let Some(secret) = cookie(headers, SESSION_COOKIE) else { return Ok(None) };
    let hash: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    let Some(SessionRec { user, expires, .. }) = app.store.session(&hash)? else { return Ok(None) };
    if expires <= crate::clock::now() {
        return Ok(None);
    }
    Ok(match app.store.owner(&user)? {
        Some(rec) => match rec.kind {
            OwnerKind::User { admin, .. } => Some(Viewer {
                who: Principal { name: rec.name, admin, may_write: true, by_password: true },
                secret: secret.to_string(),
            }),
            OwnerKind::Org => None,
        },
        None => None,
    })
}

/// Starts a session for `user` (a key or spelling); returns the id for the cookie. Blocks.
///
/// # Errors
/// Store errors; `NotFound` when the user went away meanwhile.
pub fn start(app: &App, user: &str) -> Result<String, store::Error> {
    let secret = random_id();
    let now = crate::clock::now();
    let rec = SessionRec { user: crate::names::key(user), created: now, expires: now + SESSION_SECS };
    app.store.add_session(Sha256::digest(secret.as_bytes()).into(), rec)?;
    Ok(secret)
}

/// Whether `sent` is the token `expected` (constant time).
pub fn token_matches(sent: Option<&str>, expected: &str) -> bool {
    sent.is_some_and(|s| s.len() == expected.len() && bool::from(s.as_bytes().ct_eq(expected.as_bytes())))
}

/// A POST is same-origin unless its `Origin` header names another origin (or the opaque
/// `null`); browsers send `Origin` on every cross-site POST, so a forged form is caught here
/// even before its token is compared.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN) else { return true };
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let origin_host =
        origin.to_str().ok().and_then(|o| o.strip_prefix("https://").or_else(|| o.strip_prefix("http://")));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_tokens() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; depot_session=abc"));
        h.append(COOKIE, HeaderValue::from_static("depot_session=zzz"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
        let t = csrf_of("abc");
        assert!(token_matches(Some(&t), &t));
        assert!(!token_matches(Some(&csrf_of("abd")), &t));
        assert!(!token_matches(None, &t));
        assert!(!token_matches(Some(""), &t));
        assert_eq!(random_id().len(), 43);
    }

    #[test]
    fn origin_must_name_this_host() {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("depot.lan:8080"));
        assert!(same_origin(&h), "no Origin: the token decides");
        h.insert(ORIGIN, HeaderValue::from_static("http://depot.lan:8080"));
        assert!(same_origin(&h));
        h.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h));
        h.insert(ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }
}
