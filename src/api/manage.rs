//! The management API under `/api/v1` (docs/api.md): package listings and deletion, and the
//! administration of users, organizations and tokens.
//!
//! Administration goes through [`crate::admin::execute`], the same code the CLI runs, so
//! the two can never disagree. JSON field names follow Gitea's where one exists.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::{Deserialize, Serialize};

use super::{authenticate, authorize, credential, json, missing_in, no_content, with_user};
use crate::admin::{self, Command, Output, TokenInfo, UserInfo};
use crate::app::App;
use crate::auth::{Access, Principal};
use crate::clock::rfc3339;
use crate::http::body;
use crate::http::{ApiError, Response};
use crate::store::{OwnerRec, PackageType, Publisher, Role, VersionSummary};

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

/// Query parameters as (name, decoded value) pairs; `+` is a space.
pub(super) fn query(req: &Request<Incoming>) -> Vec<(String, String)> {
    crate::http::query::pairs(req.uri().query().unwrap_or(""))
}

/// Default and largest page size of listings.
const PAGE_DEFAULT: u64 = 50;
const PAGE_MAX: u64 = 1000;

/// Gitea's `page` (1-based; 0 is 1) and `limit` (0 is the default; above the largest, the
/// largest) of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Paging {
    page: u64,
    limit: u64,
}

impl Paging {
    pub(super) fn of(q: &[(String, String)]) -> Result<Paging, ApiError> {
        let number = |name: &str| -> Result<Option<u64>, ApiError> {
            match q.iter().find(|(k, _)| k == name) {
                None => Ok(None),
                Some((_, v)) if v.is_empty() => Ok(None),
                Some((_, v)) => v
                    .parse()
                    .map(Some)
                    .map_err(|_| ApiError::bad_request(format!("{name} must be a whole number, not {v:?}"))),
            }
        };
        let page = number("page")?.unwrap_or(1).max(1);
        let limit = match number("limit")?.unwrap_or(0) {
            0 => PAGE_DEFAULT,
            n => n.min(PAGE_MAX),
        };
        Ok(Paging { page, limit })
    }

    pub(super) fn offset(self) -> u64 {
        (self.page - 1).saturating_mul(self.limit)
    }

    pub(super) fn limit(self) -> usize {
        usize::try_from(self.limit).unwrap_or(usize::MAX)
    }

    /// Gitea's `Link` header for a list of `total` items: next, last, first, prev (those that
    /// exist), each the request's path and query with `page` changed; `None` for one page.
    fn link(self, path: &str, query: Option<&str>, total: u64) -> Option<String> {
        let pages = total.div_ceil(self.limit).max(1);
        let current = self.page.min(pages);
        let url = |page: u64| {
            let mut pairs: Vec<String> = Vec::new();
            let mut placed = false;
            for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
                if pair == "page" || pair.starts_with("page=") {
                    if !placed {
                        pairs.push(format!("page={page}"));
                        placed = true;
                    }
                } else {
                    pairs.push(pair.to_string());
                }
            }
            if !placed {
                pairs.push(format!("page={page}"));
            }
            format!("<{path}?{}>", pairs.join("&"))
        };
        let mut links = Vec::new();
        if current < pages {
            links.push(format!("{}; rel=\"next\"", url(current + 1)));
            links.push(format!("{}; rel=\"last\"", url(pages)));
        }
        if current > 1 {
            links.push(format!("{}; rel=\"first\"", url(1)));
            links.push(format!("{}; rel=\"prev\"", url(current - 1)));
        }
        (!links.is_empty()).then(|| links.join(","))
    }
}

/// Gitea's `User`, for owners and creators of packages. depot keeps no e-mail, full name or
/// avatar: those are empty strings.
#[derive(Clone, Serialize)]
struct UserOut {
    id: i64,
    login: String,
    login_name: &'static str,
    source_id: i64,
    full_name: &'static str,
    email: &'static str,
    avatar_url: &'static str,
    html_url: String,
    language: &'static str,
    is_admin: bool,
    created: String,
    restricted: bool,
    active: bool,
    prohibit_login: bool,
    location: &'static str,
    website: &'static str,
    description: &'static str,
    visibility: &'static str,
    followers_count: u64,
    following_count: u64,
    starred_repos_count: u64,
    username: String,
}

