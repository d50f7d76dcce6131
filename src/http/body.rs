//! Streaming bodies in and out, with size and idle-time limits.
//!
//! Request bodies are read frame by frame, each frame under an idle timeout, so a stalled
//! client costs a connection slot for at most that long and never a write transaction.
//! Response bodies are either a small buffer or a bounded channel fed by a blocking reader,
//! so memory stays bounded whatever the file size.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::{Frame, Incoming};
use tokio::sync::mpsc;

/// The response body type of every handler.
pub type Body = BoxBody<Bytes, std::io::Error>;
pub type Response = hyper::Response<Body>;

/// Largest JSON request body, in bytes: admin requests are a few fields.
pub const MAX_JSON_BYTES: usize = 64 << 10;

/// Why a request body could not be read.
#[derive(Debug)]
pub enum Error {
    /// More than the limit (bytes) arrived.
    TooLarge(u64),
    /// No data arrived for the idle timeout.
    Idle,
    /// The connection broke or the framing was invalid (client gone mid-body).
    Broken(String),
    /// The JSON body is not what the endpoint takes.
    Json(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::TooLarge(limit) => write!(f, "request body is larger than {limit} bytes"),
            Error::Idle => f.write_str("request body stalled"),
            Error::Broken(e) => write!(f, "request body incomplete: {e}"),
            Error::Json(e) => write!(f, "invalid JSON body: {e}"),
        }
    }
}

pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into()).map_err(|never| match never {}).boxed()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// The next piece of the body; `None` at its end.
///
/// # Errors
/// [`Error::Idle`] when nothing arrives for `idle`; [`Error::Broken`] when the client goes.
pub async fn next_data(body: &mut Incoming, idle: Duration) -> Result<Option<Bytes>, Error> {
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => return Err(Error::Idle),
            Ok(None) => return Ok(None),
            Ok(Some(Err(e))) => return Err(Error::Broken(e.to_string())),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
                // Trailers carry nothing we use.
            }
        }
    }
}

/// Reads a whole body of at most `limit` bytes into memory.
///
/// # Errors
/// [`Error::TooLarge`] past `limit`, and as [`next_data`].
pub async fn bounded(mut body: Incoming, idle: Duration, limit: usize) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    while let Some(data) = next_data(&mut body, idle).await? {
        if buf.len() + data.len() > limit {
            return Err(Error::TooLarge(limit as u64));
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf)
}

/// Reads a JSON body of at most [`MAX_JSON_BYTES`] and decodes it.
pub async fn json<T: serde::de::DeserializeOwned>(body: Incoming, idle: Duration) -> Result<T, Error> {
    let buf = bounded(body, idle, MAX_JSON_BYTES).await?;
    serde_json::from_slice(&buf).map_err(|e| Error::Json(e.to_string()))
}

/// A response body fed through a bounded channel by a producer (a blocking reader).
/// Dropping it (client gone) makes the producer's next send fail, which stops it.
pub struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl ChannelBody {
    /// A body and the sender that feeds it; `depth` pieces may wait in between.
    pub fn channel(depth: usize) -> (mpsc::Sender<Result<Bytes, std::io::Error>>, Body) {
        let (tx, rx) = mpsc::channel(depth);
        (tx, ChannelBody { rx }.boxed())
    }
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|piece| piece.map(|r| r.map(Frame::data)))
    }
}
