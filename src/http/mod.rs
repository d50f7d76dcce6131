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

/// Put in a request's extensions when it arrived over TLS.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;
