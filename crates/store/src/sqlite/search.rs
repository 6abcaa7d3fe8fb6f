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
//! A common prefix is walked in windows of `seq` ([`windows`]): its matches
//! usually come early, but a prefix only users created late have (a batch
//! imported last, say) would otherwise be walked past every user before
//! them.
//!
//! Substring search (`q_contains`) has no index on SQLite: it walks users
//! in `seq` order. An FTS5 trigram index was built and measured twice and
//! withdrawn both times (docs/PERFORMANCE.md): keeping it in step stalled
//! durable creates for up to a second at 1M users, and the import of 10M
//! users took 153 s instead of 86.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, Row, params, params_from_iter};

/// Up to this many candidates the ranges are read and sorted (the rule
/// both stores share; counting stops just past it).
pub const RARE: i64 = roster_core::user::SEARCH_CANDIDATES as i64;

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

/// Whether at most `rare` ([`RARE`]) index entries start with `text`
/// (counting stops there, so a common prefix costs a bounded scan).
pub fn is_rare(conn: &Connection, text: &str, rare: i64) -> rusqlite::Result<bool> {
    let [a, b, c, d] = bounds(text);
    let sql = format!("SELECT count(*) FROM ({} LIMIT ?5)", numbered(1));
    let n: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params![a, b, c, d, rare + 1], |r| r.get(0))?;
    Ok(n <= rare)
}

/// How many index entries start with `text` for users after `seq`, counted
/// up to `cap + 1`. The `+` keeps SQLite reading each range through its
/// index (not every user after `seq` by rowid).
fn entries_after(conn: &Connection, text: &str, seq: i64, cap: i64) -> rusqlite::Result<i64> {
    let [a, b, c, d] = bounds(text);
    conn.prepare_cached(&entries_after_sql())?
        .query_row(params![a, b, c, d, seq, cap.saturating_add(1)], |r| {
            r.get(0)
        })
}

fn entries_after_sql() -> String {
    let ranges = numbered(1).replace("WHERE ", "WHERE +seq > ?5 AND ");
    format!("SELECT count(*) FROM ({ranges} LIMIT ?6)")
}

/// A page of users matching a common prefix: `sql` selects them (`u.seq >
/// ?` its first condition, `args[0]` that bound; every other filter and the
/// LIKE that decides a match after it), without order or limit.
///
/// It walks users in `seq` order a window at a time, and between windows
/// counts the ranges' entries past the window: once they are few enough,
/// it reads them instead of walking on. Windows and counts grow fourfold
/// each step, so a page costs a small multiple of the cheaper of walking
/// to its last match and reading every candidate. Measured over 1M users
/// (docs/PERFORMANCE.md): a prefix whose 10,000 users all came after the
/// first 990,000 took 158 ms by one walk, 11 ms this way.
#[allow(clippy::too_many_arguments)]
pub fn windows<T>(
    conn: &Connection,
    text: &str,
    sql: &str,
    mut args: Vec<SqlValue>,
    limit: u32,
    rare: i64,
    keep: bool,
    map: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let n = args.len() + 1;
    let window = format!("{sql} AND u.seq <= ?{n} ORDER BY u.seq LIMIT ?{}", n + 1);
    let (narrowing, values) = candidates(text, n);
    let ranges = format!(
        "{sql} AND {narrowing} ORDER BY u.seq LIMIT ?{}",
        n + values.len()
    );
    let limit = i64::from(limit);
    let mut found = Vec::with_capacity(usize::try_from(limit.min(1024)).unwrap_or(0));
    let mut after = match args.first() {
        Some(SqlValue::Integer(seq)) => *seq,
        _ => 0,
    };
    let mut cap = rare.max(1);
    loop {
        let end = after.saturating_add(cap.saturating_mul(2));
        args[0] = SqlValue::Integer(after);
        let left = limit - found.len() as i64;
        let bounds = [SqlValue::Integer(end), SqlValue::Integer(left)];
        read(
            conn,
            &window,
            keep,
            args.iter().cloned().chain(bounds),
            &map,
            &mut found,
        )?;
        if found.len() as i64 >= limit || end == i64::MAX {
            return Ok(found);
        }
        after = end;
        cap = cap.saturating_mul(4);
        if entries_after(conn, text, after, cap)? <= cap {
            args[0] = SqlValue::Integer(after);
            let left = SqlValue::Integer(limit - found.len() as i64);
            let all = args.iter().cloned().chain(values).chain([left]);
            read(conn, &ranges, keep, all, &map, &mut found)?;
            return Ok(found);
        }
    }
}

/// Runs one of [`windows`]' statements, adding its rows to `found`.
fn read<T>(
    conn: &Connection,
    sql: &str,
    keep: bool,
    args: impl Iterator<Item = SqlValue>,
    map: &impl Fn(&Row<'_>) -> rusqlite::Result<T>,
    found: &mut Vec<T>,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(sql)?;
    for row in stmt.query_map(params_from_iter(args), map)? {
        found.push(row?);
    }
    if !keep {
        stmt.discard();
    }
    Ok(())
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

    /// Counting a prefix's entries past a window reads the five ranges
    /// through their indexes, not every user after the window by rowid.
    #[test]
    fn entries_past_a_window_are_counted_through_the_indexes() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert!(super::super::migrations::apply(&mut conn).unwrap().is_ok());
        let sql = format!("EXPLAIN QUERY PLAN {}", super::entries_after_sql());
        let [a, b, c, d] = super::bounds("ann");
        let plan: Vec<String> = conn
            .prepare(&sql)
            .unwrap()
            .query_map(rusqlite::params![a, b, c, d, 10i64, 100i64], |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(!plan.contains("INTEGER PRIMARY KEY"), "{plan}");
        assert!(!plan.contains("SCAN users"), "{plan}");
        for index in [
            "username_key",
            "users_email_key",
            "users_first_name_search",
            "users_last_name_search",
            "users_display_name_search",
        ] {
            assert!(plan.contains(index), "{index} unused:\n{plan}");
        }
        assert_eq!(super::entries_after(&conn, "ann", 0, 10).unwrap(), 0);
    }

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
