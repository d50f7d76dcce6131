//! Web sessions: who signed in through the web page, stored under the sha256 of the
//! session id (the id itself lives only in the visitor's cookie).
//!
//! Invariants:
//! 1. Every session names an existing user (`OWNERS`): deleting the user ends them, in the
//!    same transaction ([`end_sessions_of`]).
//! 2. A password change ends every session of that user, in the same transaction.
//! 3. A user holds at most [`MAX_SESSIONS_PER_USER`]; signing in once more ends the oldest,
//!    and expired ones are removed whenever that user signs in.

use redb::{ReadableTable, WriteTransaction};

use super::records::{OwnerKind, OwnerRec, SessionRec};
use super::tables::{OWNERS, SESSIONS};
use super::{codec, get_rec, Error, Result, Store, What};
use crate::names::key;

/// Sessions one user may hold at once (browsers, devices).
pub const MAX_SESSIONS_PER_USER: usize = 32;

/// Removes every session of the user whose key is `user`.
pub(super) fn end_sessions_of(tx: &WriteTransaction, user: &str) -> Result<()> {
    let mut sessions = tx.open_table(SESSIONS)?;
    // A record that does not decode can be no one's valid session: it goes too.
    sessions.retain(|_, v| codec::decode::<SessionRec>(v).is_ok_and(|s| s.user != user))?;
    Ok(())
}

impl Store {
    /// Records a new session for `rec.user` under `hash`, removing that user's expired
    /// sessions and, past the limit, the oldest.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the user does not exist.
    pub fn add_session(&self, hash: [u8; 32], rec: SessionRec) -> Result<()> {
        self.write(move |tx| {
            let user: Option<OwnerRec> = get_rec(&tx.open_table(OWNERS)?, rec.user.as_str())?;
            if !user.is_some_and(|u| matches!(u.kind, OwnerKind::User { .. })) {
                return Err(Error::NotFound(What::Owner));
            }
            let mut sessions = tx.open_table(SESSIONS)?;
            let mut mine = Vec::new();
            for entry in sessions.iter()? {
                let (k, v) = entry?;
                if let Ok(s) = codec::decode::<SessionRec>(v.value()) {
                    if s.user == rec.user {
                        mine.push((s.created, s.expires, k.value()));
                    }
                }
            }
            mine.sort_unstable();
            let live = mine.iter().filter(|(_, expires, _)| *expires > rec.created).count();
            let mut over = (live + 1).saturating_sub(MAX_SESSIONS_PER_USER);
            for (_, expires, k) in mine {
                if expires <= rec.created {
                    sessions.remove(k)?;
                } else if over > 0 {
                    sessions.remove(k)?;
                    over -= 1;
                }
            }
            sessions.insert(hash, codec::encode(&rec).as_slice())?;
            Ok(())
        })
    }

    /// The session stored under `hash`, expired or not (the caller compares the time).
    pub fn session(&self, hash: &[u8; 32]) -> Result<Option<SessionRec>> {
        let tx = self.read()?;
        get_rec(&tx.open_table(SESSIONS)?, *hash)
    }

    /// Ends the session stored under `hash`; ending one that is gone is not an error.
    pub fn end_session(&self, hash: [u8; 32]) -> Result<()> {
        self.write(move |tx| {
            tx.open_table(SESSIONS)?.remove(hash)?;
            Ok(())
        })
    }

    /// Ends every session of `user` (sign out everywhere).
    pub fn end_sessions(&self, user: &str) -> Result<()> {
        let k = key(user);
        self.write(move |tx| end_sessions_of(tx, &k))
    }
}
