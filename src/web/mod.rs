//! The web page for people: server-rendered HTML over the same store queries and the same
//! permission rule as the JSON API (docs/web.md).
//!
//! Pages are askama templates (`templates/`, checked at compile time, HTML-escaped by
//! default); the stylesheet and the one small script are embedded ([`assets`]). Everything
//! works without JavaScript. Who may see or change what is decided by
//! [`crate::api::permit`], the function the API's handlers use, so a page never shows what
//! the API would refuse: an owner the viewer may not read is a 404 page, and delete controls
//! appear only for those who may write. Sessions and CSRF are [`session`]'s business.

mod assets;
mod pages;
pub mod session;

use std::sync::Arc;

use askama::Template;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use hyper::{Method, Request, StatusCode};

use crate::app::App;
use crate::http::body::full;
use crate::http::{ApiError, Response};
use crate::store::PackageType;

/// A page or form action of the web interface; names are percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    /// `/`: every package the viewer may read.
    Explore,
    /// `/{owner}/-/packages`.
    Owner { owner: String },
    /// `/{owner}/-/packages/{type}/{name}`.
    Package { owner: String, kind: PackageType, name: String },
    /// `/{owner}/-/packages/{type}/{name}/{version}`.
    Version { owner: String, kind: PackageType, name: String, version: String },
    /// `/{owner}/-/packages/{type}/{name}/{version}/-/delete[?file=…]`: confirm, then delete.
    Delete { owner: String, kind: PackageType, name: String, version: String },
    /// `/{owner}/-/settings/packages/rules` (POST): create a cleanup rule (Gitea's path).
    Rules { owner: String },
    /// `/{owner}/-/settings/packages/rules/{id}/delete` (POST).
    RuleDelete { owner: String, id: String },
    /// `/{owner}/-/settings/packages/rules/{id}/preview`: what the rule would remove now.
    RulePreview { owner: String, id: String },
    /// `/user/login`.
    Login,
    /// `/user/logout`.
    Logout,
    /// `/user/settings/applications`: the viewer's tokens.
    Tokens,
    /// `/assets/{hash}/{file}`.
    Asset { path: String },
}

impl Page {
    /// Parses the decoded path segments of a web route; `None` when it is not one.
    pub fn parse(s: &[&str]) -> Option<Page> {
        let own = |i: usize| s[i].to_string();
        let kind = |k: &str| PackageType::parse(k);
        Some(match s {
            [""] => Page::Explore,
            ["user", "login"] => Page::Login,
            ["user", "logout"] => Page::Logout,
            ["user", "settings", "applications"] => Page::Tokens,
            ["assets", hash, file] => Page::Asset { path: format!("/assets/{hash}/{file}") },
            [_, "-", "packages"] => Page::Owner { owner: own(0) },
            [_, "-", "settings", "packages", "rules"] => Page::Rules { owner: own(0) },
            [_, "-", "settings", "packages", "rules", _, "delete"] => {
                Page::RuleDelete { owner: own(0), id: own(5) }
            }
            [_, "-", "settings", "packages", "rules", _, "preview"] => {
                Page::RulePreview { owner: own(0), id: own(5) }
            }
            [_, "-", "packages", k, _] => Page::Package { owner: own(0), kind: kind(k)?, name: own(4) },
            [_, "-", "packages", k, _, _] => {
                Page::Version { owner: own(0), kind: kind(k)?, name: own(4), version: own(5) }
            }
            [_, "-", "packages", k, _, _, "-", "delete"] => {
                Page::Delete { owner: own(0), kind: kind(k)?, name: own(4), version: own(5) }
            }
            _ => return None,
        })
    }

    /// A fixed label for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Page::Explore => "web_explore",
            Page::Owner { .. } => "web_owner",
            Page::Package { .. } => "web_package",
            Page::Version { .. } => "web_version",
            Page::Delete { .. } => "web_delete",
            Page::Rules { .. } | Page::RuleDelete { .. } => "web_rules",
            Page::RulePreview { .. } => "web_rule_preview",
            Page::Login | Page::Logout => "web_login",
            Page::Tokens => "web_tokens",
            Page::Asset { .. } => "web_asset",
        }
    }

    /// The methods this page answers, for 405 and `Allow`.
    pub fn methods(&self) -> &'static [Method] {
        match self {
            Page::Logout | Page::Rules { .. } | Page::RuleDelete { .. } => &[Method::POST],
            Page::Delete { .. } | Page::Login | Page::Tokens => &[Method::GET, Method::HEAD, Method::POST],
            _ => &[Method::GET, Method::HEAD],
        }
    }
}

