//! Failed-login throttling: slows password and token guessing per client address and per
//! user name, without locking the real user out.
//!
//! Each key (an address, a user name) has a budget of `burst` failures that refills at one
//! per `interval`, kept as a "theoretical arrival time" (GCRA): every attempt books one unit
//! before it is checked, and a success gives it back, so a hundred guesses sent in parallel
//! cannot all slip in before the first failure is counted. An attempt whose key has no budget
//! left is refused at once (429 with the seconds to wait), without an argon2 run.
//!
//! Why the real user still gets in:
//! - a user name's budget is larger and refills faster than an address's, so one attacking
//!   address can never use it up: the per-user limit bites only when many addresses guess the
//!   same name;
//! - an address that has signed in as a user before (in the last [`KNOWN_TTL`]) is exempt from
//!   that user's limit, so a distributed attack on a name does not stop its owner's machines;
//! - nothing is locked: budgets refill within seconds, and successes cost nothing.
//!
//! Memory is bounded: keys whose budget is full are forgotten, and past [`MAX_KEYS`] the key
//! closest to a full budget makes room.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys tracked per table at most.
pub const MAX_KEYS: usize = 65_536;
/// How long a successful sign-in exempts its address from the user's limit.
pub const KNOWN_TTL: Duration = Duration::from_secs(24 * 3600);

/// A budget: `burst` failures at once, then one per `interval`.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub burst: u32,
    pub interval: Duration,
}

/// An attempt refused for now; try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

