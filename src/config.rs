//! Resolves the `serve` settings from their four sources into one validated [`ServeConfig`].
//!
//! Precedence, highest first: command-line flag, `DEPOT_*` environment variable, the optional
//! TOML file named by `--config` (env `DEPOT_CONFIG`), the built-in default.
//!
//! clap stays the only judge of a value, and the settings are listed once, in `cli.rs`:
//! 1. [`parse_command_line`] parses the real argv with flags and environment. Bad usage there
//!    is clap's error (exit 2).
//! 2. With a config file, each key is looked up as an argument id of `serve`. The ids are the
//!    field names of `ServeArgs`, so `max_file_size` is the key of `--max-file-size`, and the
//!    global `db` is among them. Then the key's TOML type is checked and the value goes through
//!    that argument's own value parser. Every key is checked, even one a flag overrides: a
//!    broken file must not pass because today's command line hides the broken line.
//! 3. For each key whose argument was not given by a flag or the environment (clap's
//!    `ValueSource` is `DefaultValue` or none), `--long=value` is added to the real argv (at
//!    the end, or before a `--`), and the whole is parsed once more. clap then applies the
//!    file's values as it applies flags, together with the relations between settings
//!    (`--tls-cert` requires `--tls-key`).
//!
//! The alternative, a serde struct for the file merged field by field, would list every
//! setting a second time and check file values by other rules than flags; here a new flag in
//! `ServeArgs` is a file key with no change in this module.
//!
//! Step 1 parses with those "requires" relations switched off, because the file may supply
//! the other half of a pair given as a flag. Step 3 parses with them on. A step-3 failure is
//! blamed on the file only if the command line alone passes clap's full checks.
//!
//! Every fault in the file is a [`FileError`] that names the file and the key: exit 1, because
//! it is not command-line usage. The file itself is the only I/O in this module; nothing here
//! opens the database or binds a socket.

use std::any::TypeId;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::builder::{Resettable, ValueParser};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use crate::app::Limits;
use crate::cli::{Cli, ServeArgs};
use crate::server::ConnLimits;
use crate::store::Options;
use crate::throttle::Rate;
use crate::tls::CertFiles;

/// The subcommand whose settings a config file holds.
const SERVE: &str = "serve";

/// Argument ids of `serve` that are not settings a file may hold. A file naming another file
/// would make the precedence order recursive; help and version are clap's actions.
const NOT_IN_FILE: [&str; 3] = ["config", "help", "version"];

/// Everything `depot serve` needs, validated.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub db: PathBuf,
    /// The config file the settings were merged from, for the startup log.
    pub config: Option<PathBuf>,
    pub listen: SocketAddr,
    /// HTTPS only when set; the files are read at start and on SIGHUP, not here.
    pub tls: Option<CertFiles>,
    pub store: Options,
    pub limits: Limits,
    pub conn: ConnLimits,
    /// The object store for file content (`--blob-store s3`), if any.
    pub objects: Option<crate::store::S3Config>,
    /// Its credentials as given (environment or config file), for content a database holds
    /// in the store it records while new content stays local.
    pub object_credentials: Option<(String, String)>,
    /// How often the server applies enabled cleanup rules.
    pub cleanup_interval: Duration,
    /// Whether webhooks may target non-public addresses.
    pub webhook_allow_private: bool,
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
        let objects = match args.blob_store {
            crate::cli::BlobStore::Local => None,
            crate::cli::BlobStore::S3 => Some(s3_config(args)?),
        };
        let object_credentials = match (&args.s3_access_key_id, &args.s3_secret_access_key) {
            (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                Some((id.clone(), secret.clone()))
            }
            _ => None,
        };
        Ok(ServeConfig {
            objects,
            object_credentials,
            db,
            config: args.config.clone(),
            listen: args.listen,
            tls,
            store: Options {
                cache_bytes: args.cache_mib.max(1) << 20,
                file_cache_bytes: args.file_cache_mib << 20,
                ..Options::default()
            },
            limits: Limits {
                max_file_size: args.max_file_size.0,
                body_idle,
                login: Rate {
                    burst: args.login_burst,
                    interval: Duration::from_secs(args.login_refill_secs),
                },
            },
            conn: ConnLimits {
                max_connections: args.max_connections,
                header_timeout: Duration::from_secs(args.header_timeout_secs),
                max_header_bytes: usize::try_from(args.max_header_bytes.0).unwrap_or(usize::MAX),
                grace: Duration::from_secs(args.grace_secs),
                write_idle: body_idle,
            },
            cleanup_interval: args.cleanup_interval.0,
            webhook_allow_private: args.webhook_allow_private,
        })
    }
}

