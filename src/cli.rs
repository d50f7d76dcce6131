//! The command line (docs/cli.md): clap definitions only, no I/O.
//!
//! Parsing only validates shapes and values; `config.rs` merges in the serve config file and
//! `main.rs` turns the result into actions. Every value check (numbers, ranges, addresses)
//! lives in an argument's value parser, so a value from a flag, a `DEPOT_*` variable or the
//! config file is judged by the same rule. The field names of `ServeArgs` are clap's argument
//! ids and, exactly, the config file's keys. Scripts depend on these exact shapes, so `tests`
//! below parse every one of them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A self-hosted package registry in one binary and one database file.
#[derive(Debug, Parser)]
#[command(name = "depot", version, propagate_version = true)]
pub struct Cli {
    /// The database file.
    ///
    /// Created on first use. It holds everything: accounts, metadata and file contents; a
    /// copy of it taken while the server is stopped is a complete backup.
    #[arg(long, global = true, value_name = "FILE", env = "DEPOT_DB", default_value = "./depot.redb")]
    pub db: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per process; boxing `serve`'s settings would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the registry server.
    ///
    /// Each setting is taken from, in this order of precedence: its command-line flag, its
    /// DEPOT_* environment variable, the --config file, the built-in default. The file's keys
    /// are the long flag names below with '-' written '_' (max_file_size = "1G"), plus db.
    Serve(ServeArgs),
    /// Manage users.
    ///
    /// Users and organizations share one set of names. `depot user list` prints one line
    /// per user with five tab-separated columns: NAME, admin|user, public|private, BYTES (the
    /// size of the files the user holds) and VERSIONS (how many versions they hold).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage organizations and their members.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Re-read every stored byte and check every hash, reference and count.
    ///
    /// Prints a summary on stdout and one line per problem; exits 1 when there is any.
    /// Works on a running server's database (through its control socket) and on a stopped one.
    Verify {
        /// First fix what can be fixed without losing any file (orphaned blobs and chunks,
        /// wrong reference counts, index entries, empty or missing version and package
        /// records, memberships and tokens of deleted accounts), printing each fix; then verify.
        #[arg(long)]
        repair: bool,
        /// Also re-read every object in the object store and check its sha256 (streamed; as
        /// long as downloading all of it takes). Without it, objects are checked for
        /// existence and size only.
        #[arg(long, conflicts_with = "repair")]
        deep: bool,
    },
    /// Write a consistent copy of the database to FILE.
    ///
    /// Safe while the server runs and serves (it copies one snapshot; writers are not held
    /// up). The copy is written under a temporary name and renamed to FILE only when complete
    /// and on disk; it opens as a normal depot database. Progress goes to stderr; stdout gets
    /// `FILE<TAB>BYTES`. With the server stopped, copying the database file is also a backup.
    Backup {
        /// Where to write the copy (replaced if it exists).
        file: PathBuf,
    },
    /// Return the space freed by deletions to the file system.
    ///
    /// Every request waits while the file is compacted, and that takes seconds on a large
    /// database (about 4 s for 100,000 small files). So through a running server it first
    /// estimates the pause from what the database holds and refuses, saying how long it would
    /// be, when that is longer than --max-pause (1 s); stop the server and run it then, or
    /// accept the pause with --allow-pause. With the server stopped there is no limit. Reads
    /// in flight are waited for (it gives up after 30 s of downloads still running). Prints
    /// `BYTES_BEFORE<TAB>BYTES_AFTER` on stdout: disk space in use, not the file's length.
    Compact {
        /// Through a running server, compact however long requests must wait.
        #[arg(long, conflicts_with = "max_pause")]
        allow_pause: bool,
        /// Through a running server, the longest estimated pause accepted, in seconds.
        #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = pause_seconds)]
        max_pause: std::time::Duration,
    },
    /// Go module tools.
    #[command(subcommand)]
    Go(GoCommand),
    /// Per-owner limits (storage bytes, number of versions) and usage.
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Where file content lives: the database file or an S3-compatible object store.
    #[command(subcommand)]
    Blobs(BlobsCommand),
    /// Cleanup rules: which versions of an owner's packages are removed, and when.
    ///
    /// A rule applies to one package type of one owner (at most one rule per type). A
    /// version is removed when it matches --remove-pattern (none: every version), is at
    /// least --remove-days old (0: any age), is not among the --keep-count newest of its
    /// package and does not match --keep-pattern. Patterns are regular expressions matched
    /// against the whole version (or PACKAGE/VERSION with --full-name), ignoring case.
    /// The server applies enabled rules every --cleanup-interval; `preview` and `apply`
    /// print one `PACKAGE<TAB>VERSION` line per version.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Write the man page or a shell completion script to standard output.
    ///
    /// For packagers, the way `rg --generate` works: `packaging/generate.sh` runs it to refresh
    /// the files the .deb installs. Hidden, so it stays out of the help, man page and completions.
    #[command(hide = true)]
    Generate {
        /// What to write.
        #[arg(value_enum, value_name = "WHAT")]
        what: GenerateKind,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuotaCommand {
    /// Set an owner's (user's or organization's) limits; an omitted limit is unlimited.
    ///
    /// An upload that would take the owner past a limit is refused with 507 and stores
    /// nothing. Lowering a limit below the current usage deletes nothing; it stops growth.
    Set {
        /// The user or organization.
        owner: String,
        /// Most bytes of files the owner may hold (each file counted, even when its content
        /// is shared with another): bytes, or with a unit (10G, 500MiB).
        #[arg(long, value_name = "SIZE")]
        max_bytes: Option<ByteSize>,
        /// Most versions the owner may hold, over all its packages.
        #[arg(long, value_name = "N")]
        max_versions: Option<u64>,
    },
    /// Print usage and limits: `OWNER<TAB>BYTES<TAB>MAX_BYTES<TAB>VERSIONS<TAB>MAX_VERSIONS`,
    /// a limit being a number or `unlimited`; one owner, or every owner.
    Show {
        /// The user or organization (all when omitted).
        owner: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BlobsCommand {
    /// Move file content to the object store (`--to s3`, content larger than the inline
    /// limit, 64 KiB) or back into the database file (`--to local`).
    ///
    /// Through a running server, which keeps serving (downloads of a blob being moved read
    /// whichever copy they started on), or on a stopped database. One blob at a time: copied,
    /// read back and hashed, then switched in one transaction; the old copy is deleted only
    /// after that. Interrupted (killed, the store down), run it again: it continues. From
    /// then on the server puts new content where this moved it (until its next start, which
    /// follows --blob-store). The store is the one the database records unless --s3-endpoint
    /// and --s3-bucket name it; the credentials come from DEPOT_S3_ACCESS_KEY_ID and
    /// DEPOT_S3_SECRET_ACCESS_KEY (a server that has the store attached uses its own).
    /// Prints `MOVED<TAB>BYTES<TAB>LEFT`; exits non-zero when content did not match its
    /// checksum.
    Migrate {
        /// Where the content goes.
        #[arg(long, value_enum, value_name = "WHERE")]
        to: BlobStore,
        /// The object store's URL: scheme, host and port.
        #[arg(long, value_name = "URL", env = "DEPOT_S3_ENDPOINT")]
        s3_endpoint: Option<String>,
        /// The bucket holding depot's objects.
        #[arg(long, value_name = "NAME", env = "DEPOT_S3_BUCKET")]
        s3_bucket: Option<String>,
        /// The store's region.
        #[arg(long, value_name = "R", env = "DEPOT_S3_REGION", default_value = "us-east-1")]
        s3_region: String,
        /// Environment only (the command line refuses it).
        #[arg(long, value_name = "ID", env = "DEPOT_S3_ACCESS_KEY_ID", hide = true, hide_env_values = true)]
        s3_access_key_id: Option<String>,
        /// Environment only (the command line refuses it).
        #[arg(
            long,
            value_name = "KEY",
            env = "DEPOT_S3_SECRET_ACCESS_KEY",
            hide = true,
            hide_env_values = true
        )]
        s3_secret_access_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Add a cleanup rule (enabled) and print its id.
    Add {
        /// The user or organization.
        owner: String,
        /// The package type it applies to.
        #[arg(long = "type", value_enum, value_name = "TYPE")]
        kind: KindArg,
        /// Always keep this many newest versions of each package.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_count: u64,
        /// Always keep versions matching this regular expression.
        #[arg(long, value_name = "RE", default_value = "")]
        keep_pattern: String,
        /// Remove only versions at least N days old (0: any age).
        #[arg(long, value_name = "N", default_value_t = 0)]
        remove_days: u64,
        /// Remove only versions matching this regular expression (none: every version).
        #[arg(long, value_name = "RE", default_value = "")]
        remove_pattern: String,
        /// Match the patterns against PACKAGE/VERSION instead of the version alone.
        #[arg(long)]
        full_name: bool,
    },
    /// List rules: ID, TYPE, enabled|disabled, KEEP_COUNT, KEEP_PATTERN, REMOVE_DAYS,
    /// REMOVE_PATTERN, full-name|version (tab-separated).
    List { owner: String },
    /// Delete a rule.
    Delete { owner: String, id: u64 },
    /// Print the versions a rule (or every enabled rule) would remove now; removes nothing.
    Preview {
        owner: String,
        /// The rule (every enabled rule of the owner when omitted).
        id: Option<u64>,
    },
    /// Remove now what `preview` prints, and print it.
    Apply {
        owner: String,
        /// The rule (every enabled rule of the owner when omitted).
        id: Option<u64>,
    },
}

/// A package type on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Generic,
    Go,
}

/// The outputs of `depot generate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateKind {
    /// The man page, depot(1), in roff.
    Man,
    /// bash completion (for /usr/share/bash-completion/completions/depot).
    CompleteBash,
    /// zsh completion (for a directory on $fpath, as `_depot`).
    CompleteZsh,
    /// fish completion (for /usr/share/fish/vendor_completions.d/depot.fish).
    CompleteFish,
}

#[derive(Debug, Subcommand)]
pub enum GoCommand {
    /// Build a module zip from a source directory, ready to upload.
    ///
    /// Includes what the go command includes: every regular file under DIR, leaving out
    /// version-control directories, nested modules (directories with their own go.mod),
    /// files in vendor/ subdirectories, and symbolic links. The zip is checked against the
    /// same rules the server applies to an upload, so publishing is then one
    /// `curl --upload-file FILE https://HOST/api/packages/OWNER/go/upload`.
    /// Works without a database or server.
    #[command(disable_version_flag = true)]
    Zip {
        /// The module's source directory (the one holding go.mod).
        dir: PathBuf,
        /// The module path, e.g. example.com/team/mod (must match go.mod's module line).
        #[arg(long, value_name = "PATH")]
        module: String,
        /// The version, canonical semver with a v, e.g. v1.2.3 or v2.0.0-rc.1.
        #[arg(long, value_name = "VERSION")]
        version: String,
        /// Where to write the zip.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML file of settings; flags and DEPOT_* variables override it.
    ///
    /// Keys are the long flag names of this command with '-' written '_', e.g.
    /// `max_file_size = 1000`, `listen = "0.0.0.0:8080"`, `tls_cert = "/etc/depot/chain.pem"`;
    /// `db = "/var/lib/depot/depot.redb"` sets the database file for serve. An unknown key or a
    /// bad value stops the server with exit status 1. Relative paths are relative to the
    /// working directory, as on the command line.
    #[arg(long, value_name = "FILE", env = "DEPOT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR", env = "DEPOT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// TLS certificate chain (PEM); with --tls-key, serve HTTPS only.
    ///
    /// CERTIFICATE sections, the server's certificate first, then any intermediates. Read
    /// again on SIGHUP: new connections get the new certificate, open ones are kept; if the
    /// new files are unusable, a warning is logged and the previous certificate stays.
    #[arg(long, value_name = "PEM", env = "DEPOT_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) matching --tls-cert; reloaded with it on SIGHUP.
    ///
    /// One key: PKCS#8 (PRIVATE KEY), PKCS#1 (RSA PRIVATE KEY) or SEC1 (EC PRIVATE KEY).
    #[arg(long, value_name = "PEM", env = "DEPOT_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest file accepted (bytes, or with a unit: 1G, 512MiB); larger uploads get 413.
    #[arg(long, value_name = "SIZE", env = "DEPOT_MAX_FILE_SIZE", default_value_t = ByteSize(8 << 30))]
    pub max_file_size: ByteSize,
    /// Seconds a client may send nothing (upload, 408) or take nothing (download) before it is cut off.
    #[arg(long, value_name = "N", env = "DEPOT_BODY_IDLE_TIMEOUT_SECS", default_value_t = 30,
          value_parser = at_least_one::<u64>)]
    pub body_idle_timeout_secs: u64,
    /// Seconds a client has to send a request's headers; also the keep-alive idle limit.
    #[arg(long, value_name = "N", env = "DEPOT_HEADER_TIMEOUT_SECS", default_value_t = 10,
          value_parser = at_least_one::<u64>)]
    pub header_timeout_secs: u64,
    /// Largest request head (request line plus headers): bytes, or with a unit (32KiB).
    #[arg(long, value_name = "SIZE", env = "DEPOT_MAX_HEADER_BYTES", default_value_t = ByteSize(16 << 10))]
    pub max_header_bytes: ByteSize,
    /// Open connections at most. Each download buffers at most ~2 MiB, so this also bounds
    /// the memory downloads can take.
    #[arg(long, value_name = "N", env = "DEPOT_MAX_CONNECTIONS", default_value_t = 256,
          value_parser = at_least_one::<usize>)]
    pub max_connections: usize,
    /// Failed sign-ins (wrong password or token) a client address may make at once (a user
    /// name, over all addresses, twice as many); past them, attempts get 429 until the budget
    /// refills.
    #[arg(long, value_name = "N", env = "DEPOT_LOGIN_BURST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub login_burst: u32,
    /// Seconds for a client address to earn back one failed sign-in; a user name earns one
    /// back in half the time, so one address alone cannot lock a user out.
    #[arg(long, value_name = "N", env = "DEPOT_LOGIN_REFILL_SECS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub login_refill_secs: u64,
    /// Seconds in-flight requests and admin commands may run on after SIGTERM/SIGINT.
    #[arg(long, value_name = "N", env = "DEPOT_GRACE_SECS", default_value_t = 10)]
    pub grace_secs: u64,
    /// Database page cache, in MiB. Bounds the memory used for reads.
    #[arg(long, value_name = "N", env = "DEPOT_CACHE_MIB", default_value_t = 16)]
    pub cache_mib: usize,
    /// Small-file cache, in MiB: whole files of at most 64 KiB kept in memory and served
    /// without touching the database (about 20,000 files of 4 KiB at the default).
    #[arg(long, value_name = "N", env = "DEPOT_FILE_CACHE_MIB", default_value_t = 96)]
    pub file_cache_mib: u64,
    /// Where new file content goes: `local` (the database file) or `s3` (an S3-compatible
    /// object store such as Garage; metadata stays in the database file).
    ///
    /// With s3, the credentials come from DEPOT_S3_ACCESS_KEY_ID and
    /// DEPOT_S3_SECRET_ACCESS_KEY or the config file keys s3_access_key_id and
    /// s3_secret_access_key, never from the command line.
    #[arg(long, value_enum, value_name = "WHERE", env = "DEPOT_BLOB_STORE", default_value = "local")]
    pub blob_store: BlobStore,
    /// The object store's URL: scheme, host and port (http://127.0.0.1:3900). Requests are
    /// path-style and signed for this host name.
    #[arg(long, value_name = "URL", env = "DEPOT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// The bucket holding depot's objects (under depot/blobs/).
    #[arg(long, value_name = "NAME", env = "DEPOT_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// The store's region (Garage's default is "garage").
    #[arg(long, value_name = "R", env = "DEPOT_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// Answer downloads of content in the store with a 302 to a presigned URL valid for 5
    /// minutes (the 302 carries ETag and X-Checksum-Sha256); HEAD is answered by depot.
    #[arg(long, env = "DEPOT_S3_REDIRECT")]
    pub s3_redirect: bool,
    /// Files up to this size stay in the database file (bytes, or with a unit).
    #[arg(long, value_name = "BYTES", env = "DEPOT_S3_INLINE_MAX", default_value_t = ByteSize(64 << 10))]
    pub s3_inline_max: ByteSize,
    /// Seconds one call to the object store may take (a part upload, a delete, the wait for
    /// the next piece of a download) before the request fails with 503.
    #[arg(long, value_name = "N", env = "DEPOT_S3_TIMEOUT_SECS", default_value_t = 30,
          value_parser = at_least_one::<u64>)]
    pub s3_timeout_secs: u64,
    /// Objects under depot/blobs/ that the database does not know are deleted once older
    /// than this many seconds (checked at start and every 10 minutes).
    #[arg(long, value_name = "N", env = "DEPOT_S3_ORPHAN_AGE_SECS", default_value_t = 3600)]
    pub s3_orphan_age_secs: u64,
    /// The object store's access key id. Environment or config file only: the command line
    /// refuses it (`ps` shows every process's arguments).
    #[arg(long, value_name = "ID", env = "DEPOT_S3_ACCESS_KEY_ID", hide = true, hide_env_values = true)]
    pub s3_access_key_id: Option<String>,
    /// The object store's secret key; environment or config file only, as the key id.
    #[arg(long, value_name = "KEY", env = "DEPOT_S3_SECRET_ACCESS_KEY", hide = true, hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// How often enabled cleanup rules are applied: seconds, or with a unit (30m, 24h, 7d).
    ///
    /// The first run is one interval after start.
    #[arg(long, value_name = "DURATION", env = "DEPOT_CLEANUP_INTERVAL",
          default_value_t = Interval(std::time::Duration::from_secs(86_400)))]
    pub cleanup_interval: Interval,
    /// Let webhooks target loopback, private (RFC 1918, fc00::/7), link-local, CGNAT and
    /// other non-public addresses.
    ///
    /// Off by default: a webhook makes the server send requests, and a hook on such an
    /// address would reach into the server's own network. Turn it on when the receivers are
    /// on a trusted private network.
    #[arg(long, env = "DEPOT_WEBHOOK_ALLOW_PRIVATE", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private: bool,
}