impl UserOut {
    fn of(base: &str, id: i64, name: &str, created: u64, private: bool) -> UserOut {
        UserOut {
            id,
            login: name.to_string(),
            login_name: "",
            source_id: 0,
            full_name: "",
            email: "",
            avatar_url: "",
            html_url: format!("{base}/{}", crate::http::query::encode(name)),
            language: "",
            is_admin: false,
            created: rfc3339(created),
            restricted: false,
            active: true,
            prohibit_login: false,
            location: "",
            website: "",
            description: "",
            visibility: if private { "private" } else { "public" },
            followers_count: 0,
            following_count: 0,
            starred_repos_count: 0,
            username: name.to_string(),
        }
    }

    fn owner(base: &str, id: u64, rec: &OwnerRec) -> UserOut {
        UserOut::of(base, id as i64, &rec.name, rec.created, rec.private)
    }

    /// Gitea's stand-in for a deleted user.
    fn ghost(base: &str) -> UserOut {
        UserOut::of(base, -1, "Ghost", 0, false)
    }
}

/// Gitea's `Package`: one version. `file_count` and `size` are depot's own.
#[derive(Serialize)]
pub(super) struct PackageOut {
    id: u64,
    owner: UserOut,
    repository: Option<()>,
    creator: UserOut,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    version: String,
    html_url: String,
    created_at: String,
    file_count: u64,
    size: u64,
}

/// Gitea's `PackageFile`; depot keeps only sha256 (the other hashes are empty strings).
/// `created_at` is depot's own.
#[derive(Serialize)]
pub(super) struct FileOut {
    id: u64,
    size: u64,
    name: String,
    md5: &'static str,
    sha1: &'static str,
    sha256: String,
    sha512: &'static str,
    created_at: String,
}

impl FileOut {
    pub(super) fn of(f: crate::store::FileRec) -> FileOut {
        FileOut {
            id: f.id,
            size: f.size,
            name: f.name,
            md5: "",
            sha1: "",
            sha256: crate::http::headers::hex(&f.sha256),
            sha512: "",
            created_at: rfc3339(f.created),
        }
    }
}

/// Builds `Package`s of one owner.
pub(super) struct Packages {
    base: String,
    owner: UserOut,
    owner_name: String,
    ghost: UserOut,
    users: std::collections::HashMap<u64, UserOut>,
}

impl Packages {
    /// `None` when the owner does not exist (it went between the check and the read).
    pub(super) fn new(app: &App, base: String, owner: &str) -> Result<Option<Packages>, ApiError> {
        let (Some(rec), Some(id)) = (app.store.owner(owner)?, app.store.owner_id(owner)?) else {
            return Ok(None);
        };
        Ok(Some(Packages {
            owner: (UserOut::owner(&base, id, &rec)),
            owner_name: rec.name,
            ghost: (UserOut::ghost(&base)),
            users: std::collections::HashMap::new(),
            base,
        }))
    }

    /// A version as Gitea's `Package`. A version stored before creators were recorded was
    /// created, as far as anyone can tell, by its owner (the organization itself for one).
    pub(super) fn out(&mut self, v: VersionSummary) -> PackageOut {
        let creator = match v.creator {
            Publisher::Unrecorded => self.owner.clone(),
            Publisher::Gone => self.ghost.clone(),
            Publisher::User(id, rec) => {
                let base = &self.base;
                self.users.entry(id).or_insert_with(|| UserOut::owner(base, id, &rec)).clone()
            }
        };
        PackageOut {
            id: v.rec.id,
            owner: self.owner.clone(),
            repository: None,
            creator,
            kind: v.kind.as_str(),
            html_url: format!(
                "{}/{}/-/packages/{}/{}/{}",
                self.base,
                crate::http::query::encode(&self.owner_name),
                v.kind.as_str(),
                crate::http::query::encode(&v.package),
                crate::http::query::encode(&v.rec.version)
            ),
            name: v.package,
            version: v.rec.version,
            created_at: rfc3339(v.rec.created),
            file_count: v.rec.files,
            size: v.rec.size,
        }
    }
}

/// Gitea's package event payload (`PackagePayload`): what a webhook delivery posts.
#[derive(Serialize)]
struct PackageEvent {
    action: &'static str,
    package: PackageOut,
    sender: UserOut,
}

