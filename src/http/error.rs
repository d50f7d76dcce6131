//! [`ApiError`]: the only place an error becomes an HTTP status and body.
//!
//! One `From` per layer below (names, auth, store, admin, body) and one match each to the
//! status. Client errors carry a one-line reason; a 5xx says only "internal error" and the
//! details go to the log, never to the client.

use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::StatusCode;

use super::body::{self, full, Response};
use crate::gomod::zipcheck;
use crate::{admin, auth, names, store};

/// An error response: status and a one-line reason.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Logs `detail` and answers 500 without it.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }

    pub fn into_response(self) -> Response {
        let mut res = Response::new(full(format!("{}\n", self.message)));
        *res.status_mut() = self.status;
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        // A reason may echo part of the request: never let a browser sniff it into HTML.
        h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"depot\""));
        }
        if let Some(secs) = self.retry_after {
            h.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

impl From<names::Error> for ApiError {
    fn from(e: names::Error) -> Self {
        ApiError::bad_request(e.to_string())
    }
}

impl From<auth::Denied> for ApiError {
    fn from(d: auth::Denied) -> Self {
        match d {
            auth::Denied::Missing => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication required: send a user name and password or a token \
                 (HTTP Basic, or Authorization: token …)",
            ),
            auth::Denied::Bad => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "the credentials were not accepted: wrong user name or password, \
                 or an unknown, revoked or expired token",
            ),
            auth::Denied::Forbidden => ApiError::new(
                StatusCode::FORBIDDEN,
                "you may read these packages but not change them: writing needs the owner, \
                 an admin, or an organization member with the write role",
            ),
            auth::Denied::ReadOnlyToken => ApiError::new(
                StatusCode::FORBIDDEN,
                "this token has read scope only: use a token created with --scope write, \
                 or the password",
            ),
            auth::Denied::Hidden => ApiError::new(StatusCode::NOT_FOUND, "no such user or organization"),
            auth::Denied::Throttled(wait) => {
                // Whole seconds, rounded up: retrying at the advertised time must succeed.
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                ApiError {
                    retry_after: Some(secs),
                    ..ApiError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        format!("too many failed sign-ins; retry in {secs} s"),
                    )
                }
            }
        }
    }
}

impl From<store::Error> for ApiError {
    fn from(e: store::Error) -> Self {
        use store::Error as E;
        let status = match &e {
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Exists(_) | E::Refused(_) => StatusCode::CONFLICT,
            E::ChecksumMismatch => StatusCode::BAD_REQUEST,
            E::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            E::DiskFull | E::Quota(_) => StatusCode::INSUFFICIENT_STORAGE,
            // The reason (shutting down, or why the writer stopped) is for the client too.
            E::Closed | E::Stopped(_) | E::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::Corrupt(_)
            | E::AlreadyOpen
            | E::Format(_)
            | E::Io(_)
            | E::Storage(_)
            | E::Panicked
            | E::NoDatabase => return ApiError::internal(e),
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<store::Refusal> for ApiError {
    fn from(r: store::Refusal) -> Self {
        store::Error::from(r).into()
    }
}

impl From<admin::Error> for ApiError {
    fn from(e: admin::Error) -> Self {
        match e {
            admin::Error::Name(e) => e.into(),
            admin::Error::Invalid(why) => ApiError::bad_request(why),
            admin::Error::NotFound(why) => ApiError::not_found(why),
            admin::Error::Exists(why) => ApiError::new(StatusCode::CONFLICT, why),
            admin::Error::Store(e) => e.into(),
        }
    }
}

impl From<body::Error> for ApiError {
    fn from(e: body::Error) -> Self {
        let status = match e {
            body::Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            body::Error::Idle => StatusCode::REQUEST_TIMEOUT,
            body::Error::Broken(_) | body::Error::Json(_) => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<zipcheck::Invalid> for ApiError {
    fn from(e: zipcheck::Invalid) -> Self {
        ApiError::bad_request(format!("not a valid module zip: {e}"))
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(e)
    }
}
