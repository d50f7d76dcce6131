//! Cleanup rules as stored: per owner, keyed by id, at most one per package type (Gitea's
//! rule). What a rule means, and applying it, is `crate::cleanup`'s business; this module
//! only keeps the records.

use redb::{ReadableTable, WriteTransaction};

use super::records::RuleRec;
use super::tables::{OWNERS, RULES};
use super::{codec, Error, Result, Store, What};
use crate::names::key;

/// The rules of owner key `o` in a write transaction, by id.
fn rules_in(tx: &WriteTransaction, o: &str) -> Result<Vec<RuleRec>> {
    let table = tx.open_table(RULES)?;
    let mut out = Vec::new();
    for entry in table.range((o, 0)..=(o, u64::MAX))? {
        out.push(codec::decode(entry?.1.value())?);
    }
    Ok(out)
}

/// Removes every rule of owner key `o` (the owner is being deleted).
pub(crate) fn clear_owner(tx: &WriteTransaction, o: &str) -> Result<()> {
    tx.open_table(RULES)?.retain_in((o, 0)..=(o, u64::MAX), |_, _| false)?;
    Ok(())
}

impl Store {
    /// Stores a new rule for `owner` with a fresh id (the `id` and `created` of `rule` are
    /// ignored) and returns it.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the owner does not exist, [`Error::Exists`] (`What::Rule`)
    /// when the owner has a rule for that package type already.
    pub fn add_rule(&self, owner: &str, rule: RuleRec) -> Result<RuleRec> {
        let o = key(owner);
        self.write(move |tx| {
            if tx.open_table(OWNERS)?.get(o.as_str())?.is_none() {
                return Err(Error::NotFound(What::Owner));
            }
            if rules_in(tx, &o)?.iter().any(|r| r.kind == rule.kind) {
                return Err(Error::Exists(What::Rule));
            }
            let rec = RuleRec { id: super::next_id(tx)?, created: crate::clock::now(), ..rule };
            tx.open_table(RULES)?.insert((o.as_str(), rec.id), codec::encode(&rec).as_slice())?;
            Ok(rec)
        })
    }

    /// The rules of `owner`, by id (empty when it has none or does not exist).
    pub fn rules(&self, owner: &str) -> Result<Vec<RuleRec>> {
        let tx = self.read()?;
        let o = key(owner);
        let table = tx.open_table(RULES)?;
        let mut out = Vec::new();
        for entry in table.range((o.as_str(), 0)..=(o.as_str(), u64::MAX))? {
            out.push(codec::decode(entry?.1.value())?);
        }
        Ok(out)
    }

    /// Every rule of every owner, as (owner key, rule), for the scheduled cleanup.
    pub fn all_rules(&self) -> Result<Vec<(String, RuleRec)>> {
        let tx = self.read()?;
        let mut out = Vec::new();
        for entry in tx.open_table(RULES)?.iter()? {
            let (k, v) = entry?;
            out.push((k.value().0.to_string(), codec::decode(v.value())?));
        }
        Ok(out)
    }

    /// Deletes rule `id` of `owner`.
    ///
    /// # Errors
    /// [`Error::NotFound`] (`What::Rule`) when the owner has no such rule.
    pub fn delete_rule(&self, owner: &str, id: u64) -> Result<()> {
        let o = key(owner);
        self.write(move |tx| match tx.open_table(RULES)?.remove((o.as_str(), id))? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(What::Rule)),
        })
    }
}
