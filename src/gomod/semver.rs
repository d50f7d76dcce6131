//! Go's flavour of semantic versions: `vMAJOR.MINOR.PATCH[-PRERELEASE][+incompatible]`.
//!
//! Only canonical versions are accepted (what `golang.org/x/mod/semver.Canonical` returns for
//! them unchanged): no `v1.2` shorthand, no leading zeros, no build metadata other than
//! `+incompatible`. Ordering is semantic-version precedence; `+incompatible` does not take
//! part in it.

use std::cmp::Ordering;

/// A parsed canonical version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// Dot-separated pre-release identifiers; empty for a release.
    pub pre: Vec<String>,
    pub incompatible: bool,
}

/// Why a version string is not canonical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

fn number(s: &str) -> Result<u64, Invalid> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid("major, minor and patch must be decimal numbers (vMAJOR.MINOR.PATCH)"));
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(Invalid("numbers must not have leading zeros"));
    }
    s.parse().map_err(|_| Invalid("version number too large"))
}

/// Parses a canonical version.
///
/// # Errors
/// A short reason when `s` is not a canonical semantic version.
pub fn parse(s: &str) -> Result<Version, Invalid> {
    let rest = s.strip_prefix('v').ok_or(Invalid("a version starts with 'v'"))?;
    let (rest, incompatible) = match rest.split_once('+') {
        None => (rest, false),
        Some((r, "incompatible")) => (r, true),
        Some(_) => return Err(Invalid("build metadata other than +incompatible is not canonical")),
    };
    let (core, pre) = match rest.split_once('-') {
        None => (rest, None),
        Some((c, p)) => (c, Some(p)),
    };
    let mut parts = core.split('.');
    let (Some(a), Some(b), Some(c), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Invalid("a canonical version has three numbers (vMAJOR.MINOR.PATCH)"));
    };
    let (major, minor, patch) = (number(a)?, number(b)?, number(c)?);
    let pre = match pre {
        None => Vec::new(),
        Some(p) => {
            let ids: Vec<String> = p.split('.').map(str::to_string).collect();
            for id in &ids {
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(Invalid("pre-release identifiers are non-empty [0-9A-Za-z-]"));
                }
                if id.len() > 1 && id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Invalid("numeric pre-release identifiers must not have leading zeros"));
                }
            }
            ids
        }
    };
    Ok(Version { major, minor, patch, pre, incompatible })
}

impl Version {
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// Whether this is a pseudo-version (`v0.0.0-20191109021931-daa7c04131f5` and its two
    /// other forms), which the go command leaves out of `list`.
    pub fn is_pseudo(&self) -> bool {
        // The pre-release ends in `<14-digit time>-<revision>`, the time being its own
        // identifier after `0.` (or the whole first identifier for vX.0.0-).
        let Some(last) = self.pre.last() else { return false };
        let Some((time, rev)) = last.split_once('-') else { return false };
        if time.len() != 14 || !time.bytes().all(|b| b.is_ascii_digit()) || rev.is_empty() {
            return false;
        }
        if !rev.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return false;
        }
        match self.pre.len() {
            1 => self.minor == 0 && self.patch == 0,
            n => self.pre[n - 2] == "0",
        }
    }

    /// Semantic-version precedence (`+incompatible` ignored).
    pub fn precedence(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_pre(&self.pre, &other.pre))
    }
}

fn compare_pre(a: &[String], b: &[String]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater, // a release follows its pre-releases
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    for (x, y) in a.iter().zip(b) {
        let numeric = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
        let o = match (numeric(x), numeric(y)) {
            (true, true) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Sorts version strings by precedence (unparsable ones first, by text; none are stored).
pub fn sort(versions: &mut [String]) {
    versions.sort_by(|a, b| match (parse(a), parse(b)) {
        (Ok(x), Ok(y)) => x.precedence(&y).then_with(|| a.cmp(b)),
        (Err(_), Ok(_)) => Ordering::Less,
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    });
}

/// The version `@latest` resolves to: the highest release, else the highest pre-release,
/// else the highest pseudo-version.
pub fn latest<'a>(versions: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let rank = |v: &Version| match (v.is_pseudo(), v.is_prerelease()) {
        (true, _) => 0,
        (false, true) => 1,
        (false, false) => 2,
    };
    versions
        .into_iter()
        .filter_map(|s| parse(s).ok().map(|v| (s, v)))
        .max_by(|(_, a), (_, b)| rank(a).cmp(&rank(b)).then_with(|| a.precedence(b)))
        .map(|(s, _)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_versions_parse_and_others_do_not() {
        for good in
            ["v0.0.0", "v1.2.3", "v2.0.0-rc.1", "v1.0.0-alpha-1.x", "v3.0.0+incompatible", "v1.10.0-0.a"]
        {
            assert!(parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1.2.3",
            "v1.2",
            "v1",
            "v01.2.3",
            "v1.02.3",
            "v1.2.3-",
            "v1.2.3-01",
            "v1.2.3+build",
            "v1.2.3-a..b",
            "v1.2.3-a_b",
            "V1.2.3",
            "v1.2.3.4",
            "v1.2.3-é",
            "v2303",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ordering_follows_semver_precedence() {
        let mut v: Vec<String> = [
            "v1.0.0",
            "v1.0.0-rc.1",
            "v1.0.0-beta.11",
            "v1.0.0-beta.2",
            "v1.0.0-beta",
            "v1.0.0-alpha.beta",
            "v1.0.0-alpha.1",
            "v1.0.0-alpha",
            "v0.9.0",
            "v1.10.0",
            "v1.2.0",
            "v2.0.0+incompatible",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        sort(&mut v);
        assert_eq!(
            v,
            [
                "v0.9.0",
                "v1.0.0-alpha",
                "v1.0.0-alpha.1",
                "v1.0.0-alpha.beta",
                "v1.0.0-beta",
                "v1.0.0-beta.2",
                "v1.0.0-beta.11",
                "v1.0.0-rc.1",
                "v1.0.0",
                "v1.2.0",
                "v1.10.0",
                "v2.0.0+incompatible",
            ]
        );
    }

    #[test]
    fn latest_prefers_releases_then_prereleases_then_pseudo_versions() {
        assert_eq!(latest(["v1.0.0", "v1.1.0-rc.1", "v0.9.0"]), Some("v1.0.0"));
        assert_eq!(latest(["v1.1.0-rc.1", "v1.1.0-beta"]), Some("v1.1.0-rc.1"));
        assert_eq!(latest(["v0.0.0-20191109021931-daa7c04131f5", "v0.1.0-pre"]), Some("v0.1.0-pre"));
        assert_eq!(
            latest(["v0.0.0-20191109021931-daa7c04131f5"]),
            Some("v0.0.0-20191109021931-daa7c04131f5")
        );
        assert_eq!(latest([]), None);
    }

    #[test]
    fn pseudo_versions_are_recognised_in_all_three_forms() {
        for p in [
            "v0.0.0-20191109021931-daa7c04131f5",
            "v1.2.4-0.20191109021931-daa7c04131f5",
            "v1.2.3-pre.0.20191109021931-daa7c04131f5",
        ] {
            assert!(parse(p).unwrap().is_pseudo(), "{p}");
        }
        for not in ["v1.2.3", "v1.2.3-rc.1", "v1.2.3-20191109021931-daa7c04131f5", "v0.0.0-2019-abc"] {
            assert!(!parse(not).unwrap().is_pseudo(), "{not}");
        }
    }
}