/// The object store settings of `--blob-store s3`, each one required named when missing.
fn s3_config(args: &ServeArgs) -> Result<crate::store::S3Config, String> {
    let need = |v: &Option<String>, what: &str| {
        v.clone().filter(|v| !v.is_empty()).ok_or_else(|| format!("--blob-store s3 needs {what}"))
    };
    let cfg = crate::store::S3Config {
        endpoint: need(&args.s3_endpoint, "--s3-endpoint URL")?,
        bucket: need(&args.s3_bucket, "--s3-bucket NAME")?,
        region: args.s3_region.clone(),
        access_key_id: need(
            &args.s3_access_key_id,
            "credentials: DEPOT_S3_ACCESS_KEY_ID (or s3_access_key_id in the config file)",
        )?,
        secret_access_key: need(
            &args.s3_secret_access_key,
            "credentials: DEPOT_S3_SECRET_ACCESS_KEY (or s3_secret_access_key in the config file)",
        )?,
        redirect: args.s3_redirect,
        inline_max: args.s3_inline_max.0,
        timeout: Duration::from_secs(args.s3_timeout_secs),
        orphan_age: Duration::from_secs(args.s3_orphan_age_secs),
    };
    if cfg.inline_max > crate::store::SMALL_MAX as u64 {
        return Err(format!(
            "--s3-inline-max is at most {} (64KiB): larger content is what the object store is for",
            crate::store::SMALL_MAX
        ));
    }
    // A malformed endpoint is refused here, before the database is opened.
    crate::store::Objects::new(cfg.clone())?;
    Ok(cfg)
}

/// Why the command line and config file could not become a [`Cli`].
#[derive(Debug)]
pub enum Error {
    /// Bad usage, or `--help`/`--version`: clap's error, which knows how to print itself and
    /// its exit code (`clap::Error::exit`).
    Usage(clap::Error),
    /// The config file is unusable (exit 1).
    File(FileError),
}

/// An unusable config file: which file, and what is wrong in it.
#[derive(Debug)]
pub struct FileError {
    pub path: PathBuf,
    pub cause: FileCause,
}

/// What is wrong in a config file. Each variant that concerns one key names it.
#[derive(Debug)]
pub enum FileCause {
    /// The file cannot be read: missing, unreadable, not UTF-8.
    Read(io::Error),
    /// The file is not TOML. `line` and `column` count from 1.
    Syntax { line: usize, column: usize, message: String },
    /// The key names no setting. A typo must not be silently ignored.
    UnknownKey { key: String, hint: String },
    /// The key names an argument that is not a file setting (see `NOT_IN_FILE`).
    NotAllowed { key: String },
    /// The value has the wrong TOML type for its setting.
    WrongType { key: String, expected: &'static str, found: &'static str },
    /// The setting's value parser refused the value.
    BadValue { key: String, value: String, reason: String },
    /// The file's values are fine alone but not together with the rest, as clap words it
    /// (`tls_cert` without `tls_key` anywhere).
    Combination(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(e) => write!(f, "{}", one_line(e)),
            Error::File(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config file {}: {}", self.path.display(), self.cause)
    }
}

impl std::error::Error for FileError {}

impl fmt::Display for FileCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileCause::Read(e) => write!(f, "cannot read it: {e}"),
            FileCause::Syntax { line, column, message } => {
                write!(f, "not valid TOML: line {line}, column {column}: {message}")
            }
            FileCause::UnknownKey { key, hint } => write!(f, "{key}: unknown key ({hint})"),
            FileCause::NotAllowed { key } => {
                write!(f, "{key}: not a setting a config file may hold (command line or environment only)")
            }
            FileCause::WrongType { key, expected, found } => {
                write!(f, "{key}: expected {expected}, found {found}")
            }
            FileCause::BadValue { key, value, reason } => write!(f, "{key}: invalid value {value}: {reason}"),
            FileCause::Combination(reason) => f.write_str(reason),
        }
    }
}

