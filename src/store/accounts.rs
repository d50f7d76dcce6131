//! Users, organizations, memberships and tokens.
//!
//! Password hashing and token generation happen in the caller (they are slow or need
//! randomness, and the writer thread must not wait on either); this module only stores
//! their results. Invariants:
//! 1. Users and organizations share one case-insensitive name space (`OWNERS`).
//! 2. Every membership names an existing organization and an existing user.
//! 3. Every token names an existing user; its label is unique per user.
//! 4. Deleting a user or changing their password ends their web sessions (`sessions.rs`).

use redb::{ReadableTable, WriteTransaction};

use super::records::{OwnerKind, OwnerRec, Role, TokenRec};
use super::tables::{MEMBERS, OWNERS, OWNER_IDS, PACKAGES, TOKENS};
use super::{codec, get_rec, Error, Result, Store, What};
use crate::names::key;

fn role_byte(role: Role) -> u8 {
    match role {
        Role::Read => 0,
        Role::Write => 1,
    }
}

fn owner_in(tx: &WriteTransaction, k: &str) -> Result<Option<OwnerRec>> {
    get_rec(&tx.open_table(OWNERS)?, k)
}

fn require_user(tx: &WriteTransaction, k: &str) -> Result<OwnerRec> {
    match owner_in(tx, k)? {
        Some(rec) if matches!(rec.kind, OwnerKind::User { .. }) => Ok(rec),
        _ => Err(Error::NotFound(What::Owner)),
    }
}

/// Tokens one user may hold at once.
pub const MAX_TOKENS_PER_USER: usize = 100;

fn tokens_of(
    table: &impl ReadableTable<[u8; 32], &'static [u8]>,
    user: &str,
) -> Result<Vec<([u8; 32], TokenRec)>> {
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        let rec: TokenRec = codec::decode(v.value())?;
        if rec.user == user {
            out.push((k.value(), rec));
        }
    }
    Ok(out)
}

impl Store {
    /// The user or organization named `name` (any case).
    pub fn owner(&self, name: &str) -> Result<Option<OwnerRec>> {
        let k = key(name);
        if let Some(hit) = self.inner.cache.owner(&k) {
            return Ok(hit);
        }
        let generation = self.inner.cache.generation();
        let rec: Option<OwnerRec> = get_rec(&self.read()?.open_table(OWNERS)?, k.as_str())?;
        self.inner.cache.put_owner(generation, k, rec.clone());
        Ok(rec)
    }

    /// Every user and organization, sorted by name key.
    pub fn owners(&self) -> Result<Vec<OwnerRec>> {
        let tx = self.read()?;
        let table = tx.open_table(OWNERS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            out.push(codec::decode(entry?.1.value())?);
        }
        Ok(out)
    }

    /// The role of `user` in organization `org`, if a member.
    pub fn role(&self, org: &str, user: &str) -> Result<Option<Role>> {
        let k = (key(org), key(user));
        if let Some(hit) = self.inner.cache.role(&k) {
            return Ok(hit);
        }
        let generation = self.inner.cache.generation();
        let tx = self.read()?;
        let byte = tx.open_table(MEMBERS)?.get((k.0.as_str(), k.1.as_str()))?.map(|v| v.value());
        let role = byte.map(|b| if b == 0 { Role::Read } else { Role::Write });
        self.inner.cache.put_role(generation, k, role);
        Ok(role)
    }

    /// The token whose secret hashes to `hash`.
    pub fn token(&self, hash: &[u8; 32]) -> Result<Option<TokenRec>> {
        if let Some(hit) = self.inner.cache.token(hash) {
            return Ok(Some(hit));
        }
        let generation = self.inner.cache.generation();
        let rec: Option<TokenRec> = get_rec(&self.read()?.open_table(TOKENS)?, *hash)?;
        if let Some(rec) = &rec {
            self.inner.cache.put_token(generation, *hash, rec.clone());
        }
        Ok(rec)
    }

    /// The token stored under `hash` if cached. Never blocks.
    pub fn cached_token(&self, hash: &[u8; 32]) -> Option<TokenRec> {
        self.inner.cache.token(hash)
    }

    /// The role of `user` in organization `org` if cached (`Some(None)`: cached as not a
    /// member). Never blocks.
    pub fn cached_role(&self, org: &str, user: &str) -> Option<Option<Role>> {
        self.inner.cache.role(&(key(org), key(user)))
    }

    /// The tokens of `user`, sorted by label.
    pub fn tokens(&self, user: &str) -> Result<Vec<TokenRec>> {
        let tx = self.read()?;
        let mut out: Vec<TokenRec> =
            tokens_of(&tx.open_table(TOKENS)?, &key(user))?.into_iter().map(|(_, t)| t).collect();
        out.sort_by(|a, b| a.label.cmp(&b.label));
        Ok(out)
    }

