//! The page handlers: each gathers what its page shows on the blocking pool (session,
//! permission, store queries) and renders one template.

use std::sync::Arc;

use askama::Template;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, SET_COOKIE};
use hyper::http::request::Parts;
use hyper::{Method, Request, StatusCode};

use super::session::{self, Viewer, LOGIN_COOKIE, SESSION_COOKIE, SESSION_SECS};
use super::{assets, html, see_other, Page, PageError};
use crate::admin::{self, Command, Output};
use crate::api::permit;
use crate::app::App;
use crate::auth::{Access, Credential, Presented, Principal, Verdict};
use crate::http::query::{self, encode};
use crate::http::{ClientAddr, Response};
use crate::store::{FileTarget, PackageType};

/// Rows per page of every list.
pub const PAGE_ROWS: usize = 50;
/// Largest form body, in bytes: the forms have a few short fields.
const MAX_FORM_BYTES: usize = 16 << 10;

/// What every page's frame shows: title, who is signed in, the sign-out form's token.
pub struct Chrome {
    pub title: String,
    pub viewer: Option<String>,
    pub csrf: String,
    pub css: &'static str,
    pub js: &'static str,
    pub version: &'static str,
    /// `?redirect_to=…` for the sign-in link, so signing in comes back here.
    pub login_return: String,
}

impl Chrome {
    pub fn anonymous(title: String) -> Chrome {
        Chrome::new(title, None, "")
    }