/// Where file content lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BlobStore {
    Local,
    S3,
}

/// Flags that carry credentials, which the command line refuses (`config.rs`).
pub const SECRET_FLAGS: [&str; 2] = ["--s3-access-key-id", "--s3-secret-access-key"];

/// A duration given as whole seconds or with a unit: `s`, `m`, `h`, `d` (`90`, `90s`, `30m`,
/// `24h`, `7d`); at least one second, at most 3650 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub std::time::Duration);

impl FromStr for Interval {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let n: u64 =
            digits.parse().map_err(|_| format!("{s:?} is not a duration (e.g. 3600, 30m, 24h, 7d)"))?;
        let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            other => return Err(format!("unknown unit {other:?} (use s, m, h or d)")),
        };
        // A bound well inside what a timer can count from now.
        const MAX_SECS: u64 = 3650 * 86_400;
        match n.checked_mul(scale) {
            Some(0) => Err("must be at least 1 second".into()),
            Some(secs) if secs <= MAX_SECS => Ok(Interval(std::time::Duration::from_secs(secs))),
            _ => Err(format!("{s:?} is longer than 3650d")),
        }
    }
}

impl std::fmt::Display for Interval {
    /// Hours, minutes or seconds, the largest that divides it exactly: the default reads `24h`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.as_secs();
        if n.is_multiple_of(3600) {
            write!(f, "{}h", n / 3600)
        } else if n.is_multiple_of(60) {
            write!(f, "{}m", n / 60)
        } else {
            write!(f, "{n}s")
        }
    }
}

