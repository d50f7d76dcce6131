//! The life of a package beyond upload and delete (docs/api.md): an owner's cleanup rules
//! (list, create, delete, preview) and the lookup of files by sha256.
//!
//! Rules are changed through [`crate::admin::execute`], the code the CLI runs, and
//! previewed through [`crate::cleanup`], the code that applies them; this module adds only
//! the permission rule (owner write for everything about rules, read for a lookup) and the
//! JSON shapes.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::{Deserialize, Serialize};

use super::manage::{query, read_json, Answer, FileOut, PackageOut, Packages, Paging};
use super::{authorize, credential, json, no_content, with_user};
use crate::admin::{self, Command, Output};
use crate::app::App;
use crate::auth::Access;
use crate::clock::rfc3339;
use crate::http::{body, ApiError, Response};
use crate::store::RuleRec;

/// A cleanup rule: Gitea's fields; `created_at` is depot's own.
#[derive(Serialize)]
struct RuleOut {
    id: u64,
    enabled: bool,
    #[serde(rename = "type")]
    kind: String,
    keep_count: u64,
    keep_pattern: String,
    remove_days: u64,
    remove_pattern: String,
    match_full_name: bool,
    created_at: String,
}

impl RuleOut {
    fn of(r: RuleRec) -> RuleOut {
        RuleOut {
            id: r.id,
            enabled: r.enabled,
            kind: r.kind,
            keep_count: r.keep_count,
            keep_pattern: r.keep_pattern,
            remove_days: r.remove_days,
            remove_pattern: r.remove_pattern,
            match_full_name: r.match_full_name,
            created_at: rfc3339(r.created),
        }
    }
}

/// The body of a new rule; only `type` is required. Unknown fields are refused, so a typo
/// (`keepcount`) is a 400 rather than a rule that silently keeps nothing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    keep_count: u64,
    #[serde(default)]
    keep_pattern: String,
    #[serde(default)]
    remove_days: u64,
    #[serde(default)]
    remove_pattern: String,
    #[serde(default)]
    match_full_name: bool,
    /// Accepted and ignored, so a rule listed by this API can be posted back as it is.
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<u64>,
    #[serde(default)]
    #[allow(dead_code)]
    created_at: Option<String>,
}

fn yes() -> bool {
    true
}

/// `GET /api/v1/packages/{owner}/-/rules`.
pub async fn list(app: &Arc<App>, req: Request<Incoming>, owner: String) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let (who, out) = app
        .blocking(move |app| {
            let who = authorize(app, cred.as_ref(), &owner, Access::Write)?;
            Ok::<_, ApiError>((who, admin::execute(&app.store, Command::RuleList { owner })?))
        })
        .await??;
    let Output::Rules(list) = out else { return Err(ApiError::internal("rule list returned no rules")) };
    let list: Vec<RuleOut> = list.into_iter().map(RuleOut::of).collect();
    Ok(with_user(json(StatusCode::OK, &list), &who))
}

/// `POST /api/v1/packages/{owner}/-/rules`: 201 with the stored rule.
pub async fn create(app: &Arc<App>, req: Request<Incoming>, owner: String) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let cred = credential(&parts)?;
    let o = owner.clone();
    // The caller is checked before a body they may not send is read.
    let who = app.blocking(move |app| authorize(app, cred.as_ref(), &o, Access::Write)).await??;
    let b: RuleBody = body::json(body, app.limits.body_idle).await?;
    let rule = crate::cleanup::NewRule {
        enabled: b.enabled,
        kind: b.kind,
        keep_count: b.keep_count,
        keep_pattern: b.keep_pattern,
        remove_days: b.remove_days,
        remove_pattern: b.remove_pattern,
        match_full_name: b.match_full_name,
    };
    let out = app.blocking(move |app| admin::execute(&app.store, Command::RuleAdd { owner, rule })).await??;
    let Output::RuleAdded(rec) = out else {
        return Err(ApiError::internal("adding a rule returned no rule"));
    };
    Ok(with_user(json(StatusCode::CREATED, &RuleOut::of(rec)), &who))
}

