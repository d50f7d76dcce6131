//! Module paths, file paths inside a module, and the go command's case encoding.
//!
//! The rules are those of `golang.org/x/mod/module` (`CheckPath`, `CheckFilePath`,
//! `EscapePath`/`UnescapePath`, `SplitPathVersion`, `CheckPathMajor`), restated from the
//! summary in `docs/go-modules.md`. Each error is a one-line reason naming the rule.

use super::semver::Version;

/// Element names Windows reserves (compared case-insensitively, before the first dot).
const WINDOWS_RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
    "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Module,
    File,
}

fn module_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn file_char_ok(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(c)
    } else {
        c.is_alphabetic()
    }
}

fn check_elem(elem: &str, kind: Kind) -> Result<(), String> {
    if elem.is_empty() {
        return Err("empty path element".into());
    }
    if elem.bytes().all(|b| b == b'.') {
        return Err(format!("invalid path element {elem:?} (only dots)"));
    }
    if kind == Kind::Module && elem.starts_with('.') {
        return Err(format!("leading dot in path element {elem:?}"));
    }
    if elem.ends_with('.') {
        return Err(format!("trailing dot in path element {elem:?}"));
    }
    let ok = if kind == Kind::Module { module_char_ok } else { file_char_ok };
    if let Some(c) = elem.chars().find(|&c| !ok(c)) {
        return Err(format!("invalid character {c:?} in path element {elem:?}"));
    }
    let short = elem.split('.').next().unwrap_or(elem);
    if WINDOWS_RESERVED.iter().any(|r| r.eq_ignore_ascii_case(short)) {
        return Err(format!("path element {elem:?} is a name Windows reserves"));
    }
    if kind == Kind::Module {
        if let Some((_, digits)) = short.rsplit_once('~') {
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("path element {elem:?} looks like a Windows short name (~ and digits)"));
            }
        }
    }
    Ok(())
}

fn check_path(path: &str, kind: Kind) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if kind == Kind::Module && path.starts_with('-') {
        return Err("leading dash".into());
    }
    if path.contains("//") {
        return Err("double slash".into());
    }
    if path.ends_with('/') {
        return Err("trailing slash".into());
    }
    if path.starts_with('/') {
        return Err("leading slash".into());
    }
    path.split('/').try_for_each(|e| check_elem(e, kind))
}

/// Checks a module path (`example.com/team/mod/v2`).
///
/// # Errors
/// A one-line reason naming the rule broken.
pub fn check_module_path(path: &str) -> Result<(), String> {
    let e = |why: String| format!("invalid module path {path:?}: {why}");
    check_path(path, Kind::Module).map_err(e)?;
    let first = path.split('/').next().unwrap_or(path);
    if !first.contains('.') {
        return Err(e("the first path element (the host) must contain a dot".into()));
    }
    if let Some(c) =
        first.chars().find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'))
    {
        return Err(e(format!(
            "invalid character {c:?} in the first path element (lower-case host names only)"
        )));
    }
    if split_major(path).is_none() {
        return Err(e("invalid major version suffix".into()));
    }
    Ok(())
}

/// Checks a file path inside a module zip (relative to `module@version/`).
///
/// # Errors
/// A one-line reason naming the rule broken.
pub fn check_file_path(path: &str) -> Result<(), String> {
    check_path(path, Kind::File).map_err(|why| format!("invalid file path {path:?}: {why}"))
}

/// Splits `path` into its prefix and major-version suffix (`"/v2"`, `".v1"` for gopkg.in,
/// `""` for none). `None` when the suffix is malformed (`/v1`, `/v02`, a gopkg.in path
/// without `.vN`).
pub fn split_major(path: &str) -> Option<(&str, &str)> {
    if path.starts_with("gopkg.in/") {
        let dot = path.rfind(".v")?;
        let (prefix, suffix) = path.split_at(dot);
        let n = suffix[2..].strip_suffix("-unstable").unwrap_or(&suffix[2..]);
        let valid =
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'));
        return valid.then_some((prefix, suffix));
    }
    let Some(slash) = path.rfind('/') else { return Some((path, "")) };
    let last = &path[slash + 1..];
    let Some(n) = last.strip_prefix('v') else { return Some((path, "")) };
    if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit() || b == b'.') && n.contains('.') {
        return None; // "/v1.2" looks like a version, and the go command refuses it
    }
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Some((path, ""));
    }
    if n.starts_with('0') || n == "1" {
        return None; // "/v0", "/v1" and "/v02" are not major-version suffixes
    }
    Some((&path[..slash], &path[slash..]))
}

/// Checks that `v` may be a version of the module `path` (its major version matches the
/// path's suffix, or is v0/v1 for a path without one, or is marked `+incompatible`).
///
/// # Errors
/// A one-line reason.
pub fn check_major(path: &str, version: &str, v: &Version) -> Result<(), String> {
    let (_, suffix) = split_major(path).ok_or_else(|| format!("invalid module path {path:?}"))?;
    let suffix = suffix.strip_suffix("-unstable").unwrap_or(suffix);
    if suffix.is_empty() {
        if v.incompatible {
            if v.major < 2 {
                return Err(format!(
                    "version {version}: +incompatible is only for major versions 2 and above"
                ));
            }
            return Ok(());
        }
        if v.major <= 1 {
            return Ok(());
        }
        return Err(format!(
            "version {version} has major version {} but module path {path:?} has no /v{} suffix \
             (use {path}/v{} or +incompatible)",
            v.major, v.major, v.major
        ));
    }
    if v.incompatible {
        return Err(format!(
            "version {version}: +incompatible is not allowed for a path with a major suffix"
        ));
    }
    let want: u64 = suffix[2..].parse().map_err(|_| format!("invalid module path {path:?}"))?;
    if v.major != want {
        return Err(format!("version {version} does not match the major version suffix of module path {path:?} (want v{want}.x.y)"));
    }
    Ok(())
}

