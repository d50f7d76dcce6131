//! The management API under `/api/v1` (docs/api.md): package listings and deletion, and the
//! administration of users, organizations and tokens.
//!
//! Administration goes through [`crate::admin::execute`], the same code the CLI runs, so
//! the two can never disagree. JSON field names follow Gitea's where one exists.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::{Deserialize, Serialize};

use super::{authenticate, authorize, credential, json, missing_in, with_user};
use crate::admin::{self, Command, Output, TokenInfo, UserInfo};
use crate::app::App;
use crate::auth::{Access, Principal};
use crate::clock::rfc3339;
use crate::http::body::{self, empty};
use crate::http::{ApiError, Response};
use crate::store::{PackageType, Role, VersionSummary};

/// Default and largest page size of listings.
const PAGE_DEFAULT: usize = 50;
const PAGE_MAX: usize = 1000;

#[derive(Serialize)]
struct PackageJson {
    owner: String,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    latest_version: Option<String>,
    version_count: u64,
    created_at: String,
}

#[derive(Serialize)]
struct VersionJson {
    owner: String,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    version: String,
    created_at: String,
    file_count: u64,
    size: u64,
}

#[derive(Serialize)]
struct FileJson {
    name: String,
    size: u64,
    sha256: String,
    created_at: String,
}

#[derive(Serialize)]
struct UserJson {
    username: String,
    admin: bool,
    private: bool,
    created_at: String,
    /// Bytes of files and number of versions the user holds.
    used_bytes: u64,
    used_versions: u64,
}

/// An owner's usage and limits (`null`: unlimited).
#[derive(Serialize)]
struct UsageJson {
    owner: String,
    used_bytes: u64,
    used_versions: u64,
    max_bytes: Option<u64>,
    max_versions: Option<u64>,
}

#[derive(Serialize)]
struct TokenJson {
    name: String,
    scope: &'static str,
    created_at: String,
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// Gitea's field name for the secret, for scripts written against Gitea.
    #[serde(skip_serializing_if = "Option::is_none")]
    sha1: Option<String>,
}

fn user_json(u: UserInfo) -> UserJson {
    UserJson {
        username: u.name,
        admin: u.admin,
        private: u.private,
        created_at: rfc3339(u.created),
        used_bytes: u.bytes,
        used_versions: u.versions,
    }
}

fn usage_json(u: crate::store::OwnerUsage) -> UsageJson {
    UsageJson {
        owner: u.owner,
        used_bytes: u.usage.bytes,
        used_versions: u.usage.versions,
        max_bytes: u.quota.max_bytes,
        max_versions: u.quota.max_versions,
    }
}

/// `GET /api/v1/admin/quotas`: every owner's usage and limits.
pub async fn list_quotas(app: &Arc<App>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let (who, _, out) = run_admin(app, req, |_| Ok(Command::Usage { owner: None }), false).await?;
    let Output::Usage(list) = out else {
        return Err(ApiError::internal("usage returned something else"));
    };
    let list: Vec<UsageJson> = list.into_iter().map(usage_json).collect();
    Ok(with_user(json(StatusCode::OK, &list), &who))
}

#[derive(Deserialize)]
struct QuotaBody {
    #[serde(default)]
    max_bytes: Option<u64>,
    #[serde(default)]
    max_versions: Option<u64>,
}

/// `GET /api/v1/admin/quotas/{owner}`, and `PUT` with `{"max_bytes": N|null,
/// "max_versions": N|null}` (a missing or null limit is unlimited); both answer the owner's
/// usage and limits.
pub async fn quota(app: &Arc<App>, req: Request<Incoming>, owner: String) -> Result<Response, ApiError> {
    let put = req.method() == hyper::Method::PUT;
    let o = owner.clone();
    let (who, _, _) = run_admin(
        app,
        req,
        move |v| {
            if !put {
                return Ok(Command::Usage { owner: Some(o) });
            }
            let q: QuotaBody = field(v)?;
            Ok(Command::QuotaSet { owner: o, max_bytes: q.max_bytes, max_versions: q.max_versions })
        },
        put,
    )
    .await?;
    let out =
        app.blocking(move |app| admin::execute(&app.store, Command::Usage { owner: Some(owner) })).await??;
    let Output::Usage(mut list) = out else {
        return Err(ApiError::internal("usage returned something else"));
    };
    let one = list.pop().ok_or_else(|| ApiError::internal("usage of one owner returned nothing"))?;
    Ok(with_user(json(StatusCode::OK, &usage_json(one)), &who))
}