    fn new(title: String, viewer: Option<&Viewer>, here: &str) -> Chrome {
        Chrome {
            title,
            viewer: viewer.map(|v| v.who.name.clone()),
            csrf: viewer.map(Viewer::csrf).unwrap_or_default(),
            css: &assets::CSS.path,
            js: &assets::JS.path,
            version: env!("CARGO_PKG_VERSION"),
            login_return: if here.is_empty() || here == "/" {
                String::new()
            } else {
                format!("?redirect_to={}", encode(here))
            },
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub message: String,
}

/// Previous and next links of a paged list.
pub struct Pager {
    pub page: usize,
    pub pages: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// The pager for `total` rows shown [`PAGE_ROWS`] at a time; `link(n)` is page n's URL.
    fn new(page: usize, total: usize, link: impl Fn(usize) -> String) -> Pager {
        let pages = total.div_ceil(PAGE_ROWS).max(1);
        Pager {
            page,
            pages,
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        }
    }
}

/// A copy-paste snippet.
pub struct Snippet {
    pub id: &'static str,
    pub label: &'static str,
    pub text: String,
}

pub struct PackageRow {
    pub owner: String,
    pub kind: &'static str,
    pub name: String,
    pub href: String,
    pub latest: String,
    pub versions: u64,
    pub updated: String,
    pub updated_short: String,
}

/// A cleanup rule as the owner's page lists it.
pub struct RuleRow {
    pub id: u64,
    pub kind: String,
    pub enabled: bool,
    pub keep_count: u64,
    pub keep_pattern: String,
    pub remove_days: u64,
    pub remove_pattern: String,
    pub full_name: bool,
    pub preview: String,
    pub delete: String,
}

/// The rules section of an owner's page, for those who may write.
pub struct RulesSection {
    pub rows: Vec<RuleRow>,
    /// Where the create form posts.
    pub action: String,
}

#[derive(Template)]
#[template(path = "packages.html")]
struct PackagesPage {
    chrome: Chrome,
    /// `Some` on an owner's page for a viewer who may write there.
    rules: Option<RulesSection>,
    owner: Option<String>,
    action: String,
    q: String,
    kind: String,
    sort: String,
    rows: Vec<PackageRow>,
    total: usize,
    pager: Pager,
}

pub struct VersionRow {
    pub version: String,
    pub href: String,
    pub latest: bool,
    pub files: u64,
    pub size: String,
    pub created: String,
    pub created_short: String,
}

#[derive(Template)]
#[template(path = "package.html")]
struct PackagePage {
    chrome: Chrome,
    owner: String,
    kind: &'static str,
    name: String,
    latest: Option<String>,
    snippet: Snippet,
    total: usize,
    versions: Vec<VersionRow>,
    pager: Pager,
}

pub struct FileRow {
    pub name: String,
    pub download: String,
    pub bytes: u64,
    pub size: String,
    pub sha256: String,
    pub created: String,
    pub created_short: String,
    pub delete: Option<String>,
}

#[derive(Template)]
#[template(path = "version.html")]
struct VersionPage {
    chrome: Chrome,
    owner: String,
    kind: &'static str,
    name: String,
    package_href: String,
    version: String,
    created: String,
    created_short: String,
    files: Vec<FileRow>,
    total_files: u64,
    pager: Pager,
    snippet: Snippet,
    may_write: bool,
    delete_version: String,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "delete.html")]
struct DeletePage {
    chrome: Chrome,
    owner: String,
    name: String,
    version: String,
    back: String,
    what: String,
    consequence: String,
    action: String,
    file: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    error: Option<String>,
    csrf: String,
    redirect_to: String,
    user_name: String,
}

pub struct TokenRow {
    pub label: String,
    pub scope: &'static str,
    pub created: String,
    pub expires: String,
}

pub struct CreatedToken {
    pub label: String,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    chrome: Chrome,
    user: String,
    error: Option<String>,
    created: Option<CreatedToken>,
    snippet: Snippet,
    tokens: Vec<TokenRow>,
}

/// Serves `page` (not an asset).
pub async fn handle(app: &Arc<App>, page: Page, req: Request<Incoming>) -> Result<Response, PageError> {
    let (parts, body) = req.into_parts();
    let post = parts.method == Method::POST;
    match page {
        Page::Explore => packages(app, parts, None).await,
        Page::Owner { owner } => packages(app, parts, Some(owner)).await,
        Page::Package { owner, kind, name } => package(app, parts, owner, kind, name).await,
        Page::Version { owner, kind, name, version } => {
            let at = FileTarget { owner, kind, package: name, version, file: String::new() };
            version_page(app, parts, at).await
        }
        Page::Delete { owner, kind, name, version } => {
            let at = FileTarget { owner, kind, package: name, version, file: String::new() };
            if post {
                let form = form(app, body).await?;
                delete(app, parts, at, form).await
            } else {
                confirm_delete(app, parts, at).await
            }
        }
        Page::Rules { owner } => {
            let form = form(app, body).await?;
            change_rule(app, parts, owner, None, form).await
        }
        Page::RuleDelete { owner, id } => {
            let form = form(app, body).await?;
            change_rule(app, parts, owner, Some(id), form).await
        }
        Page::RulePreview { owner, id } => rule_preview(app, parts, owner, id).await,
        Page::Login if post => {
            let form = form(app, body).await?;
            login(app, parts, form).await
        }
        Page::Login => login_form(app, parts).await,
        Page::Logout => {
            let form = form(app, body).await?;
            logout(app, parts, form).await
        }
        Page::Tokens => {
            let form = if post { Some(form(app, body).await?) } else { None };
            tokens(app, parts, form).await
        }
        Page::Asset { .. } => Err(PageError::not_found("no such page")),
    }
}

async fn form(app: &App, body: Incoming) -> Result<Vec<(String, String)>, PageError> {
    let bytes = crate::http::body::bounded(body, app.limits.body_idle, MAX_FORM_BYTES)
        .await
        .map_err(crate::http::ApiError::from)?;
    Ok(query::pairs(&String::from_utf8_lossy(&bytes)))
}

/// The request's path and query, for coming back after sign-in.
fn here(parts: &Parts) -> String {
    parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_string()
}

fn params(parts: &Parts) -> Vec<(String, String)> {
    query::pairs(parts.uri.query().unwrap_or(""))
}

/// `?page=` as a number from 1 (anything else is page 1: a page link is never an error).
fn page_number(q: &[(String, String)]) -> usize {
    query::get(q, "page").and_then(|p| p.parse().ok()).filter(|&p| p >= 1).unwrap_or(1)
}

/// Checks that `who` may read `owner`'s packages; a refusal of any kind reads as a missing
/// owner (a page never says that a private owner exists).
fn readable(app: &App, who: Option<&Principal>, owner: &str) -> Result<(), PageError> {
    permit(app, who, owner, Access::Read).map_err(|e| {
        if e.status == StatusCode::NOT_FOUND || e.status == StatusCode::UNAUTHORIZED {
            PageError::not_found(format!("no user or organization named {owner:?}"))
        } else {
            e.into()
        }
    })
}

fn writable(app: &App, who: Option<&Principal>, owner: &str) -> bool {
    who.is_some() && permit(app, who, owner, Access::Write).is_ok()
}

pub fn package_href(owner: &str, kind: PackageType, name: &str) -> String {
    format!("/{}/-/packages/{}/{}", encode(owner), kind.as_str(), encode(name))
}

pub fn version_href(owner: &str, kind: PackageType, name: &str, version: &str) -> String {
    format!("{}/{}", package_href(owner, kind, name), encode(version))
}

fn time(secs: u64) -> (String, String) {
    let full = crate::clock::rfc3339(secs);
    let short = full.get(..16).map_or_else(|| full.clone(), |s| s.replacen('T', " ", 1));
    (full, short)
}

/// Bytes for people: `512 B`, `4.0 KiB`, `1.5 GiB`.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `/` and `/{owner}/-/packages`.
async fn packages(app: &Arc<App>, parts: Parts, owner: Option<String>) -> Result<Response, PageError> {
    let q = params(&parts);
    let needle = query::get(&q, "q").unwrap_or("").trim().to_string();
    let kind_text = query::get(&q, "type").unwrap_or("").to_string();
    let kind = PackageType::parse(&kind_text);
    let kind_text = kind.map_or("", |k| k.as_str()).to_string();
    let sort = if query::get(&q, "sort") == Some("name") { "name" } else { "recent" };
    let page = page_number(&q);
    let here = here(&parts);
    let lower = needle.to_ascii_lowercase();
    let (viewer, owner_name, mut all, rules) = app
        .blocking(move |app| {
            let viewer = session::viewer(app, &parts.headers)?;
            let who = viewer.as_ref().map(|v| &v.who);
            let rules = match &owner {
                Some(o) if writable(app, who, o) => Some(app.store.rules(o)?),
                _ => None,
            };
            let owners = match &owner {
                Some(o) => {
                    readable(app, who, o)?;
                    vec![app.store.owner(o)?.map_or_else(|| o.clone(), |r| r.name)]
                }
                None => app
                    .store
                    .owners()?
                    .into_iter()
                    .map(|o| o.name)
                    .filter(|o| readable(app, who, o).is_ok())
                    .collect(),
            };
            let mut rows = Vec::new();
            for o in &owners {
                for p in app.store.packages(o, kind)? {
                    if !lower.is_empty() && !p.rec.name.to_ascii_lowercase().contains(&lower) {
                        continue;
                    }
                    rows.push((p.rec.updated, o.clone(), p));
                }
            }
            Ok::<_, PageError>((
                viewer,
                owner.map(|_| owners.into_iter().next().unwrap_or_default()),
                rows,
                rules,
            ))
        })
        .await??;
    match sort {
        "name" => all.sort_by(|a, b| (&a.2.key, &a.1).cmp(&(&b.2.key, &b.1))),
        _ => all.sort_by_key(|row| std::cmp::Reverse(row.0)),
    }
    let total = all.len();
    let rows = all
        .into_iter()
        .skip((page - 1) * PAGE_ROWS)
        .take(PAGE_ROWS)
        .map(|(updated, owner, p)| {
            let (updated, updated_short) = time(updated);
            PackageRow {
                href: package_href(&owner, p.kind, &p.rec.name),
                owner,
                kind: p.kind.as_str(),
                name: p.rec.name,
                latest: p.rec.latest.unwrap_or_default(),
                versions: p.rec.versions,
                updated,
                updated_short,
            }
        })
        .collect();
    let action = match &owner_name {
        Some(o) => format!("/{}/-/packages", encode(o)),
        None => "/".to_string(),
    };
    let link = |n: usize| format!("{action}?q={}&type={kind_text}&sort={sort}&page={n}", encode(&needle));
    let pager = Pager::new(page, total, link);
    let title = owner_name.clone().unwrap_or_else(|| "Explore".to_string());
    let rules = match (rules, &owner_name) {
        (Some(list), Some(o)) => Some(rules_section(o, list)),
        _ => None,
    };
    Ok(html(&PackagesPage {
        chrome: Chrome::new(title, viewer.as_ref(), &here),
        rules,
        owner: owner_name,
        action,
        q: needle,
        kind: kind_text,
        sort: sort.to_string(),
        rows,
        total,
        pager,
    }))
}

/// `/{owner}/-/settings/packages/rules`, the base of the rule forms and pages.
fn rules_href(owner: &str) -> String {
    format!("/{}/-/settings/packages/rules", encode(owner))
}

fn rules_section(owner: &str, list: Vec<crate::store::RuleRec>) -> RulesSection {
    let base = rules_href(owner);
    RulesSection {
        rows: list
            .into_iter()
            .map(|r| RuleRow {
                preview: format!("{base}/{}/preview", r.id),
                delete: format!("{base}/{}/delete", r.id),
                id: r.id,
                kind: r.kind,
                enabled: r.enabled,
                keep_count: r.keep_count,
                keep_pattern: r.keep_pattern,
                remove_days: r.remove_days,
                remove_pattern: r.remove_pattern,
                full_name: r.match_full_name,
            })
            .collect(),
        action: base,
    }
}

/// A whole number from a form field; empty is 0.
fn form_number(form: &[(String, String)], name: &str) -> Result<u64, PageError> {
    match query::get(form, name).map(str::trim) {
        None | Some("") => Ok(0),
        Some(n) => n.parse().map_err(|_| {
            PageError::Show(StatusCode::BAD_REQUEST, format!("{name} must be a whole number, not {n:?}"))
        }),
    }
}

/// POST `/{owner}/-/settings/packages/rules` (create) and `…/rules/{id}/delete`: through the
/// admin commands the CLI and the API run, for those who may write; then back to the
/// owner's page. A refused rule is a 400 page with the reason.
async fn change_rule(
    app: &Arc<App>,
    parts: Parts,
    owner: String,
    delete: Option<String>,
    form: Vec<(String, String)>,
) -> Result<Response, PageError> {
    let here = here(&parts);
    let to = app
        .blocking(move |app| {
            let viewer = signed_in(app, &parts.headers, &here)?;
            check_form(&parts.headers, &form, &viewer.csrf())?;
            permit(app, Some(&viewer.who), &owner, Access::Write)?;
            let cmd = match delete {
                Some(id) => {
                    let id = id
                        .parse()
                        .map_err(|_| PageError::not_found(format!("{owner} has no cleanup rule {id:?}")))?;
                    Command::RuleDelete { owner: owner.clone(), id }
                }
                None => Command::RuleAdd {
                    owner: owner.clone(),
                    rule: crate::cleanup::NewRule {
                        enabled: query::get(&form, "enabled").is_some(),
                        kind: query::get(&form, "type").unwrap_or("").to_string(),
                        keep_count: form_number(&form, "keep_count")?,
                        keep_pattern: query::get(&form, "keep_pattern").unwrap_or("").to_string(),
                        remove_days: form_number(&form, "remove_days")?,
                        remove_pattern: query::get(&form, "remove_pattern").unwrap_or("").to_string(),
                        match_full_name: query::get(&form, "match_full_name").is_some(),
                    },
                },
            };
            admin::execute(&app.store, cmd).map_err(crate::http::ApiError::from)?;
            let name = app.store.owner(&owner)?.map_or(owner.clone(), |o| o.name);
            Ok::<_, PageError>(format!("/{}/-/packages#rules", encode(&name)))
        })
        .await??;
    Ok(see_other(&to))
}

/// A version a rule would remove.
pub struct PreviewRow {
    pub kind: &'static str,
    pub package: String,
    pub package_href: String,
    pub version: String,
    pub href: String,
    pub created: String,
    pub created_short: String,
}

#[derive(Template)]
#[template(path = "rule_preview.html")]
struct RulePreviewPage {
    chrome: Chrome,
    owner: String,
    id: u64,
    rows: Vec<PreviewRow>,
    total: usize,
    pager: Pager,
}

/// GET `/{owner}/-/settings/packages/rules/{id}/preview`: the versions the rule would remove
/// now (the same walk as an apply), paged; removes nothing. For those who may write.
async fn rule_preview(
    app: &Arc<App>,
    parts: Parts,
    owner: String,
    id: String,
) -> Result<Response, PageError> {
    let here = here(&parts);
    let page = page_number(&params(&parts));
    let (viewer, owner, id, versions) = app
        .blocking(move |app| {
            let viewer = signed_in(app, &parts.headers, &here)?;
            permit(app, Some(&viewer.who), &owner, Access::Write)?;
            let no_rule = || PageError::not_found(format!("{owner} has no cleanup rule {id:?}"));
            let id: u64 = id.parse().map_err(|_| no_rule())?;
            let versions = crate::cleanup::preview(&app.store, &owner, Some(id)).map_err(|e| match e {
                crate::store::Error::NotFound(_) => no_rule(),
                e => e.into(),
            })?;
            let name = app.store.owner(&owner)?.map_or(owner.clone(), |o| o.name);
            Ok::<_, PageError>((viewer, name, id, versions))
        })
        .await??;
    let total = versions.len();
    let rows = versions
        .into_iter()
        .skip((page - 1) * PAGE_ROWS)
        .take(PAGE_ROWS)
        .map(|v| {
            let (created, created_short) = time(v.rec.created);
            PreviewRow {
                kind: v.kind.as_str(),
                package_href: package_href(&owner, v.kind, &v.package),
                href: version_href(&owner, v.kind, &v.package, &v.rec.version),
                package: v.package,
                version: v.rec.version,
                created,
                created_short,
            }
        })
        .collect();
    let base = format!("{}/{id}/preview", rules_href(&owner));
    let pager = Pager::new(page, total, |n| format!("{base}?page={n}"));
    Ok(html(&RulePreviewPage {
        chrome: Chrome::new(format!("Preview of cleanup rule {id}"), Some(&viewer), ""),
        owner,
        id,
        rows,
        total,
        pager,
    }))
}

/// The snippet that fetches a version: curl for each file of a generic package (at most a
/// screenful), `go get` for a Go module.
fn get_snippet(
    base: &str,
    owner: &str,
    kind: PackageType,
    name: &str,
    version: &str,
    files: &[String],
    total: u64,
) -> Snippet {
    let text = match kind {
        PackageType::Generic => {
            let mut lines: Vec<String> = files
                .iter()
                .take(10)
                .map(|f| {
                    format!(
                        "curl --fail -OJ {base}/api/packages/{}/generic/{}/{}/{}",
                        encode(owner),
                        encode(name),
                        encode(version),
                        encode(f)
                    )
                })
                .collect();
            if total > 10 {
                lines.push(format!("# … and {} more files, listed on the version's page", total - 10));
            }
            lines.join("\n")
        }
        PackageType::Go => {
            let prefix = name.split('/').next().unwrap_or(name);
            format!(
                "GOPROXY={base}/api/packages/{}/go,https://proxy.golang.org,direct \\\n  GONOSUMDB={prefix} go get {name}@{version}",
                encode(owner)
            )
        }
    };
    Snippet { id: "get", label: "Commands to download", text }
}

/// `/{owner}/-/packages/{type}/{name}`: versions newest first.
async fn package(
    app: &Arc<App>,
    parts: Parts,
    owner: String,
    kind: PackageType,
    name: String,
) -> Result<Response, PageError> {
    let page = page_number(&params(&parts));
    let here = here(&parts);
    let base = crate::http::base_url(app.https, &parts);
    let (viewer, owner, name, versions, latest, (files, total_files)) = app
        .blocking(move |app| {
            let viewer = session::viewer(app, &parts.headers)?;
            readable(app, viewer.as_ref().map(|v| &v.who), &owner)?;
            let t = FileTarget { owner, kind, package: name, version: String::new(), file: String::new() };
            let offset = ((page - 1) * PAGE_ROWS) as u64;
            let Some(versions) = app.store.package_versions(&t.owner, kind, &t.package, offset, PAGE_ROWS)?
            else {
                return Err(crate::api::missing(app, &t).into());
            };
            let latest = app.store.latest(&t.owner, kind, &t.package)?.map(|l| l.rec.version);
            let files = match &latest {
                Some(v) => app.store.files_page(&t.owner, kind, &t.package, v, 0, 10)?,
                None => None,
            };
            let (files, total_files) = files.map_or((Vec::new(), 0), |p| (p.items, p.total));
            let owner = app.store.owner(&t.owner)?.map_or(t.owner.clone(), |o| o.name);
            let name = app.store.package_name(&t.owner, kind, &t.package)?.unwrap_or(t.package);
            let files: Vec<String> = files.into_iter().map(|f| f.name).collect();
            Ok::<_, PageError>((viewer, owner, name, versions, latest, (files, total_files)))
        })
        .await??;
    let total = versions.total as usize;
    let rows = versions
        .items
        .into_iter()
        .map(|v| {
            let v = v.rec;
            let (created, created_short) = time(v.created);
            VersionRow {
                href: version_href(&owner, kind, &name, &v.version),
                latest: latest.as_deref() == Some(v.version.as_str()),
                version: v.version,
                files: v.files,
                size: human(v.size),
                created,
                created_short,
            }
        })
        .collect();
    let snippet = match &latest {
        Some(v) => get_snippet(&base, &owner, kind, &name, v, &files, total_files),
        None => Snippet { id: "get", label: "", text: String::new() },
    };
    let href = package_href(&owner, kind, &name);
    let pager = Pager::new(page, total, |n| format!("{href}?page={n}"));
    Ok(html(&PackagePage {
        chrome: Chrome::new(name.clone(), viewer.as_ref(), &here),
        owner,
        kind: kind.as_str(),
        name,
        latest,
        snippet,
        total,
        versions: rows,
        pager,
    }))
}

/// `/{owner}/-/packages/{type}/{name}/{version}`.
async fn version_page(app: &Arc<App>, parts: Parts, at: FileTarget) -> Result<Response, PageError> {
    let here = here(&parts);
    let base = crate::http::base_url(app.https, &parts);
    let notice = match query::get(&params(&parts), "deleted") {
        Some(file) if !file.is_empty() => Some(format!("Deleted {file}.")),
        _ => None,
    };
    let kind = at.kind;
    let page = page_number(&params(&parts));
    let (viewer, may_write, owner, name, summary, files) = app
        .blocking(move |app| {
            let viewer = session::viewer(app, &parts.headers)?;
            let who = viewer.as_ref().map(|v| &v.who);
            readable(app, who, &at.owner)?;
            let offset = ((page - 1) * PAGE_ROWS) as u64;
            let (Some(summary), Some(files)) = (
                app.store.version(&at.owner, kind, &at.package, &at.version)?,
                app.store.files_page(&at.owner, kind, &at.package, &at.version, offset, PAGE_ROWS)?,
            ) else {
                return Err(crate::api::missing(app, &at).into());
            };
            let may_write = writable(app, who, &at.owner);
            let owner = app.store.owner(&at.owner)?.map_or(at.owner.clone(), |o| o.name);
            Ok::<_, PageError>((viewer, may_write, owner, summary.package.clone(), summary, files))
        })
        .await??;
    let version = summary.rec.version.clone();
    let href = version_href(&owner, kind, &name, &version);
    let delete = format!("{href}/-/delete");
    let total_files = files.total;
    let pager = Pager::new(page, total_files as usize, |n| format!("{href}?page={n}"));
    let files = files.items;
    let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
    let rows = files
        .into_iter()
        .map(|f| {
            let (created, created_short) = time(f.created);
            let download = match kind {
                PackageType::Generic => format!(
                    "/api/packages/{}/generic/{}/{}/{}",
                    encode(&owner),
                    encode(&name),
                    encode(&version),
                    encode(&f.name)
                ),
                // A module's files are served by the GOPROXY routes under their own names.
                PackageType::Go => format!(
                    "/api/packages/{}/go/{}/@v/{}",
                    encode(&owner),
                    crate::gomod::path::escape(&name),
                    crate::gomod::path::escape(&f.name)
                ),
            };
            FileRow {
                delete: (may_write && kind == PackageType::Generic)
                    .then(|| format!("{delete}?file={}", encode(&f.name))),
                download,
                bytes: f.size,
                size: human(f.size),
                sha256: crate::http::headers::hex(&f.sha256),
                name: f.name,
                created,
                created_short,
            }
        })
        .collect();
    let (created, created_short) = time(summary.rec.created);
    Ok(html(&VersionPage {
        chrome: Chrome::new(format!("{name} {version}"), viewer.as_ref(), &here),
        snippet: get_snippet(&base, &owner, kind, &name, &version, &names, total_files),
        total_files,
        pager,
        package_href: package_href(&owner, kind, &name),
        owner,
        kind: kind.as_str(),
        name,
        version,
        created,
        created_short,
        files: rows,
        may_write,
        delete_version: delete,
        notice,
    }))
}

/// The signed-in viewer, or a redirect to sign in. Blocks.
fn signed_in(app: &App, headers: &HeaderMap, here: &str) -> Result<Viewer, PageError> {
    session::viewer(app, headers)?.ok_or_else(|| PageError::SignIn { return_to: here.to_string() })
}

/// Refuses a form post from another origin or without this session's token: 403, nothing
/// changed.
fn check_form(headers: &HeaderMap, form: &[(String, String)], expected: &str) -> Result<(), PageError> {
    if !session::same_origin(headers) {
        return Err(PageError::forbidden("this form was sent from another site; nothing was changed"));
    }
    if !session::token_matches(query::get(form, "_csrf"), expected) {
        return Err(PageError::forbidden(
            "this form has expired or belongs to another session; reload the page and try again (nothing was changed)",
        ));
    }
    Ok(())
}

/// GET `…/{version}/-/delete[?file=]`: the confirmation step.
async fn confirm_delete(app: &Arc<App>, parts: Parts, at: FileTarget) -> Result<Response, PageError> {
    let file = query::get(&params(&parts), "file").map(str::to_string).filter(|f| !f.is_empty());
    let here = here(&parts);
    let kind = at.kind;
    let (viewer, owner, name, version, file) = app
        .blocking(move |app| {
            let viewer = signed_in(app, &parts.headers, &here)?;
            // Writing implies reading: an owner the viewer may not read is a 404 here too.
            permit(app, Some(&viewer.who), &at.owner, Access::Write)?;
            let target = FileTarget { file: file.clone().unwrap_or_default(), ..at.clone() };
            let missing = || PageError::from(crate::api::missing(app, &target));
            let summary =
                app.store.version(&at.owner, kind, &at.package, &at.version)?.ok_or_else(missing)?;
            let file = match file {
                Some(_) => Some(app.store.file(&target)?.ok_or_else(missing)?.name),
                None => None,
            };
            let owner = app.store.owner(&at.owner)?.map_or(at.owner.clone(), |o| o.name);
            Ok::<_, PageError>((viewer, owner, summary.package, summary.rec.version, file))
        })
        .await??;
    let back = version_href(&owner, kind, &name, &version);
    let (what, consequence) = match &file {
        Some(f) => (
            format!("file {f}"),
            format!("The file {f} of {name} {version} will be removed; when it is the version's last file, the version goes with it."),
        ),
        None => (format!("version {version}"), format!("Version {version} of {name} and all its files will be removed.")),
    };
    Ok(html(&DeletePage {
        chrome: Chrome::new(format!("Delete {what}"), Some(&viewer), ""),
        action: format!("{back}/-/delete"),
        owner,
        name,
        version,
        back,
        what,
        consequence,
        file,
    }))
}

/// POST `…/{version}/-/delete`: deletes a file (field `file`) or the whole version, through
/// the store's one delete path, then goes back to what is left.
async fn delete(
    app: &Arc<App>,
    parts: Parts,
    at: FileTarget,
    form: Vec<(String, String)>,
) -> Result<Response, PageError> {
    let file = query::get(&form, "file").map(str::to_string).filter(|f| !f.is_empty());
    let here = here(&parts);
    let kind = at.kind;
    let to = app
        .blocking(move |app| {
            let viewer = signed_in(app, &parts.headers, &here)?;
            check_form(&parts.headers, &form, &viewer.csrf())?;
            permit(app, Some(&viewer.who), &at.owner, Access::Write)?;
            let owner = app.store.owner(&at.owner)?.map_or(at.owner.clone(), |o| o.name);
            let name = app.store.package_name(&at.owner, kind, &at.package)?.unwrap_or(at.package.clone());
            match &file {
                Some(f) => {
                    let target = FileTarget { file: f.clone(), ..at.clone() };
                    app.store
                        .delete_file_by(target.clone(), Some(viewer.who.name.clone()))
                        .map_err(|e| crate::api::or_missing(app, &target, e))?;
                }
                None => app
                    .store
                    .delete_version_by(
                        &at.owner,
                        kind,
                        &at.package,
                        &at.version,
                        Some(viewer.who.name.clone()),
                    )
                    .map_err(|e| crate::api::or_missing(app, &at, e))?,
            }
            let version_left = app.store.version(&at.owner, kind, &at.package, &at.version)?;
            let package_left = app.store.package_name(&at.owner, kind, &at.package)?.is_some();
            Ok::<_, PageError>(match (version_left, package_left) {
                (Some(v), _) => format!(
                    "{}?deleted={}",
                    version_href(&owner, kind, &name, &v.rec.version),
                    encode(file.as_deref().unwrap_or(""))
                ),
                (None, true) => package_href(&owner, kind, &name),
                (None, false) => format!("/{}/-/packages", encode(&owner)),
            })
        })
        .await??;
    Ok(see_other(&to))
}

/// Where sign-in goes afterwards: a path on this server, never another site.
fn local_path(to: &str) -> String {
    let ok = to.starts_with('/') && !to.starts_with("//") && !to.contains('\\') && !to.contains("://");
    if ok {
        to.to_string()
    } else {
        "/".to_string()
    }
}

/// GET `/user/login`.
async fn login_form(app: &Arc<App>, parts: Parts) -> Result<Response, PageError> {
    let to = local_path(query::get(&params(&parts), "redirect_to").unwrap_or("/"));
    let tls = app.https;
    let viewer = app.blocking(move |app| session::viewer(app, &parts.headers)).await??;
    if viewer.is_some() {
        return Ok(see_other(&to));
    }
    Ok(login_page(None, String::new(), to, tls, StatusCode::OK))
}

/// The sign-in form with a fresh pre-session token (set in a cookie as well).
fn login_page(
    error: Option<String>,
    user_name: String,
    to: String,
    tls: bool,
    status: StatusCode,
) -> Response {
    let csrf = session::random_id();
    let mut res = html(&LoginPage {
        chrome: Chrome::anonymous("Sign in".to_string()),
        error,
        csrf: csrf.clone(),
        redirect_to: to,
        user_name,
    });
    *res.status_mut() = status;
    res.headers_mut().append(SET_COOKIE, session::set_cookie(LOGIN_COOKIE, &csrf, 3600, tls));
    res
}

/// POST `/user/login`: Gitea's fields `user_name`, `password`, `_csrf`; the password check
/// is the API's, throttled the same way.
async fn login(app: &Arc<App>, parts: Parts, form: Vec<(String, String)>) -> Result<Response, PageError> {
    let tls = app.https;
    let expected = session::cookie(&parts.headers, LOGIN_COOKIE).unwrap_or("").to_string();
    if expected.is_empty() {
        return Err(PageError::forbidden(
            "the sign-in form has expired (or cookies are off); reload the page and try again",
        ));
    }
    check_form(&parts.headers, &form, &expected)?;
    let user = query::get(&form, "user_name").unwrap_or("").trim().to_string();
    let password = query::get(&form, "password").unwrap_or("").to_string();
    let to = local_path(query::get(&form, "redirect_to").unwrap_or("/"));
    if user.is_empty() || password.is_empty() {
        let error = Some("Enter your user name and password.".to_string());
        return Ok(login_page(error, user, to, tls, StatusCode::BAD_REQUEST));
    }
    let from = parts.extensions.get::<ClientAddr>().map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0);
    let presented = Presented {
        credential: Credential::Password { user: user.clone(), password: password.into() },
        from,
    };
    let verdict = app
        .blocking(move |app| {
            Ok::<_, PageError>(match app.auth.authenticate(&presented)? {
                Verdict::Accepted(who) => Ok(session::start(app, &who.name)?),
                Verdict::Refused(denied) => Err(denied),
            })
        })
        .await??;
    match verdict {
        Ok(secret) => {
            let mut res = see_other(&to);
            let h = res.headers_mut();
            h.append(SET_COOKIE, session::set_cookie(SESSION_COOKIE, &secret, SESSION_SECS, tls));
            h.append(SET_COOKIE, session::set_cookie(LOGIN_COOKIE, "", 0, tls));
            Ok(res)
        }
        Err(crate::auth::Denied::Throttled(after)) => {
            let error =
                Some(format!("Too many failed sign-ins; try again in {} seconds.", after.as_secs().max(1)));
            Ok(login_page(error, user, to, tls, StatusCode::TOO_MANY_REQUESTS))
        }
        Err(_) => {
            let error = Some("Wrong user name or password.".to_string());
            Ok(login_page(error, user, to, tls, StatusCode::UNAUTHORIZED))
        }
    }
}