/// Parses `argv` (program name first) with the `DEPOT_*` environment and, for `serve` with
/// `--config`, the config file, in the precedence order of the module header.
///
/// # Errors
/// [`Error::Usage`] for what clap refuses on the command line or in the environment (and for
/// `--help`), [`Error::File`] for an unusable config file.
pub fn parse_command_line(argv: impl IntoIterator<Item = OsString>) -> Result<Cli, Error> {
    parse_with(argv.into_iter().collect(), &|path| std::fs::read_to_string(path))
}

/// [`parse_command_line`] with the file reader passed in, so tests need no files.
fn parse_with(argv: Vec<OsString>, read: &dyn Fn(&Path) -> io::Result<String>) -> Result<Cli, Error> {
    let mut strict = Cli::command();
    // Credentials on the command line would be shown to every user by `ps`.
    let end = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
    if let Some(flag) = argv[..end].iter().find_map(|a| {
        let a = a.to_string_lossy();
        crate::cli::SECRET_FLAGS.into_iter().find(|f| a == *f || a.starts_with(&format!("{f}=")))
    }) {
        let env = flag.trim_start_matches("--").replace('-', "_").to_uppercase();
        let key = flag.trim_start_matches("--").replace('-', "_");
        return Err(Error::Usage(strict.error(
            clap::error::ErrorKind::ArgumentConflict,
            format!("{flag} is not accepted on the command line (other users can see it); set DEPOT_{env} or {key} in the config file"),
        )));
    }
    // Building propagates the global --db into serve, where the file's keys are looked up.
    strict.build();
    // Step 1 (module header): `requires` off, the file may supply the other half of a pair.
    let lenient =
        strict.clone().mut_subcommand(SERVE, |serve| serve.mut_args(|a| a.requires(Resettable::Reset)));
    let given = lenient.try_get_matches_from(&argv).map_err(Error::Usage)?;
    let extra = match given.subcommand() {
        Some((SERVE, serve_given)) => match serve_given.get_one::<PathBuf>("config") {
            Some(path) => {
                let file_error = |cause| Error::File(FileError { path: path.clone(), cause });
                let text = read(path).map_err(|e| file_error(FileCause::Read(e)))?;
                // The subcommand exists: the parse above just matched it.
                let serve = strict.find_subcommand(SERVE).expect("serve is a subcommand");
                let extra = file_args(serve, serve_given, &text).map_err(file_error)?;
                Some((path.clone(), extra))
            }
            None => None,
        },
        _ => None,
    };
    let (path, extra) = extra.unwrap_or_default();
    // The file's flags go before a `--` that ends the options: after it they would be operands.
    let mut merged = argv.clone();
    let end = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
    merged.splice(end..end, extra.iter().cloned());
    let matches = match strict.clone().try_get_matches_from(merged) {
        Ok(matches) => matches,
        Err(e) if extra.is_empty() => return Err(Error::Usage(e)),
        // Blame the file only when the command line alone is fine.
        Err(e) => match strict.try_get_matches_from(argv) {
            Err(usage) => return Err(Error::Usage(usage)),
            Ok(_) => {
                return Err(Error::File(FileError { path, cause: FileCause::Combination(one_line(&e)) }))
            }
        },
    };
    Cli::from_arg_matches(&matches).map_err(Error::Usage)
}