/// The key of a client address: an IPv4 address, or an IPv6 /64 (one host typically has a
/// whole /64 to pick addresses from).
fn network(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

/// Keyed budgets for one kind of key.
struct Table<K> {
    rate: Rate,
    /// The theoretical arrival time of each key's next unit: its budget is full when this is
    /// in the past, and empty when it is `burst` intervals ahead.
    tat: HashMap<K, Instant>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(rate: Rate) -> Self {
        Table { rate, tat: HashMap::new() }
    }

    /// How long `key` must wait before it may try again (zero when it may try now).
    fn wait<Q: Hash + Eq + ?Sized>(&self, key: &Q, now: Instant) -> Duration
    where
        K: std::borrow::Borrow<Q>,
    {
        let Some(&tat) = self.tat.get(key) else { return Duration::ZERO };
        // Booking this attempt must leave the key at most `burst` intervals ahead.
        let allowed_from =
            tat.checked_sub(self.rate.interval * self.rate.burst.saturating_sub(1)).unwrap_or(now);
        allowed_from.saturating_duration_since(now)
    }

    /// Books one unit for `key`.
    fn book(&mut self, key: &K, now: Instant) {
        if self.tat.len() >= MAX_KEYS && !self.tat.contains_key(key) {
            self.make_room(now);
        }
        let tat = self.tat.entry(key.clone()).or_insert(now);
        *tat = (*tat).max(now) + self.rate.interval;
    }

    /// Gives back a unit booked for `key` (the attempt succeeded).
    fn refund(&mut self, key: &K, now: Instant) {
        if let Some(tat) = self.tat.get_mut(key) {
            *tat = tat.checked_sub(self.rate.interval).unwrap_or(now);
            if *tat <= now {
                self.tat.remove(key);
            }
        }
    }

    fn make_room(&mut self, now: Instant) {
        self.tat.retain(|_, tat| *tat > now);
        if self.tat.len() >= MAX_KEYS {
            if let Some(key) = self.tat.iter().min_by_key(|(_, tat)| **tat).map(|(k, _)| k.clone()) {
                self.tat.remove(&key);
            }
        }
    }
}

struct State {
    addresses: Table<IpAddr>,
    users: Table<String>,
    /// (address, user key) pairs that signed in successfully, and when.
    known: HashMap<(IpAddr, String), Instant>,
}

/// The throttle of an [`crate::auth::Authenticator`].
pub struct Throttle {
    state: Mutex<State>,
}

/// One booked attempt: pass it back to [`Throttle::succeeded`] when the credential was good.
#[derive(Debug)]
#[must_use]
pub struct Booking {
    address: IpAddr,
    /// The user key, when the user's budget was booked (not for exempt addresses or tokens).
    user: Option<String>,
    /// The user key for remembering a success.
    user_key: Option<String>,
}

impl Throttle {
    pub fn new(per_address: Rate, per_user: Rate) -> Self {
        Throttle {
            state: Mutex::new(State {
                addresses: Table::new(per_address),
                users: Table::new(per_user),
                known: HashMap::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long an attempt from `address` as `user_key` would have to wait (zero: it may go
    /// on). Checks the user's budget only when it is spent, so the common case allocates
    /// nothing.
    fn wait(state: &State, address: IpAddr, user_key: Option<&str>, now: Instant) -> (Duration, bool) {
        let address = network(address);
        let wait = state.addresses.wait(&address, now);
        let Some(user) = user_key else { return (wait, false) };
        let user_wait = state.users.wait(user, now);
        if user_wait.is_zero() {
            return (wait, true);
        }
        let exempt = state
            .known
            .get(&(address, user.to_owned()))
            .is_some_and(|at| now.saturating_duration_since(*at) < KNOWN_TTL);
        if exempt {
            (wait, false)
        } else {
            (wait.max(user_wait), true)
        }
    }

    /// Whether an attempt from `address` as `user_key` may go on now, without booking it: for
    /// answers from memory (a remembered password), which must not let through what a checked
    /// attempt would not.
    pub fn is_clear(&self, address: IpAddr, user_key: Option<&str>, now: Instant) -> bool {
        Self::wait(&self.state(), address, user_key, now).0.is_zero()
    }

    /// Books an attempt from `address`, as user `user_key` when the credential names one
    /// (a password) and `None` for a bare token.
    ///
    /// # Errors
    /// [`Throttled`] when the address, or the user for an address not known to it, has no
    /// budget left; nothing is booked then.
    pub fn attempt(
        &self,
        address: IpAddr,
        user_key: Option<&str>,
        now: Instant,
    ) -> Result<Booking, Throttled> {
        let mut state = self.state();
        let address = network(address);
        let (wait, book_user) = Self::wait(&state, address, user_key, now);
        if !wait.is_zero() {
            return Err(Throttled { retry_after: wait });
        }
        let user = user_key.filter(|_| book_user).map(str::to_owned);
        state.addresses.book(&address, now);
        if let Some(u) = &user {
            state.users.book(u, now);
        }
        Ok(Booking { address, user, user_key: user_key.map(str::to_owned) })
    }

    /// The attempt succeeded: gives its units back and remembers the address for the user.
    pub fn succeeded(&self, booking: Booking, now: Instant) {
        let mut state = self.state();
        state.addresses.refund(&booking.address, now);
        if let Some(u) = &booking.user {
            state.users.refund(u, now);
        }
        if let Some(u) = booking.user_key {
            if state.known.len() >= MAX_KEYS {
                state.known.retain(|_, at| now.saturating_duration_since(*at) < KNOWN_TTL);
                if state.known.len() >= MAX_KEYS {
                    state.known.clear();
                }
            }
            state.known.insert((booking.address, u), now);
        }
    }

    /// The attempt failed: its units stay spent. (A named no-op, so call sites read clearly.)
    pub fn failed(&self, booking: Booking) {
        drop(booking);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate { burst: 3, interval: Duration::from_secs(2) };
    const USER_RATE: Rate = Rate { burst: 6, interval: Duration::from_secs(1) };

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    fn fail(t: &Throttle, from: IpAddr, user: Option<&str>, now: Instant) -> Result<(), Throttled> {
        t.attempt(from, user, now).map(|b| t.failed(b))
    }

    #[test]
    fn an_address_gets_its_burst_then_waits_one_interval_per_failure() {
        let t = Throttle::new(RATE, USER_RATE);
        let now = Instant::now();
        for _ in 0..3 {
            fail(&t, ip(1), None, now).unwrap();
        }
        assert_eq!(fail(&t, ip(1), None, now), Err(Throttled { retry_after: Duration::from_secs(2) }));
        // Another address is not affected.
        fail(&t, ip(2), None, now).unwrap();
        // One interval later, exactly one more attempt.
        let later = now + Duration::from_secs(2);
        fail(&t, ip(1), None, later).unwrap();
        assert!(fail(&t, ip(1), None, later).is_err());
        // A full refill after burst × interval.
        let much_later = later + Duration::from_secs(6);
        for _ in 0..3 {
            fail(&t, ip(1), None, much_later).unwrap();
        }
    }

    #[test]
    fn successes_cost_nothing() {
        let t = Throttle::new(RATE, USER_RATE);
        let now = Instant::now();
        for _ in 0..100 {
            let b = t.attempt(ip(1), Some("alice"), now).unwrap();
            t.succeeded(b, now);
        }
        fail(&t, ip(1), Some("alice"), now).unwrap();
    }

    #[test]
    fn one_address_never_exhausts_a_users_budget() {
        let t = Throttle::new(RATE, USER_RATE);
        let start = Instant::now();
        // The attacker at ip(1) guesses as fast as it is allowed for a minute.
        let mut now = start;
        while now < start + Duration::from_secs(60) {
            let _ = fail(&t, ip(1), Some("alice"), now);
            now += Duration::from_millis(100);
        }
        // alice, from her own machine, is let in at once.
        assert!(t.attempt(ip(9), Some("alice"), now).is_ok());
    }

    #[test]
    fn many_addresses_exhaust_a_user_but_known_addresses_stay_exempt() {
        let t = Throttle::new(RATE, USER_RATE);
        let now = Instant::now();
        // alice signed in from ip(9) earlier.
        let b = t.attempt(ip(9), Some("alice"), now).unwrap();
        t.succeeded(b, now);
        // A botnet: one guess per address.
        for n in 10..20 {
            let _ = fail(&t, ip(n), Some("alice"), now);
        }
        assert!(fail(&t, ip(30), Some("alice"), now).is_err(), "a new address is throttled");
        assert!(t.attempt(ip(9), Some("alice"), now).is_ok(), "alice's own address is not");
        // Other users are unaffected.
        assert!(t.attempt(ip(30), Some("bob"), now).is_ok());
    }

    #[test]
    fn parallel_attempts_are_booked_before_they_are_checked() {
        let t = Throttle::new(RATE, USER_RATE);
        let now = Instant::now();
        let bookings: Vec<_> = (0..10).map(|_| t.attempt(ip(1), None, now)).collect();
        assert_eq!(bookings.iter().filter(|b| b.is_ok()).count(), 3);
    }

    #[test]
    fn an_ipv6_host_is_one_address_per_64() {
        let t = Throttle::new(RATE, USER_RATE);
        let now = Instant::now();
        for n in 0..3u16 {
            fail(&t, IpAddr::from([0x2001, 0xdb8, 0, 1, n, n, n, n]), None, now).unwrap();
        }
        assert!(fail(&t, IpAddr::from([0x2001, 0xdb8, 0, 1, 9, 9, 9, 9]), None, now).is_err());
        assert!(fail(&t, IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1]), None, now).is_ok());
    }

    #[test]
    fn tables_stay_bounded() {
        let t = Throttle::new(RATE, USER_RATE);
        let now = Instant::now();
        for n in 0..(MAX_KEYS as u32 + 10) {
            let _ = fail(&t, IpAddr::from(n.to_be_bytes()), None, now);
        }
        assert!(t.state().addresses.tat.len() <= MAX_KEYS);
    }
}