fn token_json(t: TokenInfo, secret: Option<String>) -> TokenJson {
    TokenJson {
        name: t.label,
        scope: if t.write { "write" } else { "read" },
        created_at: rfc3339(t.created),
        expires_at: t.expires.map(rfc3339),
        sha1: secret.clone(),
        token: secret,
    }
}

fn version_json(owner: &str, kind: PackageType, name: &str, v: VersionSummary) -> VersionJson {
    VersionJson {
        owner: owner.to_string(),
        kind: kind.as_str(),
        name: name.to_string(),
        version: v.version,
        created_at: rfc3339(v.created),
        file_count: v.files,
        size: v.size,
    }
}

/// Query parameters as (name, decoded value) pairs; `+` is a space.
fn query(req: &Request<Incoming>) -> Vec<(String, String)> {
    let decode =
        |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn number(q: &[(String, String)], name: &str, default: usize) -> Result<usize, ApiError> {
    match q.iter().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => {
            v.parse().map_err(|_| ApiError::bad_request(format!("{name} must be a whole number")))
        }
    }
}

/// Display spellings of the owner and package, for JSON (the path may differ in case).
fn spelled(app: &App, owner: &str, kind: PackageType, name: &str) -> Result<(String, String), ApiError> {
    let o = app.store.owner(owner)?.map(|o| o.name).unwrap_or_else(|| owner.to_string());
    let p = app.store.package_name(owner, kind, name)?.unwrap_or_else(|| name.to_string());
    Ok((o, p))
}

/// `GET /api/v1/packages/{owner}`.
pub async fn packages(app: &Arc<App>, req: Request<Incoming>, owner: String) -> Result<Response, ApiError> {
    let q = query(&req);
    let kind = match q.iter().find(|(k, _)| k == "type").map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()) {
        None => None,
        Some(k) => {
            Some(PackageType::parse(k).ok_or_else(|| ApiError::bad_request("type must be generic or go"))?)
        }
    };
    let needle = q.iter().find(|(k, _)| k == "q").map(|(_, v)| v.to_ascii_lowercase()).unwrap_or_default();
    let page = number(&q, "page", 1)?.max(1);
    let limit = number(&q, "limit", PAGE_DEFAULT)?.clamp(1, PAGE_MAX);
    read_json(app, req, owner.clone(), move |app| {
        let name = app.store.owner(&owner)?.map(|o| o.name).unwrap_or(owner.clone());
        Ok(app
            .store
            .packages(&owner, kind)?
            .into_iter()
            .filter(|p| p.name.to_ascii_lowercase().contains(&needle))
            .skip((page - 1).saturating_mul(limit))
            .take(limit)
            .map(|p| PackageJson {
                owner: name.clone(),
                kind: p.kind.as_str(),
                name: p.name,
                latest_version: p.latest,
                version_count: p.versions,
                created_at: rfc3339(p.created),
            })
            .collect::<Vec<_>>())
    })
    .await
}

/// `GET /api/v1/packages/{owner}/{type}/{name}`.
pub async fn versions(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    kind: PackageType,
    name: String,
) -> Result<Response, ApiError> {
    read_json(app, req, owner.clone(), move |app| {
        let versions = app
            .store
            .versions(&owner, kind, &name)?
            .ok_or_else(|| missing_in(app, &owner, kind, &name, ""))?;
        let (o, p) = spelled(app, &owner, kind, &name)?;
        Ok(versions.into_iter().map(|v| version_json(&o, kind, &p, v)).collect::<Vec<_>>())
    })
    .await
}