/// The go command's case encoding: every upper-case ASCII letter `X` becomes `!x`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Reverses [`escape`]. `None` for a `!` not followed by a lower-case letter, or an
/// upper-case letter (which the encoding never produces).
pub fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut bang = false;
    for c in s.chars() {
        if bang {
            if !c.is_ascii_lowercase() {
                return None;
            }
            out.push(c.to_ascii_uppercase());
            bang = false;
        } else if c == '!' {
            bang = true;
        } else if c.is_ascii_uppercase() {
            return None;
        } else {
            out.push(c);
        }
    }
    (!bang).then_some(out)
}

/// A key under which two paths collide when they are equal ignoring case: equal keys exactly
/// when the go command's `strings.EqualFold` (simple Unicode case folding, one character to
/// one) finds the paths equal, so `ß` and `ẞ` collide but `ß` and `ss` do not.
pub fn fold(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

/// One character's fold: the lower case of its upper case, where each is a single character.
/// Full case mappings that turn one character into several (`ß` → `SS`, `ŉ` → `ʼN`) are not
/// simple folding and leave the character as it is.
fn fold_char(c: char) -> char {
    // Dotless ı upper-cases to I, but only Turkic folding joins them; EqualFold keeps them apart.
    if c == 'ı' {
        return c;
    }
    let upper = only_char(c.to_uppercase()).unwrap_or(c);
    only_char(upper.to_lowercase()).unwrap_or(upper)
}

/// The one character of a case mapping, or `None` when it maps to several.
fn only_char(mut mapped: impl Iterator<Item = char>) -> Option<char> {
    match (mapped.next(), mapped.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gomod::semver::parse;

    #[test]
    fn module_paths() {
        for good in [
            "example.com/m",
            "example.com/Upper/Case",
            "example.com/a/v2",
            "my-host.io/x_y~z",
            "gopkg.in/yaml.v3",
            "example.com",
            "example.com/a.b/c-d",
        ] {
            assert_eq!(check_module_path(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "example",
            "Example.com/m",
            "example.com/",
            "/example.com",
            "example.com//m",
            "-x.com/m",
            "example.com/.hidden",
            "example.com/dot.",
            "example.com/a b",
            "example.com/con",
            "example.com/LPT1.txt",
            "example.com/ab~1",
            "example.com/m/v1",
            "example.com/m/v02",
            "gopkg.in/yaml",
            "exa_mple.com/m",
            "example.com/é",
        ] {
            assert!(check_module_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_paths() {
        for good in [".gitignore", "a/b/c.go", "dir with space/x", "ünïcode/ok", "a+b/@x/{y}"] {
            assert_eq!(check_file_path(good), Ok(()), "{good}");
        }
        for bad in ["", "a//b", "a/", "/a", "..", "a/../b", "x.", "nul", "aux.go", "a\\b", "a:b", "tab\there"]
        {
            assert!(check_file_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn major_version_rules() {
        let ok = |p: &str, v: &str| check_major(p, v, &parse(v).unwrap());
        assert!(ok("example.com/m", "v1.2.3").is_ok());
        assert!(ok("example.com/m", "v0.1.0").is_ok());
        assert!(ok("example.com/m", "v2.0.0").is_err());
        assert!(ok("example.com/m", "v2.0.0+incompatible").is_ok());
        assert!(ok("example.com/m", "v1.0.0+incompatible").is_err());
        assert!(ok("example.com/m/v2", "v2.1.0").is_ok());
        assert!(ok("example.com/m/v2", "v3.0.0").is_err());
        assert!(ok("example.com/m/v2", "v1.0.0").is_err());
        assert!(ok("example.com/m/v2", "v2.0.0+incompatible").is_err());
        assert!(ok("gopkg.in/yaml.v3", "v3.0.1").is_ok());
        assert!(ok("gopkg.in/yaml.v3", "v2.0.1").is_err());
    }

    #[test]
    fn case_encoding_round_trips_and_rejects_malformed_input() {
        assert_eq!(escape("github.com/Azure/SDK"), "github.com/!azure/!s!d!k");
        assert_eq!(unescape("github.com/!azure/!s!d!k").as_deref(), Some("github.com/Azure/SDK"));
        assert_eq!(unescape("v1.0.0-!r!c1").as_deref(), Some("v1.0.0-RC1"));
        for bad in ["!", "a!", "!A", "!1", "Upper", "a!!b"] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
    }

    #[test]
    fn folding_matches_case_insensitive_collisions() {
        assert_eq!(fold("README.md"), fold("readme.MD"));
        assert_eq!(fold("\u{212A}elvin"), fold("kelvin"));
        assert_ne!(fold("a.go"), fold("b.go"));
        // As strings.EqualFold: simple folding only (one character to one).
        assert_eq!(fold("\u{1E9E}.go"), fold("\u{DF}.go"));
        assert_ne!(fold("\u{DF}.go"), fold("ss.go"));
        assert_ne!(fold("\u{149}"), fold("\u{2BC}n"));
        assert_eq!(fold("\u{3C2}"), fold("\u{3A3}"));
        assert_eq!(fold("\u{17F}"), fold("s"));
        assert_ne!(fold("\u{131}"), fold("i"));
        assert_ne!(fold("\u{130}"), fold("i"));
    }
}