/// The body of a delivery of `event`, with links under `base`: the `Package` of the version
/// as recorded at the change (it may be gone since), the owner and the sender as they are
/// now. The sender of a change no user made (a cleanup rule) is Gitea's ghost user.
///
/// # Errors
/// Why it cannot be rendered (the owner is gone, or a read failed).
pub(crate) fn package_event(
    app: &App,
    base: &str,
    event: &crate::store::EventRec,
) -> Result<Vec<u8>, String> {
    let kind =
        PackageType::parse(&event.kind).ok_or_else(|| format!("unknown package type {:?}", event.kind))?;
    let mut out = Packages::new(app, base.to_string(), &event.owner)
        .map_err(|e| e.message)?
        .ok_or_else(|| format!("owner {} is gone", event.owner))?;
    let creator = app.store.publisher(event.version.creator.as_ref()).map_err(|e| e.to_string())?;
    let sender = match app.store.publisher(event.sender.as_ref()).map_err(|e| e.to_string())? {
        Publisher::User(id, rec) => UserOut::owner(base, id, &rec),
        Publisher::Unrecorded | Publisher::Gone => out.ghost.clone(),
    };
    let package =
        out.out(VersionSummary { kind, package: event.package.clone(), rec: event.version.clone(), creator });
    let payload = PackageEvent { action: event.action.as_str(), package, sender };
    Ok(serde_json::to_vec(&payload).expect("our payload types always serialize"))
}

/// A JSON answer, with the paging headers of a list when `total` is set.
pub(super) struct Answer<T> {
    pub(super) value: T,
    pub(super) total: Option<u64>,
}

impl<T> Answer<T> {
    fn one(value: T) -> Answer<T> {
        Answer { value, total: None }
    }
}

/// `GET /api/v1/packages/{owner}`: the owner's versions, newest first, each as a `Package`.
pub async fn packages(app: &Arc<App>, req: Request<Incoming>, owner: String) -> Result<Response, ApiError> {
    let q = query(&req);
    let kind = match q.iter().find(|(k, _)| k == "type").map(|(_, v)| v.trim()).filter(|v| !v.is_empty()) {
        None => None,
        Some(k) => {
            Some(PackageType::parse(k).ok_or_else(|| ApiError::bad_request("type must be generic or go"))?)
        }
    };
    let needle = q.iter().find(|(k, _)| k == "q").map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let paging = Paging::of(&q)?;
    read_json(app, req, owner.clone(), paging, move |app, base| {
        let page = app.store.owner_versions(&owner, kind, &needle, paging.offset(), paging.limit())?;
        let Some(mut out) = Packages::new(app, base, &owner)? else {
            return Ok(Answer { value: Vec::new(), total: Some(0) });
        };
        let value: Vec<PackageOut> = page.items.into_iter().map(|v| out.out(v)).collect();
        Ok(Answer { value, total: Some(page.total) })
    })
    .await
}

/// `GET /api/v1/packages/{owner}/{type}/{name}`: the package's versions, newest first.
pub async fn versions(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    kind: PackageType,
    name: String,
) -> Result<Response, ApiError> {
    let paging = Paging::of(&query(&req))?;
    read_json(app, req, owner.clone(), paging, move |app, base| {
        let missing = || missing_in(app, &owner, kind, &name, "");
        let page = app
            .store
            .package_versions(&owner, kind, &name, paging.offset(), paging.limit())?
            .ok_or_else(missing)?;
        let mut out = Packages::new(app, base, &owner)?.ok_or_else(missing)?;
        let value: Vec<PackageOut> = page.items.into_iter().map(|v| out.out(v)).collect();
        Ok(Answer { value, total: Some(page.total) })
    })
    .await
}