    /// Creates a user or organization.
    ///
    /// # Errors
    /// [`Error::Exists`] when the name (any case) is taken by a user or organization.
    pub fn add_owner(&self, rec: OwnerRec) -> Result<()> {
        self.write(move |tx| {
            let k = key(&rec.name);
            let mut owners = tx.open_table(OWNERS)?;
            if owners.get(k.as_str())?.is_some() {
                return Err(Error::Exists(What::Owner));
            }
            owners.insert(k.as_str(), codec::encode(&rec).as_slice())?;
            let id = super::next_id(tx)?;
            tx.open_table(OWNER_IDS)?.insert(k.as_str(), id)?;
            Ok(())
        })
    }

    /// Replaces a user's password hash.
    pub fn set_password(&self, user: &str, password_hash: String) -> Result<()> {
        let k = key(user);
        self.write(move |tx| {
            let mut rec = require_user(tx, &k)?;
            if let OwnerKind::User { password_hash: h, .. } = &mut rec.kind {
                *h = password_hash;
            }
            tx.open_table(OWNERS)?.insert(k.as_str(), codec::encode(&rec).as_slice())?;
            // Whoever signed in with the old password is signed out.
            super::sessions::end_sessions_of(tx, &k)
        })
    }

    /// Deletes a user with their tokens and memberships.
    ///
    /// # Errors
    /// [`Error::Refused`] while the user owns packages (they are not deleted implicitly).
    pub fn delete_user(&self, user: &str) -> Result<()> {
        let k = key(user);
        self.write(move |tx| {
            require_user(tx, &k)?;
            let owns = match tx.open_table(PACKAGES)?.range((k.as_str(), "", "")..)?.next() {
                Some(entry) => entry?.0.value().0 == k,
                None => false,
            };
            if owns {
                return Err(Error::Refused(format!("user {k} still owns packages; delete them first")));
            }
            tx.open_table(OWNERS)?.remove(k.as_str())?;
            tx.open_table(OWNER_IDS)?.remove(k.as_str())?;
            let mut tokens = tx.open_table(TOKENS)?;
            for (hash, _) in tokens_of(&tokens, &k)? {
                tokens.remove(hash)?;
            }
            tx.open_table(MEMBERS)?.retain(|(_, u), _| u != k)?;
            // A later owner of the same name starts with no limits and no usage.
            tx.open_table(super::tables::QUOTAS)?.remove(k.as_str())?;
            tx.open_table(super::tables::USAGE)?.remove(k.as_str())?;
            super::rules::clear_owner(tx, &k)?;
            super::hooks::remove_owner_hooks(tx, &k)?;
            super::sessions::end_sessions_of(tx, &k)
        })
    }

    /// Adds `user` to organization `org` with `role`, or changes their role.
    pub fn set_member(&self, org: &str, user: &str, role: Role) -> Result<()> {
        let (o, u) = (key(org), key(user));
        self.write(move |tx| {
            match owner_in(tx, &o)? {
                Some(rec) if rec.kind == OwnerKind::Org => {}
                _ => return Err(Error::NotFound(What::Owner)),
            }
            require_user(tx, &u)?;
            tx.open_table(MEMBERS)?.insert((o.as_str(), u.as_str()), role_byte(role))?;
            Ok(())
        })
    }

    /// Removes `user` from organization `org`.
    pub fn remove_member(&self, org: &str, user: &str) -> Result<()> {
        let (o, u) = (key(org), key(user));
        self.write(move |tx| match tx.open_table(MEMBERS)?.remove((o.as_str(), u.as_str()))? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(What::Member)),
        })
    }

    /// Stores a new token under the sha256 of its secret.
    ///
    /// # Errors
    /// [`Error::Exists`] when the user already has a token with that label.
    pub fn add_token(&self, hash: [u8; 32], rec: TokenRec) -> Result<()> {
        self.write(move |tx| {
            require_user(tx, &rec.user)?;
            let mut tokens = tx.open_table(TOKENS)?;
            let existing = tokens_of(&tokens, &rec.user)?;
            if existing.iter().any(|(_, t)| t.label == rec.label) {
                return Err(Error::Exists(What::Token));
            }
            // Every token operation reads the whole table inside the one writer; a bound per
            // user keeps a user with a password from making every write slow.
            if existing.len() >= MAX_TOKENS_PER_USER {
                return Err(Error::Refused(format!(
                    "a user may hold at most {MAX_TOKENS_PER_USER} tokens; revoke one first"
                )));
            }
            tokens.insert(hash, codec::encode(&rec).as_slice())?;
            Ok(())
        })
    }

    /// Revokes the token of `user` labelled `label`.
    pub fn revoke_token(&self, user: &str, label: &str) -> Result<()> {
        let (u, label) = (key(user), label.to_string());
        self.write(move |tx| {
            let mut tokens = tx.open_table(TOKENS)?;
            let found = tokens_of(&tokens, &u)?.into_iter().find(|(_, t)| t.label == label);
            match found {
                Some((hash, _)) => {
                    tokens.remove(hash)?;
                    Ok(())
                }
                None => Err(Error::NotFound(What::Token)),
            }
        })
    }
}
