//! The HTTP layer: the route table, streaming bodies with limits, and the single place where
//! an error becomes a status code.

pub mod body;
pub mod error;
pub mod headers;
pub mod router;

pub use body::{Body, Response};
pub use error::ApiError;
