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
//!
//! Substring search (`q_contains`) has no index on SQLite: it walks users
//! in `seq` order. An FTS5 trigram index was built and measured twice and
//! withdrawn both times (docs/PERFORMANCE.md): keeping it in step stalled
//! durable creates for up to a second at 1M users, and the import of 10M
//! users took 153 s instead of 86.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params};

/// Up to this many candidates the ranges are read and sorted (the rule
/// both stores share; counting stops just past it).
const RARE: i64 = roster_core::user::SEARCH_CANDIDATES as i64;

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

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    /// The plan SQLite picks for a page of a rare prefix, as `users::list`
    /// builds it: the candidates are looked up by rowid, never a walk over
    /// users (which would cost as much as having no index at all).
    #[test]
    fn a_rare_prefix_is_read_through_the_indexes() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert!(super::super::migrations::apply(&mut conn).unwrap().is_ok());
        let (narrowing, values) = super::candidates("ann", 4);
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT u.seq FROM users u WHERE u.seq > ?1 \
             AND u.deleted_at IS NULL AND (u.username_key LIKE ?2 OR u.first_name LIKE ?3) \
             AND {narrowing} ORDER BY u.seq LIMIT 50"
        );
        let mut args: Vec<rusqlite::types::Value> = vec![
            0i64.into(),
            "ann%".to_string().into(),
            "ann%".to_string().into(),
        ];
        args.extend(values);
        let plan: Vec<String> = conn
            .prepare(&sql)
            .unwrap()
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(!plan.contains("SCAN u"), "{plan}");
        for index in [
            "username_key",
            "users_email_key",
            "users_first_name_search",
            "users_last_name_search",
            "users_display_name_search",
        ] {
            assert!(plan.contains(index), "{index} unused:\n{plan}");
        }
    }
}
