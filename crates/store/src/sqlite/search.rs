//! Prefix search (`q`) over username, email and the three name columns.
//!
//! The match itself is the LIKE condition of `users::list` (one rule for
//! every plan). This module only narrows it: each column has an ordered
//! index (`username_key`, `email_key`, and `lower(…)` of each name,
//! migration 0008), so the users whose column starts with the text are one
//! range scan each. Whether to narrow is decided per query, because pages
//! come in `seq` order: for a rare prefix the ranges hold a few rows to
//! look up, while for a common one (`user`, `a`) walking users in `seq`
//! order finds a page of matches within the first rows, and sorting every
//! match would cost more than the walk. The candidates are read once, up
//! to one past [`RARE`], and handed to the page's query as a JSON array of
//! `seq`s.
//!
//! Substring search (`q_contains`) has no index on SQLite: it walks users
//! in `seq` order. An FTS5 trigram index was built and measured twice and
//! withdrawn both times (docs/PERFORMANCE.md): keeping it costs a segment
//! write per batch and merges that stalled creates for up to a second at
//! 1M users, and doubled the import of 10M users.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params};

/// Up to this many candidates are looked up by `seq` (the rule both stores
/// share; reading stops just past it).
const RARE: usize = roster_core::user::SEARCH_CANDIDATES;

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

/// The five range scans, each yielding `seq` (a user found twice counts
/// twice against [`RARE`]: erring towards the walk); `?1`/`?2` bound the
/// keys, `?3`/`?4` the names.
const RANGES: &str = "SELECT seq FROM users WHERE username_key >= ?1 AND username_key < ?2 \
     UNION ALL SELECT seq FROM users WHERE email_key >= ?1 AND email_key < ?2 \
     UNION ALL SELECT seq FROM users WHERE lower(first_name) >= ?3 AND lower(first_name) < ?4 \
     UNION ALL SELECT seq FROM users WHERE lower(last_name) >= ?3 AND lower(last_name) < ?4 \
     UNION ALL SELECT seq FROM users WHERE lower(display_name) >= ?3 AND lower(display_name) < ?4 \
     LIMIT ?5";

/// The users whose username, email or a name starts with `text`, as a
/// condition on `u.seq` with its value numbered `n`, or `None` when more
/// than [`RARE`] do.
pub fn prefix_candidates(
    conn: &Connection,
    text: &str,
    n: usize,
) -> rusqlite::Result<Option<(String, SqlValue)>> {
    let [a, b, c, d] = bounds(text);
    let seqs: Vec<i64> = conn
        .prepare_cached(RANGES)?
        .query_map(params![a, b, c, d, RARE + 1], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(as_condition(seqs, n))
}

/// `u.seq IN` the candidates, passed as one JSON array value (the plan
/// stays the same whatever their number), or `None` past [`RARE`].
fn as_condition(mut seqs: Vec<i64>, n: usize) -> Option<(String, SqlValue)> {
    if seqs.len() > RARE {
        return None;
    }
    seqs.sort_unstable();
    seqs.dedup();
    let list = seqs
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    Some((
        format!("u.seq IN (SELECT value FROM json_each(?{n}))"),
        SqlValue::Text(format!("[{list}]")),
    ))
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;
    use rusqlite::types::Value;

    fn migrated() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        assert!(super::super::migrations::apply(&mut conn).unwrap().is_ok());
        conn
    }

    fn plan(conn: &Connection, sql: &str, args: Vec<Value>) -> String {
        let rows: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.join("\n")
    }

    /// The candidates of a prefix are read through the five indexes, never
    /// a walk over users (which would cost as much as having no index).
    #[test]
    fn a_prefix_is_read_through_the_ordered_indexes() {
        let conn = migrated();
        let [a, b, c, d] = super::bounds("ann");
        let args = vec![a.into(), b.into(), c.into(), d.into(), 4001i64.into()];
        let plan = plan(&conn, super::RANGES, args);
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
        assert!(
            super::prefix_candidates(&conn, "ann", 3)
                .unwrap()
                .is_some_and(|(_, v)| v == Value::Text("[]".into())),
            "no user yet"
        );
    }

    /// A page narrowed to candidates looks users up by rowid in `seq`
    /// order: no walk over users, no sort.
    #[test]
    fn candidates_are_looked_up_in_order() {
        let conn = migrated();
        let (narrowing, value) = super::as_condition(vec![3, 1, 2, 3], 3).unwrap();
        assert_eq!(value, Value::Text("[1,2,3]".into()));
        let sql = format!(
            "SELECT u.seq FROM users u WHERE u.seq > ?1 \
             AND u.deleted_at IS NULL AND u.username_key LIKE ?2 \
             AND {narrowing} ORDER BY u.seq LIMIT 50"
        );
        let plan = plan(
            &conn,
            &sql,
            vec![0i64.into(), "%mith%".to_string().into(), value],
        );
        assert!(!plan.lines().any(|l| l == "SCAN u"), "{plan}");
        assert!(plan.contains("json_each VIRTUAL TABLE"), "{plan}");
        assert!(!plan.contains("ORDER BY"), "no sort: {plan}");
        assert_eq!(super::as_condition(vec![1; super::RARE + 1], 3), None);
    }
}
