//! The stylesheet and script, embedded in the binary and served under a path that holds
//! their content hash, so a browser may keep them for a year and a new release is fetched at
//! once.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

/// One embedded file.
pub struct Asset {
    /// `/assets/{hash}/{name}`.
    pub path: String,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

fn asset(name: &str, content_type: &'static str, bytes: &'static [u8]) -> Asset {
    let hash = crate::http::headers::hex(&Sha256::digest(bytes)[..8]);
    Asset { path: format!("/assets/{hash}/{name}"), content_type, bytes }
}

pub static CSS: LazyLock<Asset> =
    LazyLock::new(|| asset("style.css", "text/css; charset=utf-8", include_bytes!("../../assets/style.css")));
pub static JS: LazyLock<Asset> = LazyLock::new(|| {
    asset("copy.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/copy.js"))
});

/// The asset at `path`, if this build has one there (an old hash is not found: the page that
/// linked it is from another release and will be reloaded).
pub fn find(path: &str) -> Option<&'static Asset> {
    [&*CSS, &*JS].into_iter().find(|a| a.path == path)
}
