//! The benchmark's input records (page views keyed by user id) and their generator.
//!
//! Input: key `u<0..9999>`, value compact JSON
//! `{"user":"u123","page":"p<0..99>","amount":<0..99>,"ts":<event-time ms>}`.

use serde::{Deserialize, Serialize};

/// Number of distinct users (keys `u0..u9999`).
pub const USERS: u64 = 10_000;
/// Number of distinct pages (`p0..p99`).
pub const PAGES: u64 = 100;

/// One page view: the input value of every workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageView {
    /// The user id, also the record key.
    pub user: String,
    /// The page, `p<0..99>`.
    pub page: String,
    /// An amount in `0..=99`.
    pub amount: i64,
    /// Event time in ms since the epoch.
    pub ts: i64,
}

/// The output value of workload w1: the view with the page upper-cased and without `ts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enriched {
    /// The user id.
    pub user: String,
    /// The page, upper-cased.
    pub page: String,
    /// The amount.
    pub amount: i64,
}

/// The `n`-th generated record: `(key, JSON value)`. Users, pages and amounts are spread by
/// multiplying with primes, so consecutive records hit different keys; the same `n` always
/// gives the same user, page and amount.
pub fn generate(n: u64, ts: i64) -> (String, PageView) {
    let user = format!("u{}", n.wrapping_mul(7919) % USERS);
    let page = format!("p{}", n.wrapping_mul(31) % PAGES);
    let amount = (n.wrapping_mul(37) % 100) as i64;
    (
        user.clone(),
        PageView {
            user,
            page,
            amount,
            ts,
        },
    )
}

/// [`generate`] encoded as it goes on the wire: `(key bytes, compact JSON bytes)`.
pub fn generate_bytes(n: u64, ts: i64) -> (Vec<u8>, Vec<u8>) {
    let (key, view) = generate(n, ts);
    // Serializing a struct of strings and integers cannot fail.
    let value = serde_json::to_vec(&view).unwrap_or_default();
    (key.into_bytes(), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_records_follow_the_contract() {
        let (k, v) = generate_bytes(1, 1_700_000_000_123);
        assert_eq!(k, b"u7919");
        assert_eq!(
            String::from_utf8(v).unwrap(),
            r#"{"user":"u7919","page":"p31","amount":37,"ts":1700000000123}"#
        );
        let mut users = std::collections::HashSet::new();
        let mut pages = std::collections::HashSet::new();
        for n in 0..USERS {
            let (k, v) = generate(n, 0);
            assert_eq!(k, v.user);
            assert!((0..100).contains(&v.amount));
            users.insert(k);
            pages.insert(v.page);
        }
        assert_eq!(users.len() as u64, USERS, "every user within one round");
        assert_eq!(pages.len() as u64, PAGES);
    }
}