/// POST `/user/logout`: ends this session.
async fn logout(app: &Arc<App>, parts: Parts, form: Vec<(String, String)>) -> Result<Response, PageError> {
    let tls = app.https;
    app.blocking(move |app| {
        let Some(viewer) = session::viewer(app, &parts.headers)? else { return Ok(()) };
        check_form(&parts.headers, &form, &viewer.csrf())?;
        app.store.end_session(viewer.hash())?;
        Ok::<_, PageError>(())
    })
    .await??;
    let mut res = see_other("/");
    res.headers_mut().append(SET_COOKIE, session::set_cookie(SESSION_COOKIE, "", 0, tls));
    Ok(res)
}

/// What a POST to the tokens page did.
enum TokenAction {
    /// A new token: its label and secret, shown once.
    Created(String, String),
    /// A token was revoked: back to the list (303, so a reload does not post again).
    Revoked,
    /// Refused, with the status and the reason shown above the form.
    Refused(StatusCode, String),
}

/// The command a tokens form asks for, or why it is not one.
fn token_command(user: &str, form: &[(String, String)]) -> Result<Command, String> {
    match query::get(form, "action") {
        Some("create") => {
            let expires_in_days = match query::get(form, "expires_in_days").map(str::trim) {
                None | Some("") => None,
                Some(d) => Some(d.parse::<u64>().map_err(|_| "expiry must be a whole number of days")?),
            };
            Ok(Command::TokenCreate {
                user: user.to_string(),
                label: query::get(form, "name").map(|l| l.trim().to_string()),
                write: query::get(form, "scope") != Some("read"),
                expires_in_days,
            })
        }
        Some("revoke") => Ok(Command::TokenRevoke {
            user: user.to_string(),
            label: query::get(form, "label").unwrap_or("").to_string(),
        }),
        _ => Err("unknown action".to_string()),
    }
}