/// A size in bytes, given as a plain number or with a unit: `K`, `M`, `G`, `T` and `KiB`,
/// `MiB`, `GiB`, `TiB` are powers of 1024 (`1G` = `1GiB` = 1073741824), `KB`, `MB`, `GB`, `TB`
/// powers of 1000; units in any case, a `B` alone means bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let n: u64 = digits.parse().map_err(|_| format!("{s:?} is not a size (e.g. 1048576, 512MiB, 8G)"))?;
        let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "t" | "tib" => 1 << 40,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            other => return Err(format!("unknown unit {other:?} (use K, M, G, T, KiB…TiB or KB…TB)")),
        };
        n.checked_mul(scale).map(ByteSize).ok_or_else(|| format!("{s:?} is too large"))
    }
}

impl std::fmt::Display for ByteSize {
    /// The largest binary unit that divides the size exactly, so defaults read `8GiB`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0;
        match [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")]
            .into_iter()
            .find(|(shift, _)| n != 0 && n.trailing_zeros() >= *shift)
        {
            Some((shift, unit)) => write!(f, "{}{unit}", n >> shift),
            None => write!(f, "{n}"),
        }
    }
}

/// The value parser of counts and timeouts for which 0 would make the server unusable (no
/// connections, no time to send a byte).
fn at_least_one<T: FromStr<Err = std::num::ParseIntError> + PartialEq + From<u8>>(
    s: &str,
) -> Result<T, String> {
    let n: T = s.parse().map_err(|e: std::num::ParseIntError| e.to_string())?;
    if n == T::from(0) {
        return Err("must be at least 1".into());
    }
    Ok(n)
}

