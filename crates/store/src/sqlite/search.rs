//! Prefix search (`q`) over username, email and the three name columns.
//!
//! The match itself is the LIKE condition of `users::list` (one rule for
//! every plan). This module only narrows it: each column has an ordered
//! index (`username_key`, `email_key`, and `lower(…)` of each name, see
//! migration 0008), so the users whose column starts with the text are one
//! range scan each. Whether to narrow is decided per query, because pages
//! come in `seq` order: for a rare prefix the ranges hold a few rows to
//! sort, while for a common one (`user`, `a`) walking users in `seq` order
//! finds a page of matches within the first rows, and sorting every match
//! would cost more than the walk.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params};

/// Up to this many candidates the ranges are read and sorted; past it the
/// walk in `seq` order meets a match every few hundred rows or sooner (at
/// ten million users), which is cheaper than sorting them all.
const RARE: i64 = 25_000;

/// Bounds of the range of keys that start with `prefix` (by byte order,
/// which is how SQLite compares TEXT without a collation).
fn range(prefix: String) -> (String, String) {
    let mut upper = prefix.clone();
    upper.push(char::MAX);
    (prefix, upper)
}

/// The two ranges: username and email keys are lower-cased by the core
/// (`username_key`, `to_lowercase`); names are indexed by SQLite's
/// `lower()`, which folds ASCII only, as LIKE does.
fn bounds(text: &str) -> [String; 4] {
    let (key_lo, key_hi) = range(text.to_lowercase());
    let (name_lo, name_hi) = range(text.to_ascii_lowercase());
    [key_lo, key_hi, name_lo, name_hi]
}

/// The five range scans, each yielding `seq`; `?A`/`?B` bound the keys,
/// `?C`/`?D` the names.
const RANGES: &str = "SELECT seq FROM users WHERE username_key >= ?A AND username_key < ?B \
     UNION ALL SELECT seq FROM users WHERE email_key >= ?A AND email_key < ?B \
     UNION ALL SELECT seq FROM users WHERE lower(first_name) >= ?C AND lower(first_name) < ?D \
     UNION ALL SELECT seq FROM users WHERE lower(last_name) >= ?C AND lower(last_name) < ?D \
     UNION ALL SELECT seq FROM users WHERE lower(display_name) >= ?C AND lower(display_name) < ?D";

fn numbered(first: usize) -> String {
    RANGES
        .replace("?A", &format!("?{first}"))
        .replace("?B", &format!("?{}", first + 1))
        .replace("?C", &format!("?{}", first + 2))
        .replace("?D", &format!("?{}", first + 3))
}

/// Whether at most [`RARE`] index entries start with `text` (counting stops
/// there, so a common prefix costs a bounded scan).
pub fn is_rare(conn: &Connection, text: &str) -> rusqlite::Result<bool> {
    let [a, b, c, d] = bounds(text);
    let sql = format!("SELECT count(*) FROM ({} LIMIT ?5)", numbered(1));
    let n: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params![a, b, c, d, RARE + 1], |r| r.get(0))?;
    Ok(n <= RARE)
}

/// A condition on `u.seq` that keeps the users some range holds, with its
/// values numbered from `first`.
pub fn candidates(text: &str, first: usize) -> (String, Vec<SqlValue>) {
    let values = bounds(text).into_iter().map(SqlValue::Text).collect();
    (format!("u.seq IN ({})", numbered(first)), values)
}
