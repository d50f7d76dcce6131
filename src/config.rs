//! Resolves the parsed command line (flags and their `DEPOT_*` environment variables) into
//! one validated [`ServeConfig`]. Nothing here opens files or binds sockets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::app::Limits;
use crate::cli::ServeArgs;
use crate::server::ConnLimits;
use crate::store::Options;

/// Everything `depot serve` needs, validated.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub db: PathBuf,
    pub listen: SocketAddr,
    pub store: Options,
    pub limits: Limits,
    pub conn: ConnLimits,
}

impl ServeConfig {
    /// # Errors
    /// A one-line reason naming the setting that is unusable.
    pub fn resolve(db: PathBuf, args: &ServeArgs) -> Result<ServeConfig, String> {
        if args.tls_cert.is_some() {
            return Err("native TLS (--tls-cert/--tls-key) is not available in this release yet; \
                        put a TLS-terminating reverse proxy in front for now"
                .into());
        }
        let listen: SocketAddr = args
            .listen
            .parse()
            .map_err(|_| format!("--listen {:?} is not an address like 127.0.0.1:8080", args.listen))?;
        let positive = |name: &str, v: u64| {
            if v == 0 {
                Err(format!("{name} must be at least 1"))
            } else {
                Ok(Duration::from_secs(v))
            }
        };
        if args.max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        Ok(ServeConfig {
            db,
            listen,
            store: Options { cache_bytes: args.cache_mib.max(1) << 20 },
            limits: Limits {
                max_file_size: args.max_file_size,
                body_idle: positive("--body-idle-timeout-secs", args.body_idle_timeout_secs)?,
            },
            conn: ConnLimits {
                max_connections: args.max_connections,
                header_timeout: positive("--header-timeout-secs", args.header_timeout_secs)?,
                max_header_bytes: args.max_header_bytes,
                grace: Duration::from_secs(args.grace_secs),
                write_idle: positive("--body-idle-timeout-secs", args.body_idle_timeout_secs)?,
            },
        })
    }
}