/// A rule id from the path; a segment that is not one names no rule (404).
fn rule_id(owner: &str, id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::not_found(format!("{owner} has no cleanup rule {id:?}")))
}

/// `DELETE /api/v1/packages/{owner}/-/rules/{id}`.
pub async fn delete(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    id: String,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let who = app
        .blocking(move |app| {
            let who = authorize(app, cred.as_ref(), &owner, Access::Write)?;
            let id = rule_id(&owner, &id)?;
            admin::execute(&app.store, Command::RuleDelete { owner, id })?;
            Ok::<_, ApiError>(who)
        })
        .await??;
    Ok(with_user(no_content(), &who))
}

/// `GET /api/v1/packages/{owner}/-/rules/{id}/preview`: the versions the rule would remove
/// now, as `Package`s (newest first per package), all of them, with `X-Total-Count`.
pub async fn preview(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    id: String,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let base = crate::http::base_url(app.https, &parts);
    let (who, list) = app
        .blocking(move |app| {
            let who = authorize(app, cred.as_ref(), &owner, Access::Write)?;
            let id = rule_id(&owner, &id)?;
            let versions = crate::cleanup::preview(&app.store, &owner, Some(id)).map_err(|e| match e {
                crate::store::Error::NotFound(_) => {
                    ApiError::not_found(format!("{owner} has no cleanup rule {id}"))
                }
                e => e.into(),
            })?;
            let mut out = Packages::new(app, base, &owner)?
                .ok_or_else(|| ApiError::not_found(format!("no user or organization named {owner:?}")))?;
            let list: Vec<PackageOut> = versions.into_iter().map(|v| out.out(v)).collect();
            Ok::<_, ApiError>((who, list))
        })
        .await??;
    let mut res = json(StatusCode::OK, &list);
    res.headers_mut().insert("x-total-count", hyper::header::HeaderValue::from(list.len()));
    Ok(with_user(res, &who))
}

/// One file found by its content.
#[derive(Serialize)]
struct Found {
    package: PackageOut,
    file: FileOut,
}

/// The 32 bytes of a sha256 written as 64 hex digits (either case).
fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// `GET /api/v1/packages/{owner}/-/sha256/{hex}`: every file of `owner` with that content,
/// paged like every list (by package, version and file name).
pub async fn by_sha256(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    hex: String,
) -> Result<Response, ApiError> {
    let paging = Paging::of(&query(&req))?;
    let Some(sha) = parse_sha256(&hex) else {
        return Err(ApiError::bad_request(format!("{hex:?} is not a sha256: 64 hexadecimal digits")));
    };
    read_json(app, req, owner.clone(), paging, move |app, base| {
        let page = app.store.files_with_sha(&owner, sha, paging.offset(), paging.limit())?;
        let Some(mut out) = Packages::new(app, base, &owner)? else {
            return Ok(Answer { value: Vec::new(), total: Some(0) });
        };
        let value: Vec<Found> = page
            .items
            .into_iter()
            .map(|(v, f)| Found { package: out.out(v), file: FileOut::of(f) })
            .collect();
        Ok(Answer { value, total: Some(page.total) })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::parse_sha256;

    #[test]
    fn sha256_hex_is_64_digits_of_either_case() {
        let lower = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let sha = parse_sha256(lower).unwrap();
        assert_eq!(sha[0], 0xe3);
        assert_eq!(sha[31], 0x55);
        assert_eq!(parse_sha256(&lower.to_uppercase()), Some(sha));
        for bad in [
            "",
            "e3",
            &lower[..63],
            &format!("{lower}0"),
            &lower.replace('e', "g"),
            "é".repeat(32).as_str(),
            &format!("+{}", &lower[1..]),
        ] {
            assert_eq!(parse_sha256(bad), None, "{bad:?}");
        }
    }
}