/// `/user/settings/applications`: list, create (shown once) and revoke the viewer's tokens,
/// through the same admin commands as the CLI and the API.
async fn tokens(
    app: &Arc<App>,
    parts: Parts,
    form: Option<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let here = here(&parts);
    let (viewer, action, list) = app
        .blocking(move |app| {
            let viewer = signed_in(app, &parts.headers, &here)?;
            let user = viewer.who.name.clone();
            let action = match &form {
                None => None,
                Some(form) => {
                    check_form(&parts.headers, form, &viewer.csrf())?;
                    Some(match token_command(&user, form) {
                        Err(why) => TokenAction::Refused(StatusCode::BAD_REQUEST, why),
                        Ok(cmd) => match admin::execute(&app.store, cmd).map_err(crate::http::ApiError::from)
                        {
                            Ok(Output::Token { secret, info }) => {
                                TokenAction::Created(info.label, secret.expose().to_string())
                            }
                            Ok(_) => return Ok((viewer, Some(TokenAction::Revoked), Vec::new())),
                            Err(e) if e.status.is_server_error() => return Err(e.into()),
                            Err(e) => TokenAction::Refused(e.status, e.message),
                        },
                    })
                }
            };
            let Output::Tokens(list) = admin::execute(&app.store, Command::TokenList { user })
                .map_err(crate::http::ApiError::from)?
            else {
                return Err(PageError::Show(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into()));
            };
            Ok::<_, PageError>((viewer, action, list))
        })
        .await??;
    let (status, error, created, snippet) = match action {
        Some(TokenAction::Revoked) => return Ok(see_other("/user/settings/applications")),
        Some(TokenAction::Created(label, secret)) => (
            StatusCode::CREATED,
            None,
            Some(CreatedToken { label }),
            Snippet { id: "token", label: "The new token", text: secret },
        ),
        Some(TokenAction::Refused(status, why)) => {
            (status, Some(why), None, Snippet { id: "token", label: "", text: String::new() })
        }
        None => (StatusCode::OK, None, None, Snippet { id: "token", label: "", text: String::new() }),
    };
    let date = |t: u64| crate::clock::rfc3339(t).get(..10).unwrap_or("").to_string();
    let tokens = list
        .into_iter()
        .map(|t| TokenRow {
            scope: if t.write { "read and write" } else { "read only" },
            created: date(t.created),
            expires: t.expires.map_or_else(|| "never".to_string(), date),
            label: t.label,
        })
        .collect();
    let mut res = html(&TokensPage {
        chrome: Chrome::new("Access tokens".to_string(), Some(&viewer), ""),
        user: viewer.who.name.clone(),
        error,
        created,
        snippet,
        tokens,
    });
    *res.status_mut() = status;
    Ok(res)
}