/// The arguments the config file `text` adds to a command line whose `serve` part parsed as
/// `given`: `--long=value` (or a bare `--long` for a switch set to true) for each key whose
/// setting came neither from a flag nor from the environment.
///
/// # Errors
/// The first fault in the file; every key is checked, also those that are overridden.
fn file_args(serve: &clap::Command, given: &ArgMatches, text: &str) -> Result<Vec<OsString>, FileCause> {
    let table: toml::Table = text.parse().map_err(|e| syntax_error(text, &e))?;
    let mut extra = Vec::new();
    for (key, value) in &table {
        let arg = setting(serve, key)?;
        let value = file_value(arg, key, value)?;
        if matches!(given.value_source(key), Some(ValueSource::CommandLine | ValueSource::EnvVariable)) {
            continue;
        }
        // `setting` returns only arguments with a long name.
        let long = arg.get_long().expect("a file setting has a long flag");
        match value {
            FileValue::Switch(true) => extra.push(format!("--{long}").into()),
            FileValue::Switch(false) => {}
            FileValue::Value(v) => {
                // `=` keeps a value that starts with '-' from being read as a flag.
                let mut flag = OsString::from(format!("--{long}="));
                flag.push(v);
                extra.push(flag);
            }
        }
    }
    Ok(extra)
}

/// The `serve` argument a file key sets: the one whose id is the key and that has a long flag.
fn setting<'a>(serve: &'a clap::Command, key: &str) -> Result<&'a clap::Arg, FileCause> {
    if NOT_IN_FILE.contains(&key) {
        return Err(FileCause::NotAllowed { key: key.into() });
    }
    if let Some(arg) = serve.get_arguments().find(|a| a.get_id() == key && a.get_long().is_some()) {
        return Ok(arg);
    }
    let keys = file_keys(serve);
    let underscored = key.replace('-', "_");
    let hint = if keys.contains(&underscored) {
        format!("did you mean {underscored}? keys use '_' where flags use '-'")
    } else {
        format!("the keys are: {}", keys.join(", "))
    };
    Err(FileCause::UnknownKey { key: key.into(), hint })
}

/// Every key a config file may hold, in the order of `serve --help`.
pub fn file_keys(serve: &clap::Command) -> Vec<String> {
    serve
        .get_arguments()
        .filter(|a| a.get_long().is_some() && !NOT_IN_FILE.contains(&a.get_id().as_str()))
        .map(|a| a.get_id().to_string())
        .collect()
}

/// A file value as the command line would carry it.
#[derive(Debug, PartialEq)]
enum FileValue {
    /// A flag that takes no value: given when true.
    Switch(bool),
    /// The text of a flag's value.
    Value(OsString),
}

/// The TOML types a setting accepts, decided by the Rust type its value parser produces: a
/// number must be written as a TOML number, everything else as a string.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expected {
    Integer,
    /// A byte count: an integer, or a string with a unit (`"1G"`).
    Size,
    /// A duration: an integer (seconds), or a string with a unit (`"24h"`).
    Duration,
    Float,
    Boolean,
    Text,
}

impl Expected {
    fn of(parser: &ValueParser) -> Expected {
        let id = parser.type_id();
        let integers = [
            TypeId::of::<u8>(),
            TypeId::of::<u16>(),
            TypeId::of::<u32>(),
            TypeId::of::<u64>(),
            TypeId::of::<usize>(),
            TypeId::of::<i8>(),
            TypeId::of::<i16>(),
            TypeId::of::<i32>(),
            TypeId::of::<i64>(),
            TypeId::of::<isize>(),
        ];
        if integers.iter().any(|t| id == *t) {
            Expected::Integer
        } else if id == TypeId::of::<crate::cli::ByteSize>() {
            Expected::Size
        } else if id == TypeId::of::<crate::cli::Interval>() {
            Expected::Duration
        } else if id == TypeId::of::<f64>() || id == TypeId::of::<f32>() {
            Expected::Float
        } else if id == TypeId::of::<bool>() {
            Expected::Boolean
        } else {
            Expected::Text
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Expected::Integer => "an integer",
            Expected::Size => "an integer or a string like \"1G\"",
            Expected::Duration => "an integer (seconds) or a string like \"24h\"",
            Expected::Float => "a number",
            Expected::Boolean => "true or false",
            Expected::Text => "a string",
        }
    }
}