/// `GET /api/v1/packages/{owner}/{type}/{name}/-/latest`: the most recently created version.
pub async fn latest(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    kind: PackageType,
    name: String,
) -> Result<Response, ApiError> {
    read_json(app, req, owner.clone(), move |app| {
        let missing = || missing_in(app, &owner, kind, &name, "");
        let versions = app.store.versions(&owner, kind, &name)?.ok_or_else(missing)?;
        let newest = crate::store::latest_of(kind, versions).ok_or_else(missing)?;
        let (o, p) = spelled(app, &owner, kind, &name)?;
        Ok(version_json(&o, kind, &p, newest))
    })
    .await
}

/// `GET /api/v1/packages/{owner}/{type}/{name}/{version}`.
pub async fn version(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    kind: PackageType,
    name: String,
    version: String,
) -> Result<Response, ApiError> {
    read_json(app, req, owner.clone(), move |app| {
        let v = app
            .store
            .version(&owner, kind, &name, &version)?
            .ok_or_else(|| missing_in(app, &owner, kind, &name, &version))?;
        let (o, p) = spelled(app, &owner, kind, &name)?;
        Ok(version_json(&o, kind, &p, v))
    })
    .await
}

/// `GET /api/v1/packages/{owner}/{type}/{name}/{version}/files`.
pub async fn files(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    kind: PackageType,
    name: String,
    version: String,
) -> Result<Response, ApiError> {
    read_json(app, req, owner.clone(), move |app| {
        let files = app
            .store
            .files(&owner, kind, &name, &version)?
            .ok_or_else(|| missing_in(app, &owner, kind, &name, &version))?;
        Ok(files
            .into_iter()
            .map(|f| FileJson {
                name: f.name,
                size: f.size,
                sha256: crate::http::headers::hex(&f.sha256),
                created_at: rfc3339(f.created),
            })
            .collect::<Vec<_>>())
    })
    .await
}

/// Checks read access to `owner`, then runs `f` on the blocking pool and answers its value
/// as JSON: the shape of every listing endpoint.
async fn read_json<T, F>(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    f: F,
) -> Result<Response, ApiError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&App) -> Result<T, ApiError> + Send + 'static,
{
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let (who, value) = app
        .blocking(move |app| {
            let who = authorize(app, cred.as_ref(), &owner, Access::Read)?;
            Ok::<_, ApiError>((who, f(app)?))
        })
        .await??;
    Ok(with_user(json(StatusCode::OK, &value), &who))
}

/// `DELETE /api/v1/packages/{owner}/{type}/{name}/{version}` and `DELETE {generic base}`.
pub async fn delete_version(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    kind: PackageType,
    name: String,
    version: String,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let who = app
        .blocking(move |app| {
            let who = authorize(app, cred.as_ref(), &owner, Access::Write)?;
            app.store.delete_version(&owner, kind, &name, &version).map_err(|e| match e {
                crate::store::Error::NotFound(_) => missing_in(app, &owner, kind, &name, &version),
                e => e.into(),
            })?;
            Ok::<_, ApiError>(who)
        })
        .await??;
    Ok(with_user(no_content(), &who))
}

