//! The HTTP layer: the route table, streaming bodies with limits, and the single place where
//! an error becomes a status code.

pub mod body;
pub mod error;
pub mod headers;
pub mod query;
pub mod router;

pub use body::{Body, Response};
pub use error::ApiError;

/// The client's address, put in each request's extensions by the server (failed-login
/// throttling keys on it).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::IpAddr);

/// Where the request came from, for the absolute links in answers: the scheme depot serves
/// and the `Host` the client used.
pub fn base_url(https: bool, parts: &hyper::http::request::Parts) -> String {
    let host = parts
        .uri
        .authority()
        .map(|a| a.as_str().to_string())
        .or_else(|| parts.headers.get(hyper::header::HOST).and_then(|h| h.to_str().ok()).map(str::to_string))
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b)))
        .unwrap_or_else(|| "localhost".to_string());
    let scheme = parts.uri.scheme_str().unwrap_or(if https { "https" } else { "http" });
    format!("{scheme}://{host}")
}