/// Checks one file value against its argument: TOML type, then the argument's value parser.
fn file_value(arg: &clap::Arg, key: &str, value: &toml::Value) -> Result<FileValue, FileCause> {
    let wrong = |expected: Expected| FileCause::WrongType {
        key: key.into(),
        expected: expected.describe(),
        found: with_article(value.type_str()),
    };
    if !arg.get_action().takes_values() {
        return value.as_bool().map(FileValue::Switch).ok_or_else(|| wrong(Expected::Boolean));
    }
    let parser = arg.get_value_parser();
    let (text, shown) = match (Expected::of(parser), value) {
        (
            Expected::Integer | Expected::Float | Expected::Size | Expected::Duration,
            toml::Value::Integer(n),
        ) => (n.to_string(), n.to_string()),
        (Expected::Float, toml::Value::Float(x)) => (x.to_string(), x.to_string()),
        (Expected::Boolean, toml::Value::Boolean(b)) => (b.to_string(), b.to_string()),
        (Expected::Text | Expected::Size | Expected::Duration, toml::Value::String(s)) => {
            (s.clone(), format!("{s:?}"))
        }
        (expected, _) => return Err(wrong(expected)),
    };
    check_value(parser, &text).map_err(|reason| FileCause::BadValue {
        key: key.into(),
        value: shown,
        reason,
    })?;
    Ok(FileValue::Value(text.into()))
}