fn no_content() -> Response {
    let mut res = Response::new(empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    res
}

/// Authenticates and requires an admin; a change (`writes`) also needs a password or a write
/// token. Blocks.
fn require_admin(
    app: &App,
    cred: Option<&crate::auth::Presented>,
    writes: bool,
) -> Result<Principal, ApiError> {
    match authenticate(app, cred)? {
        None => Err(crate::auth::Denied::Missing.into()),
        Some(p) if !p.admin => Err(ApiError::new(StatusCode::FORBIDDEN, "administrators only")),
        Some(p) if writes && !p.may_write => Err(crate::auth::Denied::ReadOnlyToken.into()),
        Some(p) => Ok(p),
    }
}

/// Checks that the caller is an admin, reads the JSON body if the endpoint takes one, and
/// runs the command it makes. Returns the command too, so the handler can echo it.
async fn run_admin(
    app: &Arc<App>,
    req: Request<Incoming>,
    command: impl FnOnce(Option<serde_json::Value>) -> Result<Command, ApiError> + Send + 'static,
    takes_body: bool,
) -> Result<(Option<Principal>, Command, Output), ApiError> {
    let (parts, body) = req.into_parts();
    let cred = credential(&parts)?;
    // Check the caller before reading a body they may not send.
    let app2 = app.clone();
    let c2 = cred.clone();
    let writes = parts.method != hyper::Method::GET;
    let who = app.blocking(move |app| require_admin(app, c2.as_ref(), writes)).await??;
    let value = if takes_body { Some(body::json(body, app2.limits.body_idle).await?) } else { None };
    let cmd = command(value)?;
    let run = cmd.clone();
    let out = app.blocking(move |app| admin::execute(&app.store, run)).await??;
    Ok((Some(who), cmd, out))
}

fn field<T: serde::de::DeserializeOwned>(v: Option<serde_json::Value>) -> Result<T, ApiError> {
    serde_json::from_value(v.unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

#[derive(Deserialize)]
struct NewOwner {
    username: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    private: bool,
}

/// `POST /api/v1/admin/users`.
pub async fn add_user(app: &Arc<App>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let (who, cmd, _) = run_admin(
        app,
        req,
        |v| {
            let n: NewOwner = field(v)?;
            let password = n.password.ok_or_else(|| ApiError::bad_request("password is required"))?;
            Ok(Command::UserAdd {
                name: n.username,
                password: password.into(),
                admin: n.admin,
                private: n.private,
            })
        },
        true,
    )
    .await?;
    let Command::UserAdd { name, admin, private, .. } = cmd else { unreachable!("built above") };
    let user = UserJson {
        username: name,
        admin,
        private,
        created_at: rfc3339(crate::clock::now()),
        used_bytes: 0,
        used_versions: 0,
    };
    Ok(with_user(json(StatusCode::CREATED, &user), &who))
}

/// `GET /api/v1/admin/users`.
pub async fn list_users(app: &Arc<App>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let (who, _, out) = run_admin(app, req, |_| Ok(Command::UserList), false).await?;
    let Output::Users(users) = out else {
        return Err(ApiError::internal("user list returned no users"));
    };
    let list: Vec<UserJson> = users.into_iter().map(user_json).collect();
    Ok(with_user(json(StatusCode::OK, &list), &who))
}

/// `DELETE /api/v1/admin/users/{name}`.
pub async fn delete_user(app: &Arc<App>, req: Request<Incoming>, name: String) -> Result<Response, ApiError> {
    let (who, _, _) = run_admin(app, req, |_| Ok(Command::UserDelete { name }), false).await?;
    Ok(with_user(no_content(), &who))
}

#[derive(Deserialize)]
struct PatchUser {
    password: String,
}

/// `PATCH /api/v1/admin/users/{name}` with `{"password": …}`.
pub async fn patch_user(app: &Arc<App>, req: Request<Incoming>, name: String) -> Result<Response, ApiError> {
    let (who, _, _) = run_admin(
        app,
        req,
        |v| {
            let p: PatchUser = field(v)?;
            Ok(Command::UserPasswd { name, password: p.password.into() })
        },
        true,
    )
    .await?;
    Ok(with_user(json(StatusCode::OK, &serde_json::json!({})), &who))
}

/// `POST /api/v1/orgs`.
pub async fn add_org(app: &Arc<App>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let (who, cmd, _) = run_admin(
        app,
        req,
        |v| {
            let n: NewOwner = field(v)?;
            Ok(Command::OrgAdd { name: n.username, private: n.private })
        },
        true,
    )
    .await?;
    let Command::OrgAdd { name, private } = cmd else { unreachable!("built above") };
    Ok(with_user(json(StatusCode::CREATED, &serde_json::json!({"username": name, "private": private})), &who))
}

#[derive(Deserialize)]
struct MemberJson {
    role: String,
}

/// `PUT /api/v1/orgs/{org}/members/{user}` with `{"role": "read"|"write"}`.
pub async fn add_member(
    app: &Arc<App>,
    req: Request<Incoming>,
    org: String,
    user: String,
) -> Result<Response, ApiError> {
    let (who, _, _) = run_admin(
        app,
        req,
        |v| {
            let m: MemberJson = field(v)?;
            let role = match m.role.as_str() {
                "read" => Role::Read,
                "write" => Role::Write,
                _ => return Err(ApiError::bad_request("role must be read or write")),
            };
            Ok(Command::MemberAdd { org, user, role })
        },
        true,
    )
    .await?;
    Ok(with_user(no_content(), &who))
}

/// `DELETE /api/v1/orgs/{org}/members/{user}`.
pub async fn remove_member(
    app: &Arc<App>,
    req: Request<Incoming>,
    org: String,
    user: String,
) -> Result<Response, ApiError> {
    let (who, _, _) = run_admin(app, req, |_| Ok(Command::MemberRemove { org, user }), false).await?;
    Ok(with_user(no_content(), &who))
}

/// Token endpoints: the user themself with their password, or an admin. Blocks.
fn require_self(app: &App, cred: Option<&crate::auth::Presented>, user: &str) -> Result<Principal, ApiError> {
    let who = authenticate(app, cred)?.ok_or(crate::auth::Denied::Missing)?;
    if who.admin && who.by_password {
        return Ok(who);
    }
    if crate::names::key(&who.name) != crate::names::key(user) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "you may manage only your own tokens"));
    }
    if !who.by_password {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "token management needs your password, not a token",
        ));
    }
    Ok(who)
}