/// `GET /api/v1/packages/{owner}/{type}/{name}/-/latest`: the version "latest" means (the
/// newest; for a Go module what `@latest` resolves to), from the package's summary.
pub async fn latest(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    kind: PackageType,
    name: String,
) -> Result<Response, ApiError> {
    read_json(app, req, owner.clone(), Paging { page: 1, limit: 1 }, move |app, base| {
        let missing = || missing_in(app, &owner, kind, &name, "");
        let v = app.store.latest(&owner, kind, &name)?.ok_or_else(missing)?;
        let mut out = Packages::new(app, base, &owner)?.ok_or_else(missing)?;
        Ok(Answer::one(out.out(v)))
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
    read_json(app, req, owner.clone(), Paging { page: 1, limit: 1 }, move |app, base| {
        let missing = || missing_in(app, &owner, kind, &name, &version);
        let v = app.store.version(&owner, kind, &name, &version)?.ok_or_else(missing)?;
        let mut out = Packages::new(app, base, &owner)?.ok_or_else(missing)?;
        Ok(Answer::one(out.out(v)))
    })
    .await
}

/// `GET /api/v1/packages/{owner}/{type}/{name}/{version}/files`: in upload order.
pub async fn files(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    kind: PackageType,
    name: String,
    version: String,
) -> Result<Response, ApiError> {
    let paging = Paging::of(&query(&req))?;
    read_json(app, req, owner.clone(), paging, move |app, _| {
        let page = app
            .store
            .files_page(&owner, kind, &name, &version, paging.offset(), paging.limit())?
            .ok_or_else(|| missing_in(app, &owner, kind, &name, &version))?;
        let value: Vec<FileOut> = page.items.into_iter().map(FileOut::of).collect();
        Ok(Answer { value, total: Some(page.total) })
    })
    .await
}

/// Checks read access to `owner`, then runs `f` on the blocking pool (with the base URL of
/// links) and answers its value as JSON, with `X-Total-Count` and `Link` for a list: the
/// shape of every listing endpoint.
pub(super) async fn read_json<T, F>(
    app: &Arc<App>,
    req: Request<Incoming>,
    owner: String,
    paging: Paging,
    f: F,
) -> Result<Response, ApiError>
where
    T: Serialize + Send + 'static,
    F: FnOnce(&App, String) -> Result<Answer<T>, ApiError> + Send + 'static,
{
    let (parts, _) = req.into_parts();
    let cred = credential(&parts)?;
    let base = crate::http::base_url(app.https, &parts);
    let (who, answer) = app
        .blocking(move |app| {
            let who = authorize(app, cred.as_ref(), &owner, Access::Read)?;
            Ok::<_, ApiError>((who, f(app, base)?))
        })
        .await??;
    let mut res = json(StatusCode::OK, &answer.value);
    if let Some(total) = answer.total {
        let headers = res.headers_mut();
        headers.insert("x-total-count", hyper::header::HeaderValue::from(total));
        if let Some(link) = paging.link(parts.uri.path(), parts.uri.query(), total) {
            if let Ok(v) = hyper::header::HeaderValue::from_str(&link) {
                headers.insert(hyper::header::LINK, v);
            }
        }
    }
    Ok(with_user(res, &who))
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
            let by = who.as_ref().map(|p| p.name.clone());
            app.store.delete_version_by(&owner, kind, &name, &version, by).map_err(|e| match e {
                crate::store::Error::NotFound(_) => missing_in(app, &owner, kind, &name, &version),
                e => e.into(),
            })?;
            Ok::<_, ApiError>(who)
        })
        .await??;
    Ok(with_user(no_content(), &who))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn paging_takes_gitea_page_and_limit_and_clamps_the_limit() {
        assert_eq!(Paging::of(&q(&[])).unwrap(), Paging { page: 1, limit: PAGE_DEFAULT });
        assert_eq!(Paging::of(&q(&[("page", "0"), ("limit", "0")])).unwrap(), Paging { page: 1, limit: 50 });
        assert_eq!(Paging::of(&q(&[("page", "3"), ("limit", "7")])).unwrap(), Paging { page: 3, limit: 7 });
        assert_eq!(Paging::of(&q(&[("limit", "5000")])).unwrap().limit, PAGE_MAX);
        assert_eq!(Paging::of(&q(&[("limit", "1001")])).unwrap().limit, 1000);
        for (k, v) in [("page", "-1"), ("page", "x"), ("limit", "1.5"), ("limit", "99999999999999999999999")]
        {
            let e = Paging::of(&q(&[(k, v)])).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{k}={v}");
            assert!(e.message.contains(k) && e.message.contains("whole number"), "{k}={v}: {}", e.message);
        }
        assert_eq!(Paging { page: u64::MAX, limit: 1000 }.offset(), u64::MAX, "no overflow");
    }

    #[test]
    fn link_names_next_last_first_prev_with_the_page_changed() {
        let p = |page, limit| Paging { page, limit };
        assert_eq!(p(1, 50).link("/l", None, 0), None);
        assert_eq!(p(1, 50).link("/l", None, 50), None);
        assert_eq!(
            p(1, 2).link("/l", Some("type=go&limit=2"), 5).as_deref(),
            Some(r#"</l?type=go&limit=2&page=2>; rel="next",</l?type=go&limit=2&page=3>; rel="last""#)
        );
        assert_eq!(
            p(2, 2).link("/l", Some("page=2&limit=2"), 5).as_deref(),
            Some(
                r#"</l?page=3&limit=2>; rel="next",</l?page=3&limit=2>; rel="last",</l?page=1&limit=2>; rel="first",</l?page=1&limit=2>; rel="prev""#
            )
        );
        assert_eq!(
            p(3, 2).link("/l", Some("limit=2&page=3&page=9"), 5).as_deref(),
            Some(r#"</l?limit=2&page=1>; rel="first",</l?limit=2&page=2>; rel="prev""#)
        );
        // Past the end: the links of the last page.
        assert_eq!(
            p(9, 2).link("/l", Some("page=9&limit=2"), 5).as_deref(),
            Some(r#"</l?page=1&limit=2>; rel="first",</l?page=2&limit=2>; rel="prev""#)
        );
    }
}
