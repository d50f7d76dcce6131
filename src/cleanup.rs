//! Cleanup rules: what a rule means, which versions it removes, removing them, and the
//! server's schedule.
//!
//! A rule has Gitea's fields and meaning (docs/api.md, Cleanup rules). A version is removed
//! when it matches `remove_pattern` (empty: every version), is at least `remove_days` old
//! (0: any age), is not among the `keep_count` newest of its package (by creation) and does
//! not match `keep_pattern`. Patterns are anchored, case-insensitive regular expressions on
//! the version, or on `package/version` with `match_full_name`.
//!
//! Unlike Gitea, every version is considered: each package of the rule's type is walked from
//! its newest version by a cursor, a page at a time ([`Store::versions_before`]), so memory
//! stays bounded by a page whatever a package holds, and removing versions behind the cursor
//! does not shift what is still ahead of it. [`preview`] and [`apply`] share that walk, so a
//! preview lists exactly what an apply at the same moment removes. An apply removes through
//! [`Store::delete_version`], the path of the API's DELETE: quotas, summaries and freed
//! space follow as for a user's delete.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::store::{self, PackageType, RuleRec, Store, VersionSummary};

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN: usize = 1024;
/// Versions read per page of the walk.
const PAGE: usize = 256;
/// Removals submitted to the writer at once (see [`delete_all`]).
const DELETERS: usize = 16;
/// Largest compiled pattern, so a rule cannot take the server's memory.
const REGEX_SIZE: usize = 1 << 20;

/// A rule as asked for (API body, CLI flags), before it is checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewRule {
    pub enabled: bool,
    pub kind: String,
    pub keep_count: u64,
    pub keep_pattern: String,
    pub remove_days: u64,
    pub remove_pattern: String,
    pub match_full_name: bool,
}

/// One version a rule removes: the package and version as spelled, and its type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    pub kind: String,
    pub package: String,
    pub version: String,
}

/// A pattern compiled as rules match: anchored at both ends, case-insensitive (Gitea's).
///
/// # Errors
/// The reason, naming the field, when it is too long or not a valid regular expression.
fn compile(field: &str, pattern: &str) -> Result<Option<Regex>, String> {
    if pattern.is_empty() {
        return Ok(None);
    }
    if pattern.len() > MAX_PATTERN {
        return Err(format!("{field} is longer than {MAX_PATTERN} bytes"));
    }
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .case_insensitive(true)
        .size_limit(REGEX_SIZE)
        .build()
        .map(Some)
        .map_err(|e| {
            // The regex crate's message spans lines (the pattern with a caret under the
            // fault); one line is what a 400 and the CLI carry.
            let why =
                e.to_string().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
            format!("{field} {pattern:?} is not a valid regular expression: {why}")
        })
}

/// Checks a new rule and turns it into a record (id and time are the store's to set).
///
/// # Errors
/// The reason: an unknown type, a pattern that does not compile or is too long.
pub fn check(rule: NewRule) -> Result<RuleRec, String> {
    if PackageType::parse(&rule.kind).is_none() {
        return Err(format!("type must be generic or go, not {:?}", rule.kind));
    }
    compile("keep_pattern", &rule.keep_pattern)?;
    compile("remove_pattern", &rule.remove_pattern)?;
    Ok(RuleRec {
        id: 0,
        enabled: rule.enabled,
        kind: rule.kind,
        keep_count: rule.keep_count,
        keep_pattern: rule.keep_pattern,
        remove_days: rule.remove_days,
        remove_pattern: rule.remove_pattern,
        match_full_name: rule.match_full_name,
        created: 0,
    })
}

/// A stored rule ready to match.
struct Compiled {
    kind: PackageType,
    keep_count: u64,
    keep: Option<Regex>,
    remove: Option<Regex>,
    /// Versions created at or before this second are old enough.
    older_than: u64,
    full_name: bool,
}

impl Compiled {
    fn of(rule: &RuleRec, now: u64) -> store::Result<Compiled> {
        let bad = |e: String| store::Error::corrupt(format!("cleanup rule {}: {e}", rule.id));
        Ok(Compiled {
            kind: PackageType::parse(&rule.kind)
                .ok_or_else(|| bad(format!("unknown type {:?}", rule.kind)))?,
            keep_count: rule.keep_count,
            keep: compile("keep_pattern", &rule.keep_pattern).map_err(bad)?,
            remove: compile("remove_pattern", &rule.remove_pattern).map_err(bad)?,
            older_than: now.saturating_sub(rule.remove_days.saturating_mul(86_400)),
            full_name: rule.match_full_name,
        })
    }

