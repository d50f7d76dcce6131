//! Resolves the parsed command line (flags and their `DEPOT_*` environment variables) into
//! one validated [`ServeConfig`]. Nothing here opens files or binds sockets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::app::Limits;
use crate::cli::ServeArgs;
use crate::server::ConnLimits;
use crate::store::Options;
use crate::tls::CertFiles;

/// Everything `depot serve` needs, validated.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub db: PathBuf,
    pub listen: SocketAddr,
    /// HTTPS only when set; the files are read at start and on SIGHUP, not here.
    pub tls: Option<CertFiles>,
    pub store: Options,
    pub limits: Limits,
    pub conn: ConnLimits,
}

impl ServeConfig {
    /// Turns the merged settings into the server's configuration. Each value was already checked
    /// by its clap value parser (ranges, addresses), whatever its source.
    ///
    /// # Errors
    /// A one-line reason naming the setting that is unusable.
    pub fn resolve(db: PathBuf, args: &ServeArgs) -> Result<ServeConfig, String> {
        // clap makes each flag require the other; the match only has to pair them.
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(CertFiles { cert: cert.clone(), key: key.clone() }),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        let body_idle = Duration::from_secs(args.body_idle_timeout_secs);
        Ok(ServeConfig {
            db,
            listen: args.listen,
            tls,
            store: Options { cache_bytes: args.cache_mib.max(1) << 20 },
            limits: Limits { max_file_size: args.max_file_size, body_idle },
            conn: ConnLimits {
                max_connections: args.max_connections,
                header_timeout: Duration::from_secs(args.header_timeout_secs),
                max_header_bytes: args.max_header_bytes,
                grace: Duration::from_secs(args.grace_secs),
                write_idle: body_idle,
            },
        })
    }
}