fn pause_seconds(s: &str) -> Result<std::time::Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if (0.0..=86_400.0).contains(&secs) => Ok(std::time::Duration::from_secs_f64(secs)),
        _ => Err("must be a number of seconds from 0 to 86400, e.g. 1 or 0.5".into()),
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from the first line of standard input.
    Add {
        /// The user name (letters, digits, '.', '_', '-'; starts with a letter or digit).
        #[arg(value_name = "NAME")]
        name: String,
        /// Make the user an administrator (may read and write everything, manage accounts).
        #[arg(long)]
        admin: bool,
        /// Hide the user's packages from everyone but the user and administrators.
        #[arg(long)]
        private: bool,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users: NAME, admin|user, public|private, BYTES, VERSIONS (tab-separated).
    ///
    /// BYTES is the size of the files the user holds (each file counted, even when its content
    /// is shared), VERSIONS the number of versions over all their packages.
    List,
    /// Delete a user and their tokens (refused while they own packages).
    Delete {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Set a user's password from the first line of standard input.
    Passwd {
        #[arg(value_name = "NAME")]
        name: String,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization.
    Add {
        #[arg(value_name = "NAME")]
        name: String,
        /// Hide the organization's packages from everyone but members and administrators.
        #[arg(long)]
        private: bool,
    },
    /// Manage organization members.
    #[command(subcommand)]
    Member(MemberCommand),
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Add a member, or change their role.
    Add {
        #[arg(value_name = "ORG")]
        org: String,
        #[arg(value_name = "USER")]
        user: String,
        /// What the member may do with the organization's packages.
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Remove a member.
    Remove {
        #[arg(value_name = "ORG")]
        org: String,
        #[arg(value_name = "USER")]
        user: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Read,
    Write,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for a user and print it (shown only this once).
    Create {
        #[arg(value_name = "USER")]
        user: String,
        /// A label to list and revoke the token by (default: token-<unix time>-<4 hex digits>).
        #[arg(long, value_name = "LABEL")]
        name: Option<String>,
        /// What the token may do.
        #[arg(long, value_enum, default_value = "write")]
        scope: RoleArg,
        /// Days until the token expires (default: never).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        expires_in_days: Option<u64>,
    },
    /// List a user's tokens: LABEL, read|write, CREATED, EXPIRES|never (tab-separated; times in
    /// RFC 3339; never the secret).
    List {
        #[arg(value_name = "USER")]
        user: String,
    },
    /// Revoke a user's token by label.
    Revoke {
        #[arg(value_name = "USER")]
        user: String,
        #[arg(value_name = "LABEL")]
        label: String,
    },
}

#[cfg(test)]
mod tests {

    #[test]
    fn sizes_take_units() {
        let size = |s: &str| s.parse::<ByteSize>().map(|b| b.0);
        assert_eq!(size("1048576"), Ok(1 << 20));
        assert_eq!(size("1G"), Ok(1 << 30));
        assert_eq!(size("512MiB"), Ok(512 << 20));
        assert_eq!(size("512 mib"), Ok(512 << 20));
        assert_eq!(size("2GB"), Ok(2_000_000_000));
        assert_eq!(size("10k"), Ok(10 << 10));
        assert_eq!(size("7B"), Ok(7));
        assert!(size("1X").unwrap_err().contains("unknown unit"));
        assert!(size("G").unwrap_err().contains("not a size"));
        assert!(size("-1").is_err());
        assert!(size("99999999999T").unwrap_err().contains("too large"));
        assert_eq!(ByteSize(8 << 30).to_string(), "8GiB");
        assert_eq!(ByteSize(16 << 10).to_string(), "16KiB");
        assert_eq!(ByteSize(1000).to_string(), "1000");
        assert_eq!(ByteSize(0).to_string(), "0");
    }

    #[test]
    fn intervals_take_units_and_show_the_largest() {
        let secs = |s: &str| s.parse::<Interval>().map(|i| i.0.as_secs());
        assert_eq!(secs("90"), Ok(90));
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("30m"), Ok(1800));
        assert_eq!(secs("24H"), Ok(86_400));
        assert_eq!(secs("7d"), Ok(7 * 86_400));
        assert_eq!(secs("3650d"), Ok(3650 * 86_400));
        assert!(secs("0").unwrap_err().contains("at least 1 second"));
        assert!(secs("0h").unwrap_err().contains("at least 1 second"));
        assert!(secs("3651d").unwrap_err().contains("longer than 3650d"));
        assert!(secs("99999999999999999d").unwrap_err().contains("longer than 3650d"));
        assert!(secs("1w").unwrap_err().contains("unknown unit"));
        assert!(secs("h").unwrap_err().contains("not a duration"));
        assert!(secs("-1").is_err());
        let shown = |n: u64| Interval(std::time::Duration::from_secs(n)).to_string();
        assert_eq!((shown(86_400), shown(1800), shown(90)), ("24h".into(), "30m".into(), "90s".into()));
    }

    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_argument_has_help_and_env_names_are_depot() {
        fn walk(cmd: &clap::Command) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_value_names().is_some() || arg.get_long().is_some() {
                    let positional = arg.get_long().is_none();
                    assert!(positional || arg.get_help().is_some(), "{} --{id} has no help", cmd.get_name());
                }
                if let Some(env) = arg.get_env() {
                    assert!(env.to_string_lossy().starts_with("DEPOT_"), "{id}");
                }
            }
            for sub in cmd.get_subcommands() {
                assert!(sub.get_about().is_some(), "{} has no help", sub.get_name());
                walk(sub);
            }
        }
        walk(&Cli::command());
    }

    #[test]
    fn spec_shapes_parse() {
        for line in [
            "depot serve",
            "depot serve --listen 0.0.0.0:9000",
            "depot --db x.redb serve --tls-cert c.pem --tls-key k.pem",
            "depot user add alice --admin --private --password-stdin",
            "depot user list",
            "depot user delete alice",
            "depot user passwd alice --password-stdin",
            "depot org add team --private",
            "depot org member add team alice --role write",
            "depot org member remove team alice",
            "depot go zip ./src --module example.com/m --version v1.0.0 -o m.zip",
            "depot token create alice --name ci --scope read --expires-in-days 30",
            "depot token list alice",
            "depot token revoke alice ci",
            "depot verify",
            "depot generate man",
            "depot generate complete-bash",
            "depot generate complete-zsh",
            "depot generate complete-fish",
        ] {
            let args: Vec<&str> = line.split(' ').collect();
            assert!(Cli::try_parse_from(&args).is_ok(), "{line}");
        }
        for bad in [
            "depot user add alice",
            "depot token create alice --scope admin",
            "depot serve --tls-cert c.pem",
            "depot serve --max-connections 0",
            "depot serve --header-timeout-secs 0",
            "depot serve --listen localhost",
        ] {
            let args: Vec<&str> = bad.split(' ').collect();
            assert!(Cli::try_parse_from(&args).is_err(), "{bad}");
        }
    }
}
