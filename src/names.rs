//! Name rules for owners, packages, versions and files (docs/api.md, Names), and the case-folded key
//! every name is stored under.
//!
//! Pure functions only: no I/O, so they can be unit-tested and fuzzed directly. Uniqueness is
//! case-insensitive (ASCII), so the store keys every name by [`key`] and keeps the spelling
//! it was first uploaded with in the record.

use std::fmt;

/// Longest name of any kind, in bytes.
pub const MAX_LEN: usize = 255;

/// Which rule a name broke. Each maps to a 400 with its text as the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The name is empty.
    Empty(Kind),
    /// The name is longer than [`MAX_LEN`] bytes.
    TooLong(Kind),
    /// The name contains a character its kind does not allow.
    BadChar(Kind, char),
    /// `.` and `..` would read as path navigation.
    Dots(Kind),
    /// A one-character package or owner name must be a letter or digit.
    ShortName(Kind),
    /// Leading or trailing white space.
    Space(Kind),
    /// Owner names start with a letter or digit.
    BadStart(Kind),
    /// The name is the first segment of one of depot's own paths (the web page's routes).
    Reserved(String),
}

/// The kind of name, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Owner,
    Package,
    Version,
    File,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Owner => "owner name",
            Kind::Package => "package name",
            Kind::Version => "version",
            Kind::File => "file name",
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty(k) => write!(f, "{k} is empty"),
            Error::TooLong(k) => write!(f, "{k} is longer than {MAX_LEN} bytes"),
            Error::BadChar(k, c) => {
                write!(f, "{k} contains the character {c:?}, which is not allowed")
            }
            Error::Dots(k) => write!(f, "{k} may not be '.' or '..'"),
            Error::ShortName(k) => write!(f, "a one-character {k} must be a letter or digit"),
            Error::Space(k) => write!(f, "{k} may not start or end with white space"),
            Error::BadStart(k) => write!(f, "{k} must start with a letter or digit"),
            Error::Reserved(name) => write!(
                f,
                "{name:?} is reserved: depot's own pages and APIs use that path (reserved: {})",
                RESERVED_OWNERS.join(", ")
            ),
        }
    }
}

impl std::error::Error for Error {}

/// The case-folded form a name is keyed by: two names that differ only in ASCII case are one.
pub fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

fn common(kind: Kind, name: &str) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::Empty(kind));
    }
    if name.len() > MAX_LEN {
        return Err(Error::TooLong(kind));
    }
    if name == "." || name == ".." {
        return Err(Error::Dots(kind));
    }
    Ok(())
}

fn only(kind: Kind, name: &str, allowed: impl Fn(char) -> bool) -> Result<(), Error> {
    match name.chars().find(|&c| !allowed(c)) {
        Some(c) => Err(Error::BadChar(kind, c)),
        None => Ok(()),
    }
}

/// Package name: `A-Z a-z 0-9 . _ - +`; not `.`/`..`; one character must be alphanumeric.
pub fn package(name: &str) -> Result<(), Error> {
    common(Kind::Package, name)?;
    only(Kind::Package, name, |c| c.is_ascii_alphanumeric() || ".-_+".contains(c))?;
    if name.len() == 1 && !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(Error::ShortName(Kind::Package));
    }
    Ok(())
}

/// File name: alphanumerics, `. _ - + = : ; ( ) [ ] { } ~ ! @ # $ % ^ &` and inner spaces.
pub fn file(name: &str) -> Result<(), Error> {
    common(Kind::File, name)?;
    only(Kind::File, name, |c| c.is_ascii_alphanumeric() || "._-+=:;()[]{}~!@#$%^& ".contains(c))?;
    if name.starts_with(' ') || name.ends_with(' ') {
        return Err(Error::Space(Kind::File));
    }
    Ok(())
}

/// Version: any non-empty segment without `/`, control characters or surrounding white space.
pub fn version(name: &str) -> Result<(), Error> {
    common(Kind::Version, name)?;
    only(Kind::Version, name, |c| c != '/' && !c.is_control())?;
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err(Error::Space(Kind::Version));
    }
    Ok(())
}

/// Owner (user or organization) name: `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
pub fn owner(name: &str) -> Result<(), Error> {
    common(Kind::Owner, name)?;
    only(Kind::Owner, name, |c| c.is_ascii_alphanumeric() || "._-".contains(c))?;
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(Error::BadStart(Kind::Owner));
    }
    Ok(())
}

/// First path segments depot serves itself; an owner of that name would have web pages
/// (`/{owner}/-/packages`) beside depot's own under one prefix, so no new owner may take one.
pub const RESERVED_OWNERS: &[&str] = &["api", "assets", "healthz", "metrics", "user"];

/// A name a new user or organization may take: [`owner`]'s rule, and not one of
/// [`RESERVED_OWNERS`] in any case. Owners created before a name was reserved keep it.
pub fn new_owner(name: &str) -> Result<(), Error> {
    owner(name)?;
    match RESERVED_OWNERS.iter().find(|r| r.eq_ignore_ascii_case(name)) {
        Some(r) => Err(Error::Reserved((*r).to_string())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names() {
        for good in ["a", "7", "my-app", "A.b_c+d", &"x".repeat(255)] {
            assert_eq!(package(good), Ok(()), "{good}");
        }
        for bad in ["", ".", "..", "-", "_", "a b", "a/b", "ä", &"x".repeat(256)] {
            assert!(package(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_names() {
        for good in ["a", "app-1.0.tar.gz", "a b", "x=1;(y)[z]{w}~!@#$%^&", "-", "_"] {
            assert_eq!(file(good), Ok(()), "{good}");
        }
        for bad in ["", ".", "..", " a", "a ", "a/b", "a\\b", "a\"b", "a\tb", "ü", "a,b"] {
            assert!(file(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions() {
        for good in ["1.0.0", "v2-beta+build", "latest", "ünïcode", "a b"] {
            assert_eq!(version(good), Ok(()), "{good}");
        }
        for bad in ["", ".", "..", " 1", "1 ", "1/2", "1\n", "1\u{7f}", "\t1"] {
            assert!(version(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn owner_names() {
        for good in ["a", "alice", "team-1.x_y"] {
            assert_eq!(owner(good), Ok(()), "{good}");
        }
        for bad in ["", "-a", ".a", "a b", "a+b", "a/b"] {
            assert!(owner(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reserved_owner_names_are_refused_in_any_case() {
        for bad in ["api", "API", "Assets", "healthz", "metrics", "user"] {
            assert!(matches!(new_owner(bad), Err(Error::Reserved(_))), "{bad}");
        }
        for good in ["admin", "users", "apis", "alice"] {
            assert_eq!(new_owner(good), Ok(()), "{good}");
        }
        assert_eq!(new_owner("-a"), Err(Error::BadStart(Kind::Owner)));
    }

    #[test]
    fn keys_fold_ascii_case_only() {
        assert_eq!(key("MyApp"), "myapp");
        assert_eq!(key("Ä"), "Ä");
    }
}
