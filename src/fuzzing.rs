//! Fuzz target bodies: one function per family of parsers that read untrusted input, each
//! asserting properties that must hold for every input (round trips, two code paths that
//! agree, results within their documented bounds), so the fuzzer finds logic bugs as well
//! as panics.
//!
//! The cargo-fuzz crate in `fuzz/` only calls these functions, and `cargo test` replays the
//! committed corpus (`fuzz/corpus/<target>/`) and crash reproducers (`fuzz/regressions/
//! <target>/`) through them, so a property is written once and checked by both. A target
//! must never do I/O or keep state between calls; a failed property is a panic.

use std::fmt::Debug;
use std::io::{Cursor, Write};

use base64::Engine;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::api::goproxy::Want;
use crate::auth::{self, Credential, TOKEN_PREFIX};
use crate::gomod::{path, semver, zipcheck};
use crate::http::headers::{self, Range};
use crate::http::router::{self, NoRoute, Route};
use crate::store::codec;
use crate::store::records::{
    BlobRec, Creator, FileRec, OwnerKind, OwnerRec, PackageRec, QuotaRec, Record, Seqs, TokenRec, UsageRec,
    VersionRec,
};
use crate::{clock, names};

/// A target body: takes libFuzzer's input, panics when a property fails.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("router_path", router_path),
    ("names", names),
    ("credentials", credentials),
    ("http_headers", http_headers),
    ("digest_headers", digest_headers),
    ("records", records),
    ("go_zip", go_zip),
    ("go_path", go_path),
];

/// Splits fuzz input into fields: a byte, a little-endian integer, a length-prefixed string.
/// Running out of input yields zeros and empty strings, so every input builds a value.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    fn u64(&mut self) -> u64 {
        let mut le = [0u8; 8];
        let head = self.take(8);
        le[..head.len()].copy_from_slice(head);
        u64::from_le_bytes(le)
    }

    fn bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.byte());
        self.take(n)
    }

    fn string(&mut self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }

    fn rest(self) -> &'a [u8] {
        self.0
    }
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

// ---------------------------------------------------------------------------------------------
// router_path