#[derive(Deserialize)]
struct NewToken {
    name: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    expires_in_days: Option<u64>,
}

/// `POST /api/v1/users/{name}/tokens`.
pub async fn create_token(
    app: &Arc<App>,
    req: Request<Incoming>,
    user: String,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let cred = credential(&parts)?;
    let u = user.clone();
    let who = app.blocking(move |app| require_self(app, cred.as_ref(), &u)).await??;
    let n: NewToken = body::json(body, app.limits.body_idle).await?;
    // Gitea sends `scopes: ["write:package", …]`; any write scope means write.
    let write = match (n.scope.as_deref(), &n.scopes) {
        (Some("write"), _) | (None, None) => true,
        (Some("read"), _) => false,
        (Some(_), _) => return Err(ApiError::bad_request("scope must be read or write")),
        (None, Some(list)) => list.iter().any(|s| s.starts_with("write") || s == "all"),
    };
    let cmd = Command::TokenCreate { user, label: n.name, write, expires_in_days: n.expires_in_days };
    let out = app.blocking(move |app| admin::execute(&app.store, cmd)).await??;
    let Output::Token { secret, info } = out else {
        return Err(ApiError::internal("token creation returned no token"));
    };
    Ok(with_user(json(StatusCode::CREATED, &token_json(info, Some(secret.expose().to_owned()))), &Some(who)))
}

/// `GET /api/v1/users/{name}/tokens`.
pub async fn list_tokens(app: &Arc<App>, req: Request<Incoming>, user: String) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let (who, out) = app
        .blocking(move |app| {
            let who = require_self(app, cred.as_ref(), &user)?;
            Ok::<_, ApiError>((who, admin::execute(&app.store, Command::TokenList { user })?))
        })
        .await??;
    let Output::Tokens(list) = out else {
        return Err(ApiError::internal("token list returned no tokens"));
    };
    let list: Vec<TokenJson> = list.into_iter().map(|t| token_json(t, None)).collect();
    Ok(with_user(json(StatusCode::OK, &list), &Some(who)))
}

/// `DELETE /api/v1/users/{name}/tokens/{label}`.
pub async fn revoke_token(
    app: &Arc<App>,
    req: Request<Incoming>,
    user: String,
    label: String,
) -> Result<Response, ApiError> {
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let who = app
        .blocking(move |app| {
            let who = require_self(app, cred.as_ref(), &user)?;
            admin::execute(&app.store, Command::TokenRevoke { user, label })?;
            Ok::<_, ApiError>(who)
        })
        .await??;
    Ok(with_user(no_content(), &Some(who)))
}