/// Answers one web request. Errors are HTML pages too.
pub async fn handle(app: &Arc<App>, page: Page, req: Request<Incoming>) -> Response {
    if let Page::Asset { path } = &page {
        return asset(path);
    }
    let res = match pages::handle(app, page, req).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    };
    with_page_headers(res)
}

/// What a page handler could not do: an HTML error page, or a redirect to sign in.
#[derive(Debug)]
pub enum PageError {
    /// Show this status and one-line reason.
    Show(StatusCode, String),
    /// The page needs a signed-in user: 303 to the sign-in page, then back to `return_to`.
    SignIn { return_to: String },
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Show(e.status, e.message)
    }
}

impl From<crate::store::Error> for PageError {
    fn from(e: crate::store::Error) -> Self {
        ApiError::from(e).into()
    }
}

impl PageError {
    fn not_found(message: impl Into<String>) -> Self {
        PageError::Show(StatusCode::NOT_FOUND, message.into())
    }

    fn forbidden(message: impl Into<String>) -> Self {
        PageError::Show(StatusCode::FORBIDDEN, message.into())
    }

    fn into_response(self) -> Response {
        match self {
            PageError::SignIn { return_to } => {
                see_other(&format!("/user/login?redirect_to={}", crate::http::query::encode(&return_to)))
            }
            PageError::Show(status, message) => {
                let title = status.canonical_reason().unwrap_or("Error").to_string();
                let page = pages::ErrorPage { chrome: pages::Chrome::anonymous(title), message };
                let mut res = html(&page);
                *res.status_mut() = status;
                res
            }
        }
    }
}

/// A rendered template as a 200 HTML response.
fn html(page: &impl Template) -> Response {
    // Rendering writes into a String: it fails only when a value's Display does, and none of
    // ours can.
    let body = page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "page rendering failed");
        String::from("<!doctype html><title>internal error</title><p>internal error</p>")
    });
    let mut res = Response::new(full(body));
    res.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    res
}

/// 303 See Other to `to` (a path on this server).
fn see_other(to: &str) -> Response {
    let mut res = Response::new(crate::http::body::empty());
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

/// The headers of every page: no inline script, no framing, no sniffing, no referrer to
/// other sites, and no caching of pages that may show private names.
fn with_page_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn asset(path: &str) -> Response {
    let Some(a) = assets::find(path) else {
        return with_page_headers(PageError::not_found("no such asset in this release").into_response());
    };
    let mut res = Response::new(full(a.bytes));
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_paths_parse() {
        assert_eq!(Page::parse(&[""]), Some(Page::Explore));
        assert_eq!(Page::parse(&["alice", "-", "packages"]), Some(Page::Owner { owner: "alice".into() }));
        assert_eq!(
            Page::parse(&["alice", "-", "packages", "go", "example.com/m", "v1.0.0"]),
            Some(Page::Version {
                owner: "alice".into(),
                kind: PackageType::Go,
                name: "example.com/m".into(),
                version: "v1.0.0".into()
            })
        );
        assert_eq!(Page::parse(&["alice", "-", "packages", "npm", "x"]), None);
        assert_eq!(
            Page::parse(&["acme", "-", "settings", "packages", "rules"]),
            Some(Page::Rules { owner: "acme".into() })
        );
        assert_eq!(
            Page::parse(&["acme", "-", "settings", "packages", "rules", "7", "preview"]),
            Some(Page::RulePreview { owner: "acme".into(), id: "7".into() })
        );
        assert_eq!(
            Page::parse(&["acme", "-", "settings", "packages", "rules", "7", "delete"]),
            Some(Page::RuleDelete { owner: "acme".into(), id: "7".into() })
        );
        assert_eq!(Page::parse(&["alice", "packages"]), None);
    }
}