    /// Whether the version at `rank` (0: the newest of its package) goes.
    fn removes(&self, rank: u64, v: &VersionSummary) -> bool {
        if rank < self.keep_count || v.rec.created > self.older_than {
            return false;
        }
        let subject = if self.full_name {
            std::borrow::Cow::Owned(format!("{}/{}", v.package, v.rec.version))
        } else {
            std::borrow::Cow::Borrowed(v.rec.version.as_str())
        };
        if self.keep.as_ref().is_some_and(|k| k.is_match(&subject)) {
            return false;
        }
        self.remove.as_ref().is_none_or(|r| r.is_match(&subject))
    }
}

/// What to do with each version a rule removes.
enum Mode<'a> {
    /// Only list it.
    Preview,
    /// Delete it (unless `stop` is set: then the walk ends).
    Apply(&'a AtomicBool),
}

/// Walks every version of every package of `rule`'s type of `owner`, newest first per
/// package, and hands each version the rule removes to `found` (after deleting it when
/// applying).
fn walk(
    store: &Store,
    owner: &str,
    rule: &RuleRec,
    now: u64,
    mode: &Mode,
    found: &mut dyn FnMut(VersionSummary),
) -> store::Result<()> {
    let rule = Compiled::of(rule, now)?;
    for package in store.packages(owner, Some(rule.kind))? {
        let name = package.rec.name;
        let mut rank = 0u64;
        let mut before = None;
        loop {
            let page = store.versions_before(owner, rule.kind, &name, before, PAGE)?;
            let Some(last) = page.last() else { break };
            before = Some(last.rec.seqs.package);
            let mut going = Vec::new();
            for v in page {
                if rule.removes(rank, &v) {
                    going.push(v);
                }
                rank += 1;
            }
            match mode {
                Mode::Preview => going.into_iter().for_each(&mut *found),
                Mode::Apply(stop) => {
                    for batch in going.chunks(DELETERS) {
                        if stop.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        for (v, deleted) in batch.iter().zip(delete_all(store, owner, rule.kind, batch)) {
                            match deleted {
                                Ok(()) => found(v.clone()),
                                // Deleted meanwhile by someone else: nothing left to remove.
                                Err(store::Error::NotFound(_)) => {}
                                Err(e) => return Err(e),
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// Deletes `versions` through [`Store::delete_version`], each in its own transaction but
/// submitted together, so the writer commits them in one batch (one fsync for the lot
/// instead of one each); answers each delete's outcome in order.
fn delete_all(
    store: &Store,
    owner: &str,
    kind: PackageType,
    versions: &[VersionSummary],
) -> Vec<store::Result<()>> {
    std::thread::scope(|s| {
        let running: Vec<_> = versions
            .iter()
            .map(|v| s.spawn(move || store.delete_version(owner, kind, &v.package, &v.rec.version)))
            .collect();
        running.into_iter().map(|h| h.join().unwrap_or(Err(store::Error::Panicked))).collect()
    })
}

/// The rules `id` selects of `owner`: that one (whether enabled or not: it was asked for by
/// name), or with `None` every enabled one.
///
/// # Errors
/// [`store::Error::NotFound`] (`What::Rule`) when there is no rule `id`.
fn selected(store: &Store, owner: &str, id: Option<u64>) -> store::Result<Vec<RuleRec>> {
    let rules = store.rules(owner)?;
    match id {
        Some(id) => match rules.into_iter().find(|r| r.id == id) {
            Some(r) => Ok(vec![r]),
            None => Err(store::Error::NotFound(store::What::Rule)),
        },
        None => Ok(rules.into_iter().filter(|r| r.enabled).collect()),
    }
}

/// The versions of `owner` that the rule `id` (or every enabled rule) would remove now;
/// removes nothing. Blocks.
///
/// # Errors
/// As [`selected`], storage errors.
pub fn preview(store: &Store, owner: &str, id: Option<u64>) -> store::Result<Vec<VersionSummary>> {
    let now = crate::clock::now();
    let mut out = Vec::new();
    for rule in selected(store, owner, id)? {
        walk(store, owner, &rule, now, &Mode::Preview, &mut |v| out.push(v))?;
    }
    Ok(out)
}

/// Removes what [`preview`] lists, each version through the API's delete path, and returns
/// what it removed. Stops early, between two versions, once `stop` is set. Blocks.
///
/// # Errors
/// As [`preview`]; a failed delete stops it (what was removed before stays removed).
pub fn apply(
    store: &Store,
    owner: &str,
    id: Option<u64>,
    stop: &AtomicBool,
) -> store::Result<Vec<VersionSummary>> {
    let now = crate::clock::now();
    let mut out = Vec::new();
    for rule in selected(store, owner, id)? {
        walk(store, owner, &rule, now, &Mode::Apply(stop), &mut |v| out.push(v))?;
    }
    Ok(out)
}

/// The names of removed versions, for the CLI and the control socket.
pub fn removals(list: Vec<VersionSummary>) -> Vec<Removal> {
    list.into_iter()
        .map(|v| Removal { kind: v.kind.as_str().to_string(), package: v.package, version: v.rec.version })
        .collect()
}

/// Applies every enabled rule of every owner; returns how many versions went. Blocks.
///
/// # Errors
/// The first storage error (rules of other owners still run).
pub fn apply_all(store: &Store, stop: &AtomicBool) -> store::Result<u64> {
    let mut removed = 0u64;
    let mut first_error = None;
    for (owner, rule) in store.all_rules()? {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if !rule.enabled {
            continue;
        }
        let now = crate::clock::now();
        let mut n = 0u64;
        match walk(store, &owner, &rule, now, &Mode::Apply(stop), &mut |_| n += 1) {
            Ok(()) => {}
            Err(e) => {
                tracing::error!(owner = %owner, rule = rule.id, error = %e, "cleanup rule failed");
                first_error.get_or_insert(e);
            }
        }
        if n > 0 {
            tracing::info!(owner = %owner, rule = rule.id, versions = n, "cleanup rule removed versions");
        }
        removed += n;
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

/// The server's schedule: applies every enabled rule every `interval` (the first time one
/// interval after start) until `stop` is set. Each run is on the blocking pool and checks
/// `stop` between two removals, so a shutdown waits for one delete at most.
pub async fn schedule(store: Store, interval: Duration, stop: std::sync::Arc<AtomicBool>) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let (s, flag) = (store.clone(), stop.clone());
        match tokio::task::spawn_blocking(move || apply_all(&s, &flag)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => {} // logged per rule
            Err(e) => tracing::error!(error = %e, "the cleanup run panicked"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(keep: &str, remove: &str) -> NewRule {
        NewRule {
            enabled: true,
            kind: "generic".into(),
            keep_count: 0,
            keep_pattern: keep.into(),
            remove_days: 0,
            remove_pattern: remove.into(),
            match_full_name: false,
        }
    }

    #[test]
    fn patterns_are_anchored_case_insensitive_and_checked() {
        let re = compile("remove_pattern", "1\\.0.*").unwrap().unwrap();
        assert!(re.is_match("1.0-RC1") && re.is_match("1.0") && !re.is_match("v1.0") && !re.is_match("11.0"));
        let alt = compile("keep_pattern", "a|b").unwrap().unwrap();
        assert!(alt.is_match("A") && !alt.is_match("ab"), "the alternation is anchored as a whole");
        assert!(compile("keep_pattern", "").unwrap().is_none());
        let e = check(rule("(", "")).unwrap_err();
        assert!(
            e.starts_with("keep_pattern \"(\" is not a valid regular expression: ") && !e.contains('\n'),
            "{e}"
        );
        let e = check(rule("", &"x".repeat(MAX_PATTERN + 1))).unwrap_err();
        assert_eq!(e, format!("remove_pattern is longer than {MAX_PATTERN} bytes"));
        let e = check(NewRule { kind: "npm".into(), ..rule("", "") }).unwrap_err();
        assert_eq!(e, "type must be generic or go, not \"npm\"");
        // A pattern that compiles too large is refused, not built.
        assert!(check(rule("", "(?:\\w{1000}){1000}")).unwrap_err().contains("remove_pattern"));
    }
}