fn seg(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// The canonical request path of a route: every name percent-encoded as one segment (a Go
/// module path too, its slashes as `%2F`, which the router joins back the same way).
pub fn path_of(route: &Route) -> String {
    let p = |parts: &[&str]| format!("/{}", parts.join("/"));
    match route {
        Route::Health => "/healthz".into(),
        Route::Metrics => "/metrics".into(),
        Route::GenericFile { owner, package, version, file } => {
            p(&["api", "packages", &seg(owner), "generic", &seg(package), &seg(version), &seg(file)])
        }
        Route::GenericVersion { owner, package, version } => {
            p(&["api", "packages", &seg(owner), "generic", &seg(package), &seg(version)])
        }
        Route::GenericLatest { owner, package, file } => {
            p(&["api", "packages", &seg(owner), "generic", &seg(package), "-", "latest", &seg(file)])
        }
        Route::Rules { owner } => p(&["api", "v1", "packages", &seg(owner), "-", "rules"]),
        Route::Rule { owner, id } => p(&["api", "v1", "packages", &seg(owner), "-", "rules", &seg(id)]),
        Route::RulePreview { owner, id } => {
            p(&["api", "v1", "packages", &seg(owner), "-", "rules", &seg(id), "preview"])
        }
        Route::BySha256 { owner, hex } => {
            p(&["api", "v1", "packages", &seg(owner), "-", "sha256", &seg(hex)])
        }
        Route::GoUpload { owner } => p(&["api", "packages", &seg(owner), "go", "upload"]),
        Route::Go { owner, module, want } => {
            let file = |v: &str, ext: &str| seg(&format!("{v}.{ext}"));
            let tail = match want {
                Want::List => "@v/list".to_string(),
                Want::Latest => "@latest".to_string(),
                Want::Info(v) => format!("@v/{}", file(v, "info")),
                Want::Mod(v) => format!("@v/{}", file(v, "mod")),
                Want::Zip(v) => format!("@v/{}", file(v, "zip")),
            };
            p(&["api", "packages", &seg(owner), "go", &seg(module), &tail])
        }
        Route::GoSumdb => "/api/packages/o/go/sumdb/lookup".into(),
        Route::Packages { owner } => p(&["api", "v1", "packages", &seg(owner)]),
        Route::Package { owner, kind, name } => {
            p(&["api", "v1", "packages", &seg(owner), kind.as_str(), &seg(name)])
        }
        Route::Latest { owner, kind, name } => {
            p(&["api", "v1", "packages", &seg(owner), kind.as_str(), &seg(name), "-", "latest"])
        }
        Route::Version { owner, kind, name, version } => {
            p(&["api", "v1", "packages", &seg(owner), kind.as_str(), &seg(name), &seg(version)])
        }
        Route::Files { owner, kind, name, version } => {
            p(&["api", "v1", "packages", &seg(owner), kind.as_str(), &seg(name), &seg(version), "files"])
        }
        Route::Users => "/api/v1/admin/users".into(),
        Route::User { name } => p(&["api", "v1", "admin", "users", &seg(name)]),
        Route::Quotas => "/api/v1/admin/quotas".into(),
        Route::Quota { owner } => p(&["api", "v1", "admin", "quotas", &seg(owner)]),
        Route::Orgs => "/api/v1/orgs".into(),
        Route::Member { org, user } => p(&["api", "v1", "orgs", &seg(org), "members", &seg(user)]),
        Route::Tokens { user } => p(&["api", "v1", "users", &seg(user), "tokens"]),
        Route::Token { user, label } => p(&["api", "v1", "users", &seg(user), "tokens", &seg(label)]),
        Route::Hooks { owner } => p(&["api", "v1", "packages", &seg(owner), "-", "hooks"]),
        Route::Hook { owner, id } => p(&["api", "v1", "packages", &seg(owner), "-", "hooks", &seg(id)]),
        Route::HookDeliveries { owner, id } => {
            p(&["api", "v1", "packages", &seg(owner), "-", "hooks", &seg(id), "deliveries"])
        }
        Route::Redeliver { owner, id, delivery } => p(&[
            "api",
            "v1",
            "packages",
            &seg(owner),
            "-",
            "hooks",
            &seg(id),
            "deliveries",
            &seg(delivery),
            "redeliver",
        ]),
        Route::Web(page) => {
            use crate::web::Page;
            match page {
                Page::Explore => "/".into(),
                Page::Owner { owner } => p(&[&seg(owner), "-", "packages"]),
                Page::Package { owner, kind, name } => {
                    p(&[&seg(owner), "-", "packages", kind.as_str(), &seg(name)])
                }
                Page::Version { owner, kind, name, version } => {
                    p(&[&seg(owner), "-", "packages", kind.as_str(), &seg(name), &seg(version)])
                }
                Page::Delete { owner, kind, name, version } => p(&[
                    &seg(owner),
                    "-",
                    "packages",
                    kind.as_str(),
                    &seg(name),
                    &seg(version),
                    "-",
                    "delete",
                ]),
                Page::Rules { owner } => p(&[&seg(owner), "-", "settings", "packages", "rules"]),
                Page::RuleDelete { owner, id } => {
                    p(&[&seg(owner), "-", "settings", "packages", "rules", &seg(id), "delete"])
                }
                Page::RulePreview { owner, id } => {
                    p(&[&seg(owner), "-", "settings", "packages", "rules", &seg(id), "preview"])
                }
                Page::Login => "/user/login".into(),
                Page::Logout => "/user/logout".into(),
                Page::Tokens => "/user/settings/applications".into(),
                Page::Asset { path } => path.clone(),
            }
        }
    }
}

/// A route built from fuzz fields: any strings in any variant.
fn route_from(f: &mut Fields) -> Route {
    let kind = if f.byte().is_multiple_of(2) {
        crate::store::PackageType::Generic
    } else {
        crate::store::PackageType::Go
    };
    match f.byte() % 36 {
        0 => Route::Health,
        1 => Route::Metrics,
        2 => Route::GenericFile {
            owner: f.string(),
            package: f.string(),
            version: f.string(),
            file: f.string(),
        },
        3 => Route::GenericVersion { owner: f.string(), package: f.string(), version: f.string() },
        4 => Route::GoUpload { owner: f.string() },
        5 => {
            let owner = f.string();
            let module = f.string();
            let want = match f.byte() % 5 {
                0 => Want::List,
                1 => Want::Latest,
                2 => Want::Info(f.string()),
                3 => Want::Mod(f.string()),
                _ => Want::Zip(f.string()),
            };
            Route::Go { owner, module, want }
        }
        6 => Route::GoSumdb,
        7 => Route::Packages { owner: f.string() },
        8 => Route::Package { owner: f.string(), kind, name: f.string() },
        9 => Route::Latest { owner: f.string(), kind, name: f.string() },
        10 => Route::Version { owner: f.string(), kind, name: f.string(), version: f.string() },
        11 => Route::Files { owner: f.string(), kind, name: f.string(), version: f.string() },
        12 => Route::Users,
        13 => Route::User { name: f.string() },
        14 => Route::Quotas,
        15 => Route::Quota { owner: f.string() },
        16 => Route::Orgs,
        17 => Route::Member { org: f.string(), user: f.string() },
        18 => Route::Tokens { user: f.string() },
        19 => Route::Token { user: f.string(), label: f.string() },
        22 => Route::Web(crate::web::Page::Owner { owner: f.string() }),
        23 => Route::Web(crate::web::Page::Package { owner: f.string(), kind, name: f.string() }),
        24 => Route::Web(crate::web::Page::Version {
            owner: f.string(),
            kind,
            name: f.string(),
            version: f.string(),
        }),
        25 => Route::Web(crate::web::Page::Delete {
            owner: f.string(),
            kind,
            name: f.string(),
            version: f.string(),
        }),
        26 => Route::Web(crate::web::Page::Explore),
        27 => Route::Hooks { owner: f.string() },
        28 => Route::Hook { owner: f.string(), id: f.string() },
        29 => Route::HookDeliveries { owner: f.string(), id: f.string() },
        30 => Route::Redeliver { owner: f.string(), id: f.string(), delivery: f.string() },
        31 => Route::GenericLatest { owner: f.string(), package: f.string(), file: f.string() },
        32 => Route::Rules { owner: f.string() },
        33 => Route::Rule { owner: f.string(), id: f.string() },
        34 => Route::RulePreview { owner: f.string(), id: f.string() },
        35 => Route::BySha256 { owner: f.string(), hex: f.string() },
        // What the go command requests: module path and version case-encoded, slashes kept.
        _ => {
            let owner = f.string();
            let module = f.string();
            let version = f.string();
            if names::owner(&owner).is_ok()
                && path::check_module_path(&module).is_ok()
                && semver::parse(&version).is_ok()
            {
                let (m, v) = (path::escape(&module), path::escape(&version));
                let url = format!("/api/packages/{owner}/go/{m}/@v/{v}.zip");
                let want = Want::Zip(v.clone());
                assert_eq!(router::parse(&url), Ok(Route::Go { owner, module: m, want }), "{url}");
            }
            Route::Health
        }
    }
}

/// Request paths. Raw input (first byte even): a path that is not `/…` has no route; a
/// segment that is not percent-encoded UTF-8 is `BadEncoding` and nothing else is; a routed
/// path's canonical form ([`path_of`]) routes to the same route. Built input (odd): every
/// route with any names round-trips through its canonical path, except the two Go module
/// paths the router cannot express (one starting with `@`, and `sumdb`), neither valid; and
/// the URL the go command builds for a valid module and version routes to that module.
pub fn router_path(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        let path = text(rest);
        let got = router::parse(&path);
        let bad_segment = path.strip_prefix('/').is_some_and(|p| {
            p.split('/').any(|s| percent_encoding::percent_decode_str(s).decode_utf8().is_err())
        });
        match &got {
            Err(NoRoute::BadEncoding) => assert!(bad_segment, "{path:?}"),
            Err(NoRoute::Unknown) => assert!(!bad_segment, "{path:?}"),
            Ok(route) => {
                assert!(path.starts_with('/') && !bad_segment, "{path:?}");
                assert!(!route.name().is_empty());
                let canonical = path_of(route);
                assert_eq!(router::parse(&canonical).as_ref(), Ok(route), "{path:?} -> {canonical:?}");
            }
        }
    } else {
        let route = route_from(&mut Fields(rest));
        if let Route::Go { module, .. } = &route {
            if module.starts_with('@') || module == "sumdb" {
                return;
            }
        }
        let p = path_of(&route);
        assert_eq!(router::parse(&p), Ok(route), "{p:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// names

fn error_kind(e: &names::Error) -> names::Kind {
    use names::Error::*;
    match *e {
        Empty(k) | TooLong(k) | BadChar(k, _) | Dots(k) | ShortName(k) | Space(k) | BadStart(k) => k,
        Reserved(_) => names::Kind::Owner,
    }
}

/// Name rules. An accepted name of any kind is 1..=255 bytes, not `.`/`..`, without `/` or
/// control characters. The kinds nest: a valid owner is a valid package name, a package name
/// a valid file name, a file name a valid version. The case-folded key is idempotent, keeps
/// the length, and a name is valid exactly when its key is; two names share a key exactly
/// when they are equal ignoring ASCII case. Each error names its own kind, and a `BadChar`
/// names a character of the input.
pub fn names(data: &[u8]) {
    let whole = text(data);
    let (a, b) = whole.split_once('\0').unwrap_or((&whole, ""));
    type Rule = fn(&str) -> Result<(), names::Error>;
    let rules: [(Rule, names::Kind); 4] = [
        (names::owner, names::Kind::Owner),
        (names::package, names::Kind::Package),
        (names::file, names::Kind::File),
        (names::version, names::Kind::Version),
    ];
    for name in [a, b, &whole] {
        let key = names::key(name);
        assert_eq!(names::key(&key), key);
        assert_eq!(key.len(), name.len());
        assert!(key.eq_ignore_ascii_case(name));
        let mut previous_ok = true;
        for (rule, kind) in rules {
            let got = rule(name);
            assert_eq!(got.is_ok(), rule(&key).is_ok(), "{kind} {name:?} vs its key");
            match &got {
                Ok(()) => {
                    assert!(!name.is_empty() && name.len() <= names::MAX_LEN, "{name:?}");
                    assert!(name != "." && name != "..");
                    assert!(!name.contains('/') && !name.contains(char::is_control), "{name:?}");
                }
                Err(e) => {
                    assert_eq!(error_kind(e), kind, "{e:?}");
                    assert!(!e.to_string().is_empty());
                    if let names::Error::BadChar(_, c) = e {
                        assert!(name.contains(*c), "{e:?} for {name:?}");
                    }
                    assert_eq!(matches!(e, names::Error::Empty(_)), name.is_empty());
                    if matches!(e, names::Error::TooLong(_)) {
                        assert!(name.len() > names::MAX_LEN);
                    }
                }
            }
            // owner ⊂ package ⊂ file ⊂ version
            assert!(!previous_ok || got.is_ok() || kind == names::Kind::Owner, "{kind} {name:?}: {got:?}");
            previous_ok = got.is_ok();
        }
    }
    assert_eq!(names::key(a) == names::key(b), a.eq_ignore_ascii_case(b));
}

// ---------------------------------------------------------------------------------------------
// credentials

fn check_credential(c: &Credential) {
    match c {
        Credential::Password { user, password } => {
            assert!(!user.is_empty() && !user.contains(':'), "{user:?}");
            assert!(!password.starts_with(TOKEN_PREFIX));
        }
        Credential::Token { user, secret } => {
            assert!(!secret.is_empty());
            if let Some(u) = user {
                assert!(!u.is_empty() && !u.contains(':'));
                assert!(secret.starts_with(TOKEN_PREFIX));
            }
        }
    }
}

/// `Authorization` values and query strings. Raw input (first byte even): an accepted
/// credential has a non-empty user and secret, a user without `:`, and a password never
/// starting like a token; the scheme is case-insensitive and surrounding white space does
/// not matter. Built input (odd): a Basic pair whose parts do not look like tokens comes
/// back exactly as sent, one whose password is a token comes back as that token for that
/// user; `Bearer`/`token` with a plain secret come back as that secret. For queries: the
/// answer is the OR over its `&` pairs, and appending `token=` always makes it true.
pub fn credentials(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        let got = auth::parse(rest);
        if let Ok(c) = &got {
            check_credential(c);
        }
        if let Ok(value) = std::str::from_utf8(rest) {
            assert_eq!(auth::parse(format!(" {value}\t").as_bytes()), got);
            if let Some((scheme, tail)) = value.trim().split_once(' ') {
                let upper = format!("{} {tail}", scheme.to_ascii_uppercase());
                assert_eq!(auth::parse(upper.as_bytes()), got, "{value:?}");
            }
            let has = auth::query_has_token(value);
            assert_eq!(has, value.split('&').any(auth::query_has_token), "{value:?}");
            assert!(!has || value.to_ascii_lowercase().contains("token"), "{value:?}");
            assert!(auth::query_has_token(&format!("{value}&token=x")));
            assert!(auth::query_has_token(&format!("ACCESS_TOKEN&{value}")));
        }
        return;
    }
    let mut f = Fields(rest);
    let scheme = match f.byte() % 4 {
        0 => "basic",
        1 => "Basic",
        2 => "Bearer",
        _ => "token",
    };
    let user = f.string().replace(':', "");
    let password = f.string();
    if scheme.eq_ignore_ascii_case("basic") {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let got = auth::parse(format!("{scheme} {b64}").as_bytes());
        if let Ok(c) = &got {
            check_credential(c);
        }
        if !user.starts_with(TOKEN_PREFIX) && !user.is_empty() {
            let want = if password.starts_with(TOKEN_PREFIX) {
                Credential::Token { user: Some(user.clone()), secret: password.as_str().into() }
            } else {
                Credential::Password { user: user.clone(), password: password.as_str().into() }
            };
            assert_eq!(got, Ok(want));
        }
        if user.is_empty() {
            assert!(got.is_err());
        }
    } else {
        let secret = password;
        let got = auth::parse(format!("{scheme}  {secret} ").as_bytes());
        if !secret.is_empty() && secret.trim() == secret && !secret.contains(' ') {
            assert_eq!(got, Ok(Credential::Token { user: None, secret: secret.into() }));
        } else if secret.trim().is_empty() || secret.trim().contains(' ') {
            assert!(got.is_err());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// http_headers

/// Range, If-Match/If-None-Match and HTTP dates. Any `Range` value resolves to a non-empty
/// part inside the file (`start < end <= size`) or to Full/Unsatisfiable, and surrounding
/// white space does not matter; a well-formed single range gives the RFC 9110 answer. An
/// ETag list always matches `*` and a list that holds the tag, a strong match is also a weak
/// one, and list order does not matter. A parsed date prints back as an IMF-fixdate that
/// parses to the same second, and every second formats as a date without panicking (those
/// past the year 9999 as its last second).
pub fn http_headers(data: &[u8]) {
    let mut f = Fields(data);
    let size = match f.byte() % 3 {
        0 => f.u64() % 1000,
        1 => f.u64(),
        _ => 0,
    };
    let (a, b) = (f.u64() % size.max(1).saturating_mul(2), f.u64());
    let stamp = f.u64();
    let tag = format!("\"{}\"", headers::hex(f.bytes()));
    let all = text(f.rest());
    let mut parts = all.split('\n');
    let mut next = || parts.next().unwrap_or("");
    let (value, list, other, date) = (next(), next(), next(), next());

    // Range
    let got = headers::range(value, size);
    if let Range::Part { start, end } = got {
        assert!(start < end && end <= size, "{value:?} of {size}: {got:?}");
    }
    assert_eq!(headers::range(&format!(" {value}\t"), size), got);
    let (lo, hi) = (a.min(b), a.max(b));
    let want = if lo < size {
        Range::Part { start: lo, end: hi.saturating_add(1).min(size) }
    } else {
        Range::Unsatisfiable
    };
    assert_eq!(headers::range(&format!("bytes={lo}-{hi}"), size), want);
    if lo < hi {
        assert_eq!(headers::range(&format!("bytes={hi}-{lo}"), size), Range::Full);
    }
    let want = if a < size { Range::Part { start: a, end: size } } else { Range::Unsatisfiable };
    assert_eq!(headers::range(&format!("bytes={a}-"), size), want);
    let want = if b == 0 || size == 0 {
        Range::Unsatisfiable
    } else {
        Range::Part { start: size - b.min(size), end: size }
    };
    assert_eq!(headers::range(&format!("bytes=-{b}"), size), want);
    assert_eq!(headers::range(&format!("bytes={lo}-{hi},{value}"), size), Range::Full);

    // ETags
    for weak in [false, true] {
        let m = headers::etag_matches(list, &tag, weak);
        assert!(headers::etag_matches(&format!("{list}, *"), &tag, weak));
        assert!(headers::etag_matches(&format!("{list},{tag} "), &tag, weak));
        assert_eq!(
            headers::etag_matches(&format!("{list},{other}"), &tag, weak),
            headers::etag_matches(&format!("{other},{list}"), &tag, weak)
        );
        if !weak {
            assert!(!m || headers::etag_matches(list, &tag, true), "{list:?}");
        }
    }
    assert!(headers::etag_matches(&format!("{list}, W/{tag}"), &tag, true));

    // Dates
    if let Some(t) = clock::parse_http_date(date) {
        let printed = clock::http_date(t);
        assert_eq!(clock::parse_http_date(&printed), Some(t), "{date:?} -> {printed:?}");
    }
    let printed = clock::http_date(stamp);
    let shown = stamp.min(clock::LAST_HTTP_DATE);
    assert_eq!(clock::parse_http_date(&printed), Some(shown), "{stamp} -> {printed:?}");
}

// ---------------------------------------------------------------------------------------------
// digest_headers

/// `X-Checksum-Sha256` and `Content-Digest`. Raw input: an accepted hex checksum is the hex
/// of the returned bytes; a digest alone yields bytes whose base64 it holds; the answer for
/// both headers is the agreement of the answers for each alone. Built input: the hex (in any
/// case) and the base64 digest (after other algorithms) of 32 bytes return those bytes, and
/// two different sums are refused.
pub fn digest_headers(data: &[u8]) {
    let mut f = Fields(data);
    let flags = f.byte();
    let sum: [u8; 32] = std::array::from_fn(|_| f.byte());
    let all = text(f.rest());
    let (c, d) = all.split_once('\n').unwrap_or((&all, ""));
    let checksum = (flags & 1 == 1).then_some(c);
    let digest = (flags & 2 == 2).then_some(d);

    let got = headers::declared_sha256(checksum, digest);
    let alone_c = headers::declared_sha256(checksum, None);
    let alone_d = headers::declared_sha256(None, digest);
    match (&alone_c, &alone_d) {
        (Err(_), _) => assert!(got.is_err()),
        (Ok(_), Err(_)) => assert!(got.is_err()),
        (Ok(Some(x)), Ok(Some(y))) if x != y => assert!(got.is_err()),
        (Ok(x), Ok(y)) => assert_eq!(got, Ok((*x).or(*y))),
    }
    if let (Some(c), Ok(Some(x))) = (checksum, &alone_c) {
        assert!(headers::hex(x).eq_ignore_ascii_case(c.trim()), "{c:?}");
    }
    if let (Some(d), Ok(Some(y))) = (digest, &alone_d) {
        let b64 = base64::engine::general_purpose::STANDARD.encode(y);
        assert!(d.contains(&b64), "{d:?}");
    }
    assert_eq!(headers::declared_sha256(None, None), Ok(None));

    // Built headers from `sum`.
    let hex: String = headers::hex(&sum)
        .chars()
        .enumerate()
        .map(|(i, ch)| if flags & 4 == 4 && i % 3 == 0 { ch.to_ascii_uppercase() } else { ch })
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(sum);
    let digest = format!("sha-512=:AAAA:, id-sha-256=:x:,  SHA-256=:{b64}: , md5=:y:");
    assert_eq!(headers::declared_sha256(Some(&format!(" {hex} ")), None), Ok(Some(sum)));
    assert_eq!(headers::declared_sha256(None, Some(&digest)), Ok(Some(sum)));
    assert_eq!(headers::declared_sha256(Some(&hex), Some(&digest)), Ok(Some(sum)));
    let mut other = sum;
    other[usize::from(flags) % 32] ^= 1 << (flags % 8);
    assert!(headers::declared_sha256(Some(&headers::hex(&other)), Some(&digest)).is_err());
    assert!(headers::declared_sha256(Some(&hex[1..]), None).is_err());
}

// ---------------------------------------------------------------------------------------------
// records

/// Decodes `bytes` as a `T`; a decoded record of the current format re-encodes to exactly
/// the same bytes (the encoding is canonical, so a damaged record can never decode as a
/// different valid one), and one of an older format re-encodes to bytes that decode to it.
fn decode_strict<T: Record + Debug + PartialEq>(bytes: &[u8]) {
    if let Ok(rec) = codec::decode::<T>(bytes) {
        let again = codec::encode(&rec);
        if bytes[0] == codec::FORMAT {
            assert_eq!(again, bytes, "{rec:?}");
        } else {
            assert_eq!(codec::decode::<T>(&again).as_ref(), Ok(&rec));
        }
    }
}

/// `encode` then `decode` gives the value back (or refuses it when it cannot be true), and
/// every cut of the encoding is refused.
fn round_trip<T: Record + PartialEq + Debug>(rec: &T) {
    let bytes = codec::encode(rec);
    match rec.invalid() {
        None => assert_eq!(codec::decode::<T>(&bytes).as_ref(), Ok(rec)),
        Some(why) => assert_eq!(codec::decode::<T>(&bytes), Err(codec::Error::Impossible(why))),
    }
    for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        if cut < bytes.len() {
            assert!(codec::decode::<T>(&bytes[..cut]).is_err(), "{rec:?} cut at {cut}");
        }
    }
    let mut long = bytes;
    long.push(0);
    assert!(codec::decode::<T>(&long).is_err());
}

fn option(f: &mut Fields) -> Option<u64> {
    (f.byte() % 2 == 1).then(|| f.u64())
}

/// Stored records (every type a table holds). Raw input (high bit of the first byte clear):
/// decoding any bytes as any record type never panics or allocates beyond the input, and a
/// record that decodes re-encodes to the same bytes. Built input: a record with any field
/// values round-trips, and its truncations and extensions are refused.
pub fn records(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 0x80 == 0 {
        match mode % 8 {
            0 => decode_strict::<OwnerRec>(rest),
            1 => decode_strict::<TokenRec>(rest),
            2 => decode_strict::<PackageRec>(rest),
            3 => decode_strict::<VersionRec>(rest),
            4 => decode_strict::<FileRec>(rest),
            5 => decode_strict::<BlobRec>(rest),
            6 => decode_strict::<UsageRec>(rest),
            _ => decode_strict::<QuotaRec>(rest),
        }
        return;
    }
    let mut f = Fields(rest);
    match mode % 8 {
        0 => {
            let name = f.string();
            let kind = if f.byte() % 2 == 0 {
                OwnerKind::Org
            } else {
                OwnerKind::User { password_hash: f.string(), admin: f.byte() % 2 == 1 }
            };
            round_trip(&OwnerRec { name, kind, private: f.byte() % 2 == 1, created: f.u64() });
        }
        1 => round_trip(&TokenRec {
            user: f.string(),
            label: f.string(),
            write: f.byte() % 2 == 1,
            created: f.u64(),
            expires: option(&mut f),
        }),
        2 => round_trip(&PackageRec {
            name: f.string(),
            created: f.u64(),
            latest: (f.byte() % 2 == 1).then(|| f.string()),
            versions: f.u64(),
            files: f.u64(),
            size: f.u64(),
            updated: f.u64(),
        }),
        3 => round_trip(&VersionRec {
            version: f.string(),
            created: f.u64(),
            order: f.u64(),
            id: f.u64(),
            creator: (f.byte() % 2 == 1).then(|| Creator { id: f.u64(), key: f.string() }),
            files: f.u64(),
            size: f.u64(),
            seqs: Seqs { owner: f.u64(), kind: f.u64(), package: f.u64() },
        }),
        4 => round_trip(&FileRec {
            name: f.string(),
            blob: f.u64(),
            sha256: std::array::from_fn(|_| f.byte()),
            size: f.u64(),
            created: f.u64(),
            id: f.u64(),
            seq: f.u64(),
        }),
        5 => round_trip(&BlobRec {
            sha256: std::array::from_fn(|_| f.byte()),
            size: f.u64(),
            chunk_size: f.u64() as u32,
            refs: f.u64(),
            inline: f.string().into_bytes(),
        }),
        6 => round_trip(&UsageRec { bytes: f.u64(), versions: f.u64() }),
        _ => round_trip(&QuotaRec { max_bytes: option(&mut f), max_versions: option(&mut f) }),
    }
}

// ---------------------------------------------------------------------------------------------
// go_zip

/// Module-root prefixes for built zips: valid ones of each shape, and a few invalid ones.
const ZIP_ROOTS: &[&str] = &[
    "example.com/m@v1.0.0/",
    "example.com/m/v2@v2.0.1/",
    "gopkg.in/yaml.v3@v3.0.0-rc.1/",
    "example.com/Old@v2.0.0+incompatible/",
    "example.com/m@v0.0.0-20191109021931-daa7c04131f5/",
    "example.com/m@v1.2/",
    "example.com/m@v2.0.0/",
    "Example.com/m@v1.0.0/",
];

/// A zip built from fuzz fields: a root prefix, then entries (name, data, method, directory).
fn built_zip(f: &mut Fields) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let root = ZIP_ROOTS[usize::from(f.byte()) % ZIP_ROOTS.len()];
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for _ in 0..f.byte() % 8 {
        let flags = f.byte();
        let name = if flags & 0x40 == 0 { format!("{root}{}", f.string()) } else { f.string() };
        let method =
            if flags & 1 == 0 { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
        let options = SimpleFileOptions::default().compression_method(method);
        let data = f.bytes();
        // The writer refuses some names (a repeated one); the entry is then left out.
        if flags & 2 == 2 {
            let _ = w.add_directory(name, options);
        } else if w.start_file(name, options).is_ok() {
            let go_mod = format!("module {}\n", root.split('@').next().unwrap_or(""));
            let body = if flags & 4 == 4 { go_mod.as_bytes() } else { data };
            w.write_all(body).expect("writing to memory");
        }
    }
    match w.finish() {
        Ok(c) => c.into_inner(),
        Err(_) => Vec::new(),
    }
}

/// Module zip checking. Raw input (first byte even) or a zip built from fields (odd):
/// checking in-memory bytes never panics and never reports an I/O error (so a bad upload is
/// always a 4xx, never a storage 5xx); a refusal is a one-line reason. An accepted zip has a
/// valid module path, a canonical version that fits the path's major version, a go.mod that
/// declares that module path, and no go.mod if the version is `+incompatible`.
pub fn go_zip(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let built;
    let bytes = if mode % 2 == 0 {
        rest
    } else {
        built = built_zip(&mut Fields(rest));
        &built
    };
    let got = zipcheck::check(Cursor::new(bytes), bytes.len() as u64);
    match &got {
        Err(Ok(io)) => panic!("an in-memory zip reported an I/O error: {io}"),
        Err(Err(zipcheck::Invalid(why))) => {
            assert!(!why.is_empty() && !why.contains('\n'), "{why:?}");
        }
        Ok(m) => {
            assert_eq!(path::check_module_path(&m.path), Ok(()));
            let v = semver::parse(&m.version).expect("an accepted version is canonical");
            assert_eq!(path::check_major(&m.path, &m.version, &v), Ok(()));
            assert!(!(v.incompatible && m.has_go_mod), "{m:?}");
            assert_eq!(zipcheck::module_directive(&m.go_mod).as_deref(), Some(m.path.as_str()));
            if !m.has_go_mod {
                assert_eq!(m.go_mod, format!("module {}\n", m.path).into_bytes());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// go_path

/// The canonical text of a parsed version.
fn version_text(v: &semver::Version) -> String {
    let mut s = format!("v{}.{}.{}", v.major, v.minor, v.patch);
    if !v.pre.is_empty() {
        s.push('-');
        s.push_str(&v.pre.join("."));
    }
    if v.incompatible {
        s.push_str("+incompatible");
    }
    s
}

/// Go module paths, file paths, the case encoding and versions. `unescape(escape(s)) == s`
/// for every string without `!`, and `escape(unescape(x)) == x` whenever `x` decodes (the decoding is
/// strict); an escaped string has no upper-case letter. A valid module path is a valid file
/// path and splits into prefix and major suffix that concatenate back; a valid file path is
/// clean. The collision key `fold` is idempotent and folds one character to one (ASCII to
/// lower case). A parsed version prints back as its input, precedence is a total order (reflexive,
/// antisymmetric) that [`semver::sort`] follows, a pseudo-version is a pre-release, and
/// [`semver::latest`] picks one of its inputs.
pub fn go_path(data: &[u8]) {
    let all = text(data);
    let mut parts = all.split('\n');
    let mut next = || parts.next().unwrap_or("").to_string();
    let pieces = [next(), next(), next()];

    for s in &pieces {
        let e = path::escape(s);
        assert!(!e.bytes().any(|b| b.is_ascii_uppercase()), "{e:?}");
        // `!` is the escape character; no module path or version holds one.
        if !s.contains('!') {
            assert_eq!(path::unescape(&e).as_deref(), Some(s.as_str()));
        }
        if let Some(u) = path::unescape(s) {
            assert_eq!(&path::escape(&u), s);
        }
        if let Some((prefix, suffix)) = path::split_major(s) {
            assert_eq!(format!("{prefix}{suffix}"), *s);
            assert!(suffix.is_empty() || suffix.starts_with("/v") || suffix.starts_with(".v"), "{s:?}");
        }
        if path::check_module_path(s).is_ok() {
            assert_eq!(path::check_file_path(s), Ok(()), "{s:?}");
            assert!(path::split_major(s).is_some());
        }
        if path::check_file_path(s).is_ok() {
            assert!(s.split('/').all(|e| !e.is_empty() && e != "." && e != ".."), "{s:?}");
        }
        // Go's collision rule is simple (one character to one) case folding: `strings.EqualFold`.
        let folded = path::fold(s);
        assert_eq!(path::fold(&folded), folded, "{s:?}");
        assert_eq!(folded.chars().count(), s.chars().count(), "{s:?}");
        if s.is_ascii() {
            assert_eq!(folded, s.to_ascii_lowercase());
        }
    }

    let parsed: Vec<Option<semver::Version>> = pieces.iter().map(|s| semver::parse(s).ok()).collect();
    for (s, v) in pieces.iter().zip(&parsed) {
        let Some(v) = v else { continue };
        assert_eq!(&version_text(v), s);
        assert_eq!(v.precedence(v), std::cmp::Ordering::Equal);
        assert!(!v.is_pseudo() || v.is_prerelease(), "{s:?}");
        if let Ok(()) = path::check_major(&pieces[0], s, v) {
            assert!(!v.incompatible || v.major >= 2, "{s:?}");
        }
    }
    let valid: Vec<&semver::Version> = parsed.iter().flatten().collect();
    for x in &valid {
        for y in &valid {
            assert_eq!(x.precedence(y), y.precedence(x).reverse());
        }
    }
    let mut sorted = pieces.to_vec();
    semver::sort(&mut sorted);
    let in_order: Vec<semver::Version> = sorted.iter().filter_map(|s| semver::parse(s).ok()).collect();
    for w in in_order.windows(2) {
        assert_ne!(w[0].precedence(&w[1]), std::cmp::Ordering::Greater, "{sorted:?}");
    }
    match semver::latest(pieces.iter().map(String::as_str)) {
        Some(l) => assert!(pieces.iter().any(|p| p == l) && semver::parse(l).is_ok()),
        None => assert!(valid.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Replays every file of `dir` through `target`; the number of files replayed.
    fn replay(dir: &Path, target: Target) -> usize {
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a readable directory").path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let run = std::panic::catch_unwind(|| target(&bytes));
                assert!(run.is_ok(), "{} fails its target's properties", path.display());
                n += 1;
            }
        }
        n
    }

    /// Little-endian bytes of `n`.
    fn le(n: u64) -> [u8; 8] {
        n.to_le_bytes()
    }

    /// A length-prefixed field as [`Fields::bytes`] reads it.
    fn field(s: &[u8]) -> Vec<u8> {
        let mut v = vec![u8::try_from(s.len()).expect("a field is at most 255 bytes")];
        v.extend_from_slice(s);
        v
    }

    fn zip_of(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
        use zip::write::SimpleFileOptions;
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(method);
        for (name, data) in entries {
            if name.ends_with('/') {
                w.add_directory(*name, options).unwrap();
            } else {
                w.start_file(*name, options).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    /// The seed inputs of each target: real request paths and headers, records written by
    /// `codec::encode`, small module zips, in both the raw and the built input forms.
    fn seeds() -> Vec<(&'static str, Vec<u8>)> {
        use zip::CompressionMethod::{Deflated, Stored};
        let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
        let raw = |mode: u8, s: &[u8]| [&[mode][..], s].concat();

        for p in [
            "/healthz",
            "/metrics",
            "/api/packages/alice/generic/pkg/1.0/file.tgz",
            "/api/packages/alice/generic/app/1.0%2Fx/a%20b.txt",
            "/api/packages/alice/generic/pkg/1.0",
            "/api/packages/alice/go/upload",
            "/api/packages/alice/go/example.com/!foo/@v/v1.0.0.zip",
            "/api/packages/alice/go/example.com/!foo/@v/v1.0.0-!r!c1.info",
            "/api/packages/alice/go/example.com/m/v2/@v/v2.0.0.mod",
            "/api/packages/alice/go/example.com/m/@v/list",
            "/api/packages/alice/go/example.com/m/@latest",
            "/api/packages/alice/go/sumdb/sum.golang.org/supported",
            "/api/go/alice/example.com/!foo/@v/v1.0.0.zip",
            "/api/v1/packages/alice",
            "/api/v1/packages/alice/generic/pkg",
            "/api/v1/packages/alice/go/example.com%2Fm/-/latest",
            "/api/v1/packages/alice/generic/pkg/1.0",
            "/api/v1/packages/alice/go/example.com%2Fm/v1.0.0/files",
            "/api/v1/admin/users",
            "/api/v1/admin/users/bob",
            "/api/v1/admin/quotas",
            "/api/v1/admin/quotas/alice",
            "/api/v1/orgs",
            "/api/v1/orgs/team/members/bob",
            "/api/v1/users/alice/tokens",
            "/api/v1/users/alice/tokens/ci",
            "/api/packages/a/generic/p/%ff/f",
            "/api/packages/bob/go/@v/list",
            "nope",
        ] {
            out.push(("router_path", raw(0, p.as_bytes())));
        }
        let built = [
            [&[1, 0, 2][..], &field(b"alice"), &field(b"pkg"), &field(b"1.0/x"), &field(b"a b.txt")].concat(),
            [&[1, 1, 5][..], &field(b"bob"), &field(b"example.com/!m"), &[4], &field(b"v1.0.0")].concat(),
            [&[1, 1, 21][..], &field(b"alice"), &field(b"example.com/Foo/v2"), &field(b"v2.0.0-RC1")]
                .concat(),
            [&[1, 0, 19][..], &field(b"alice"), &field(b"ci token")].concat(),
        ];
        out.extend(built.into_iter().map(|b| ("router_path", b)));

        for n in [
            "alice",
            "my-app",
            "app-1.0.tar.gz",
            "v2-beta+build",
            "ünïcode",
            "a b",
            ".",
            "..",
            " a",
            "-a",
            "a/b",
        ] {
            out.push(("names", n.as_bytes().to_vec()));
        }
        out.push(("names", b"Alice\0alice".to_vec()));
        out.push(("names", "x".repeat(256).into_bytes()));

        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for h in [
            format!("Basic {}", b64("alice:secret")),
            format!("basic {}", b64("depot_abc:")),
            format!("Basic {}", b64("depot_abc:x-oauth-basic")),
            format!("Basic {}", b64("alice:depot_tok")),
            format!("Basic {}", b64(":pw")),
            "Basic !!!".to_string(),
            "token depot_abc".to_string(),
            "Bearer depot_abc".to_string(),
            "bearer a b".to_string(),
            "Digest x".to_string(),
            "type=generic&token=x".to_string(),
            "a=1&Access_Token=x".to_string(),
        ] {
            out.push(("credentials", raw(0, h.as_bytes())));
        }
        out.push(("credentials", [&[1, 1][..], &field(b"alice"), &field(b"pa:ss")].concat()));
        out.push(("credentials", [&[1, 0][..], &field(b"bob"), &field(b"depot_x")].concat()));
        out.push(("credentials", [&[1, 2][..], &field(b""), &field(b"depot_secret")].concat()));

        let date = "Fri, 02 Jan 2026 03:04:05 GMT";
        for (size, text) in [
            (100, format!("bytes=0-9\n\"abc\", W/\"def\"\n*\n{date}")),
            (100, "bytes=-3\nW/\"x\"\n\"y\"\nFriday, 02-Jan-26 03:04:05 GMT".to_string()),
            (100, "bytes=5-\n*\n\nFri Jan  2 03:04:05 2026".to_string()),
            (0, "bytes=0-\n\n\nyesterday".to_string()),
            (10, "bytes=0-1,3-4\n\"a\",\"b\"\n\nSun, 06 Nov 1994 08:49:37 GMT".to_string()),
            (10, "items=0-1".to_string()),
            (10, "bytes=99999999999999999999999-".to_string()),
        ] {
            let head =
                [&[0u8][..], &le(size), &le(3), &le(7), &le(1_767_323_045), &field(b"\x01\x02")].concat();
            out.push(("http_headers", [head, text.into_bytes()].concat()));
        }

        let sum: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(b"abc").into();
        let hex = headers::hex(&sum);
        let d = format!("sha-256=:{}:", base64::engine::general_purpose::STANDARD.encode(sum));
        for (flags, text) in [
            (1u8, format!("{hex}\n")),
            (2, format!("\nsha-512=:AAAA:, {d}")),
            (3, format!("{}\n{d}", hex.to_uppercase())),
            (3, format!("{}\n{d}", "0".repeat(64))),
            (2, "\nsha-256=abc".to_string()),
            (1, "abc\n".to_string()),
        ] {
            out.push(("digest_headers", [&[flags][..], &sum, text.as_bytes()].concat()));
        }

        let owner = OwnerRec {
            name: "Alice".into(),
            kind: OwnerKind::User {
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                admin: true,
            },
            private: false,
            created: 1_767_323_045,
        };
        let org = OwnerRec { name: "team".into(), kind: OwnerKind::Org, private: true, created: 1 };
        let token =
            TokenRec { user: "alice".into(), label: "ci".into(), write: true, created: 5, expires: Some(99) };
        let encoded = [
            (0u8, codec::encode(&owner)),
            (0, codec::encode(&org)),
            (1, codec::encode(&token)),
            (2, codec::encode(&PackageRec { name: "My-App".into(), created: 7, ..PackageRec::default() })),
            (
                3,
                codec::encode(&VersionRec {
                    version: "v1.0.0".into(),
                    created: 7,
                    order: 1 << 60,
                    ..VersionRec::default()
                }),
            ),
            (
                4,
                codec::encode(&FileRec {
                    name: "a.tgz".into(),
                    blob: 3,
                    sha256: sum,
                    size: 10,
                    created: 7,
                    ..FileRec::default()
                }),
            ),
            (
                5,
                codec::encode(&BlobRec {
                    sha256: sum,
                    size: 10,
                    chunk_size: 1 << 20,
                    refs: 2,
                    inline: vec![],
                }),
            ),
            (6, codec::encode(&UsageRec { bytes: 10, versions: 1 })),
            (7, codec::encode(&QuotaRec { max_bytes: Some(1 << 30), max_versions: None })),
        ];
        for (kind, bytes) in encoded {
            out.push(("records", raw(kind, &bytes)));
        }
        // A blob record of format 1, as layouts 1 and 2 wrote them.
        let v1 = [&[1u8][..], &sum, &le(10), &(1u32 << 20).to_le_bytes(), &le(2)].concat();
        out.push(("records", raw(5, &v1)));
        out.push((
            "records",
            [&[0x80 | 1][..], &field(b"bob"), &field(b"laptop"), &[1], &le(5), &[1], &le(9)].concat(),
        ));
        out.push((
            "records",
            [&[0x80][..], &field(b"Alice"), &[1], &field(b"$argon2id$x"), &[1, 0], &le(3)].concat(),
        ));

        let m = "example.com/m@v1.2.3/";
        let zips = [
            zip_of(
                &[
                    ("example.com/m@v1.2.3/go.mod", b"module example.com/m\n\ngo 1.19\n"),
                    ("example.com/m@v1.2.3/m.go", b"package m\n"),
                    ("example.com/m@v1.2.3/sub/", b""),
                    ("example.com/m@v1.2.3/sub/x.go", b"package sub\n"),
                ],
                Deflated,
            ),
            zip_of(&[("example.com/Old@v2.0.0+incompatible/a.go", b"package old\n")], Stored),
            zip_of(&[("example.com/m/v2@v2.0.1/go.mod", b"module \"example.com/m/v2\" // c\n")], Stored),
            zip_of(&[("gopkg.in/yaml.v3@v3.0.1/go.mod", b"module (\n\tgopkg.in/yaml.v3\n)\n")], Deflated),
            zip_of(&[(&format!("{m}A.go"), b""), (&format!("{m}a.go"), b"")], Stored),
            zip_of(&[(&format!("{m}x"), b""), (&format!("{m}x/y"), b"")], Stored),
            zip_of(&[(&format!("{m}go.mod"), b"module example.com/other\n")], Stored),
            zip_of(&[(&format!("{m}con.go"), b"")], Stored),
            zip_of(&[("example.com/m@v2.0.0/a.go", b"")], Stored),
            b"PK\x03\x04garbage".to_vec(),
        ];
        for z in zips {
            out.push(("go_zip", raw(0, &z)));
        }
        let mut hidden = zip_of(&[("example.com/m@v1.0.0/go.mod", b"module example.com/m\n")], Stored);
        let n = hidden.len();
        hidden[n - 2..].copy_from_slice(&22u16.to_le_bytes());
        hidden.extend_from_slice(b"PK\x05\x06\0\0\0\0\x01\0\x01\0\x2e\0\0\0");
        hidden.extend_from_slice(&u32::try_from(n).unwrap().to_le_bytes());
        hidden.extend_from_slice(&[0, 0]);
        out.push(("go_zip", raw(0, &hidden)));
        out.push((
            "go_zip",
            [
                &[1, 0, 2][..],
                &[4],
                &field(b"go.mod"),
                &field(b""),
                &[1],
                &field(b"m.go"),
                &field(b"package m\n"),
            ]
            .concat(),
        ));
        out.push(("go_zip", [&[1, 3, 1][..], &[0], &field(b"a.go"), &field(b"package old\n")].concat()));

        for t in [
            "example.com/m\nv1.2.3\nv1.0.0-rc.1",
            "github.com/!azure/!s!d!k\nv0.0.0-20191109021931-daa7c04131f5\nv2.0.0+incompatible",
            "gopkg.in/yaml.v3\nv3.0.1\nv3.0.0-unstable",
            "example.com/m/v2\nv2.1.0\nv1.0.0",
            "example.com/m/v1.2\nv1.2.4-0.20191109021931-daa7c04131f5\nv1.0.0-alpha.beta",
            "a/b/c.go\nv1.2\nV1.2.3",
            "README.md\nv1.10.0\nv1.2.0",
            "Example.com/LPT1.txt\nv01.2.3\nv1.2.3+build",
            "\u{212A}elvin\nkelvin\n\u{df}",
        ] {
            out.push(("go_path", t.as_bytes().to_vec()));
        }
        out
    }

    /// Every seed of [`seeds`] is committed in `fuzz/corpus/<target>/`, named by its content's
    /// hash. With `DEPOT_WRITE_SEEDS=1` the missing ones are written instead (after changing
    /// `seeds()`), and the test then passes on the next run.
    #[test]
    fn every_seed_is_in_the_committed_corpus() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus"));
        let write = std::env::var_os("DEPOT_WRITE_SEEDS").is_some_and(|v| v == "1");
        for (target, bytes) in seeds() {
            let dir = root.join(target);
            let hash = headers::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
            let file = dir.join(format!("seed-{}", &hash[..16]));
            if std::fs::read(&file).ok().as_deref() == Some(&bytes[..]) {
                continue;
            }
            assert!(
                write,
                "{} is missing or differs: run with DEPOT_WRITE_SEEDS=1 and commit it",
                file.display()
            );
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&file, &bytes).unwrap();
        }
    }

    #[test]
    fn seeds_keep_every_property() {
        for (target, bytes) in seeds() {
            let (_, run) = TARGETS.iter().find(|(n, _)| *n == target).expect("a known target");
            run(&bytes);
        }
    }

    #[test]
    fn every_corpus_and_regression_input_keeps_its_properties() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"));
        for &(name, target) in TARGETS {
            let corpus = root.join("corpus").join(name);
            assert!(replay(&corpus, target) > 0, "{} is empty", corpus.display());
            let regressions = root.join("regressions").join(name);
            if regressions.exists() {
                replay(&regressions, target);
            }
        }
    }

    #[test]
    fn every_target_has_a_fuzz_binary() {
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"));
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml");
        for &(name, _) in TARGETS {
            let file = root.join("fuzz_targets").join(format!("{name}.rs"));
            let body = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(body.contains(&format!("depot::fuzzing::{name}(data)")), "{}", file.display());
            assert!(manifest.contains(&format!("name = \"{name}\"")), "fuzz/Cargo.toml lacks {name}");
        }
    }

    #[test]
    fn empty_and_tiny_inputs_keep_every_property() {
        for &(_, target) in TARGETS {
            for input in [&b""[..], b"\0", b"\x01", b"\xff\xff", b"\x81\x02abc"] {
                target(input);
            }
        }
    }
}