/// "an integer", "a string": TOML's type names as the error messages use them.
fn with_article(type_name: &'static str) -> &'static str {
    match type_name {
        "string" => "a string",
        "integer" => "an integer",
        "float" => "a float",
        "boolean" => "a boolean",
        "datetime" => "a datetime",
        "array" => "an array",
        "table" => "a table",
        other => other,
    }
}

/// Runs `text` through `parser` the way clap would for a flag's value.
///
/// # Errors
/// The parser's reason, on one line.
fn check_value(parser: &ValueParser, text: &str) -> Result<(), String> {
    // ValueParser's own parse method is private to clap; a one-argument command runs it.
    let probe = clap::Command::new("config")
        .no_binary_name(true)
        .arg(clap::Arg::new("value").value_parser(parser.clone()).allow_hyphen_values(true).required(true));
    match probe.try_get_matches_from([text]) {
        Ok(_) => Ok(()),
        Err(e) => Err(match std::error::Error::source(&e) {
            Some(reason) => reason.to_string(),
            None => one_line(&e),
        }),
    }
}

/// A clap error's message without the `error:` prefix, usage and help pointer, on one line.
fn one_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let text = rendered.trim_start().strip_prefix("error: ").unwrap_or(&rendered);
    text.lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A TOML parse error as a one-line cause with the position of the fault.
fn syntax_error(text: &str, e: &toml::de::Error) -> FileCause {
    let at = e.span().map_or(0, |span| span.start).min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let message = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    FileCause::Syntax { line, column, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;

    fn argv(line: &str) -> Vec<OsString> {
        line.split(' ').map(OsString::from).collect()
    }

    /// Parses `line` with `file` as the content of every config file.
    fn parse(line: &str, file: &str) -> Result<Cli, Error> {
        let file = file.to_owned();
        parse_with(argv(line), &move |_| Ok(file.clone()))
    }

    fn serve(line: &str, file: &str) -> (PathBuf, ServeArgs) {
        match parse(line, file) {
            Ok(Cli { db, command: Command::Serve(args) }) => (db, args),
            Ok(other) => panic!("not serve: {other:?}"),
            Err(e) => panic!("{line} with {file:?}: {e}"),
        }
    }

    fn file_cause(line: &str, file: &str) -> FileCause {
        match parse(line, file) {
            Err(Error::File(e)) => {
                assert_eq!(e.path, Path::new("depot.toml"));
                e.cause
            }
            Err(Error::Usage(e)) => panic!("usage error instead of a file error: {e}"),
            Ok(cli) => panic!("accepted: {cli:?}"),
        }
    }

    // These tests give every setting on the command line or in the file, so no DEPOT_* variable
    // of the environment running them can change the outcome of what they check; the
    // environment's place in the order is tested against the binary (tests/config.rs).

    #[test]
    fn file_sets_what_the_command_line_leaves_at_its_default() {
        let file =
            "max_file_size = 1000\nlisten = \"0.0.0.0:9000\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"";
        let (_, args) = serve("depot serve --config depot.toml", file);
        assert_eq!(args.max_file_size.0, 1000);
        assert_eq!(args.listen, "0.0.0.0:9000".parse::<SocketAddr>().unwrap());
        assert_eq!(args.tls_cert, Some(PathBuf::from("c.pem")));
        assert_eq!(args.tls_key, Some(PathBuf::from("k.pem")));
    }

    #[test]
    fn flag_beats_file() {
        let line = "depot serve --config depot.toml --max-file-size 5000 --listen 127.0.0.1:1";
        let (_, args) = serve(line, "max_file_size = 1000\nlisten = \"0.0.0.0:9000\"");
        assert_eq!(args.max_file_size.0, 5000);
        assert_eq!(args.listen, "127.0.0.1:1".parse::<SocketAddr>().unwrap());
    }

    #[test]
    fn db_in_the_file_is_for_serve_and_the_global_flag_beats_it() {
        let (db, _) = serve("depot serve --config depot.toml", "db = \"/var/lib/depot/x.redb\"");
        assert_eq!(db, Path::new("/var/lib/depot/x.redb"));
        let (db, _) =
            serve("depot --db flag.redb serve --config depot.toml", "db = \"/var/lib/depot/x.redb\"");
        assert_eq!(db, Path::new("flag.redb"));
        let (db, _) =
            serve("depot serve --db flag.redb --config depot.toml", "db = \"/var/lib/depot/x.redb\"");
        assert_eq!(db, Path::new("flag.redb"));
    }

    #[test]
    fn file_flags_go_before_the_end_of_options() {
        let (_, args) = serve("depot serve --config depot.toml --", "max_file_size = 1000");
        assert_eq!(args.max_file_size.0, 1000);
    }

    #[test]
    fn a_pair_may_be_split_between_flag_and_file() {
        let (_, args) = serve("depot serve --config depot.toml --tls-cert c.pem", "tls_key = \"k.pem\"");
        assert_eq!(args.tls_cert, Some(PathBuf::from("c.pem")));
        assert_eq!(args.tls_key, Some(PathBuf::from("k.pem")));
    }

    #[test]
    fn half_a_pair_in_the_file_is_a_file_error_and_on_the_command_line_a_usage_error() {
        let cause = file_cause("depot serve --config depot.toml", "tls_cert = \"c.pem\"");
        assert!(matches!(&cause, FileCause::Combination(m) if m.contains("--tls-key")), "{cause}");
        match parse("depot serve --config depot.toml --tls-cert c.pem", "max_file_size = 1") {
            Err(Error::Usage(e)) => assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument),
            other => panic!("{other:?}"),
        }
        match parse("depot serve --tls-cert c.pem", "") {
            Err(Error::Usage(e)) => assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_key_is_checked_even_when_a_flag_overrides_it() {
        let cause =
            file_cause("depot serve --config depot.toml --max-connections 5", "max_connections = \"lots\"");
        assert_eq!(cause.to_string(), "max_connections: expected an integer, found a string");
    }

    #[test]
    fn faults_name_the_key_and_the_reason() {
        let line = "depot serve --config depot.toml";
        for (file, expected) in [
            ("max_connections = 0", "max_connections: invalid value 0: must be at least 1"),
            ("max_file_size = -1", "max_file_size: invalid value -1: \"-1\" is not a size (e.g. 1048576, 512MiB, 8G)"),
            ("max_file_size = \"2 parsecs\"", "max_file_size: invalid value \"2 parsecs\": unknown unit \"parsecs\" (use K, M, G, T, KiB…TiB or KB…TB)"),
            ("max_file_size = true", "max_file_size: expected an integer or a string like \"1G\", found a boolean"),
            ("listen = \"nowhere\"", "listen: invalid value \"nowhere\": invalid socket address syntax"),
            ("listen = 8080", "listen: expected a string, found an integer"),
            ("grace_secs = 1.5", "grace_secs: expected an integer, found a float"),
            ("cache_mib = [1]", "cache_mib: expected an integer, found an array"),
            (
                "config = \"other.toml\"",
                "config: not a setting a config file may hold (command line or environment only)",
            ),
            (
                "max-file-size = 1",
                "max-file-size: unknown key (did you mean max_file_size? keys use '_' where flags use '-')",
            ),
        ] {
            assert_eq!(file_cause(line, file).to_string(), expected, "{file}");
        }
        let unknown = file_cause(line, "[server]\nlisten = \"0.0.0.0:1\"").to_string();
        assert!(
            unknown.starts_with("server: unknown key (the keys are: listen, tls_cert, tls_key,"),
            "{unknown}"
        );
    }

    #[test]
    fn syntax_errors_give_line_and_column_on_one_line() {
        let cause =
            file_cause("depot serve --config depot.toml", "listen = \"0.0.0.0:1\"\nmax_file_size = = 3\n");
        match &cause {
            FileCause::Syntax { line: 2, column, message } => {
                assert!(*column > 1 && !message.contains('\n'), "{cause}")
            }
            other => panic!("{other:?}"),
        }
        let cause =
            file_cause("depot serve --config depot.toml", "listen = \"0.0.0.0:1\"\nlisten = \"0.0.0.0:2\"");
        assert!(matches!(cause, FileCause::Syntax { line: 2, .. }), "{cause}");
    }

    #[test]
    fn a_missing_file_is_a_read_error() {
        let result = parse_with(argv("depot serve --config depot.toml"), &|_| {
            Err(io::Error::from(io::ErrorKind::NotFound))
        });
        match result {
            Err(Error::File(FileError { cause: FileCause::Read(e), .. })) => {
                assert_eq!(e.kind(), io::ErrorKind::NotFound)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_file_is_read_without_config_or_outside_serve() {
        let unread = |_: &Path| -> io::Result<String> { panic!("no file should be read") };
        assert!(parse_with(argv("depot serve --max-file-size 1"), &unread).is_ok());
        assert!(parse_with(argv("depot user list"), &unread).is_ok());
        assert!(matches!(parse_with(argv("depot serve --config"), &unread), Err(Error::Usage(_))));
    }

    #[test]
    fn credentials_come_from_the_file_or_environment_never_the_command_line() {
        let file =
            |_: &Path| Ok("s3_secret_access_key = \"from-file\"\ns3_access_key_id = \"id\"".to_string());
        let cli = parse_with(argv("depot serve --config depot.toml"), &file).unwrap();
        let Command::Serve(args) = cli.command else { panic!("serve") };
        assert_eq!(args.s3_secret_access_key.as_deref(), Some("from-file"));
        for line in ["depot serve --s3-secret-access-key x", "depot serve --s3-access-key-id=x"] {
            match parse_with(argv(line), &file) {
                Err(Error::Usage(e)) => {
                    assert!(e.to_string().contains("not accepted on the command line"), "{e}")
                }
                other => panic!("{line}: {other:?}"),
            }
        }
        // After `--` it is an operand, not a flag (and serve takes none: clap refuses it).
        assert!(matches!(parse_with(argv("depot serve -- --s3-access-key-id"), &file), Err(Error::Usage(_))));
    }

    #[test]
    fn every_serve_setting_is_a_file_key() {
        let mut cmd = Cli::command();
        cmd.build();
        let keys = file_keys(cmd.find_subcommand(SERVE).unwrap());
        // The documented list (docs/cli.md "Settings", README): db is there, config is not.
        let documented = [
            "listen",
            "tls_cert",
            "tls_key",
            "max_file_size",
            "body_idle_timeout_secs",
            "header_timeout_secs",
            "max_header_bytes",
            "max_connections",
            "grace_secs",
            "cache_mib",
            "file_cache_mib",
            "login_burst",
            "login_refill_secs",
            "blob_store",
            "s3_endpoint",
            "s3_bucket",
            "s3_region",
            "s3_redirect",
            "s3_inline_max",
            "s3_timeout_secs",
            "s3_orphan_age_secs",
            "s3_access_key_id",
            "s3_secret_access_key",
            "cleanup_interval",
            "webhook_allow_private",
            "db",
        ];
        let mut sorted = keys.clone();
        sorted.sort();
        let mut expected: Vec<String> = documented.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(sorted, expected);
        // Each key, with a valid value, reaches the parsed settings.
        let file = "listen = \"0.0.0.0:1\"\ntls_cert = \"c\"\ntls_key = \"k\"\nmax_file_size = 2\n\
                    body_idle_timeout_secs = 3\nheader_timeout_secs = 4\nmax_header_bytes = 5\n\
                    max_connections = 6\ngrace_secs = 7\ncache_mib = 8\ndb = \"d.redb\"";
        let (_, sized) = serve("depot serve --config depot.toml", "max_file_size = \"1G\"");
        assert_eq!(sized.max_file_size.0, 1 << 30);
        let (_, timed) = serve("depot serve --config depot.toml", "cleanup_interval = \"30m\"");
        assert_eq!(timed.cleanup_interval.0, Duration::from_secs(1800));
        let (_, timed) = serve("depot serve --config depot.toml", "cleanup_interval = 90");
        assert_eq!(timed.cleanup_interval.0, Duration::from_secs(90));
        let (_, default) = serve("depot serve", "");
        assert_eq!(default.cleanup_interval.0, Duration::from_secs(86_400));
        let (db, a) = serve("depot serve --config depot.toml", file);
        assert_eq!(
            (a.max_file_size.0, a.body_idle_timeout_secs, a.header_timeout_secs, a.max_header_bytes.0),
            (2, 3, 4, 5)
        );
        assert_eq!((a.max_connections, a.grace_secs, a.cache_mib, db), (6, 7, 8, PathBuf::from("d.redb")));
    }

    #[test]
    fn switches_and_values_become_flags() {
        let serve = clap::Command::new("serve")
            .arg(clap::Arg::new("quiet").long("quiet").action(clap::ArgAction::SetTrue))
            .arg(clap::Arg::new("loud").long("loud").action(clap::ArgAction::SetTrue))
            .arg(clap::Arg::new("n").long("n").value_parser(clap::value_parser!(u32)))
            .arg(clap::Arg::new("name").long("name"))
            .arg(clap::Arg::new("given").long("given"));
        let given = serve.clone().try_get_matches_from(["serve", "--given", "x"]).unwrap();
        let extra = file_args(
            &serve,
            &given,
            "quiet = true\nloud = false\nn = 3\nname = \"-dash\"\ngiven = \"from the file\"",
        )
        .unwrap();
        // Keys come in sorted order; a switch set to false and an overridden key add nothing.
        assert_eq!(extra, ["--n=3", "--name=-dash", "--quiet"]);
        let cause = file_args(&serve, &given, "quiet = \"yes\"").unwrap_err();
        assert_eq!(cause.to_string(), "quiet: expected true or false, found a string");
    }
}
