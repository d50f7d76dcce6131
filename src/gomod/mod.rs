//! Go modules: versions, paths, the case encoding, module zip checking and building.
//!
//! Pure logic over bytes and readers: no HTTP and no storage here. The GOPROXY endpoints
//! (`api::goproxy`) and `depot go zip` (`main.rs`) use it.

pub mod create;
pub mod modfile;
pub mod path;
pub mod semver;
pub mod zipcheck;
