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
    /// # Errors
    /// A one-line reason naming the setting that is unusable.
    pub fn resolve(db: PathBuf, args: &ServeArgs) -> Result<ServeConfig, String> {
        // clap makes each flag require the other; the match only has to pair them.
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(CertFiles { cert: cert.clone(), key: key.clone() }),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
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
            tls,
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
