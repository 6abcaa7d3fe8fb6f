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
//! A common prefix is read in one of two more ways ([`common_prefix`]). When each
//! column holds few distinct values in its range (a name many users share),
//! as the merged runs of those values, each already in `seq` order in its
//! index ([`Runs`]). Otherwise it is walked in windows of `seq`: its matches
//! usually come early, but a prefix only users created late have (a batch
//! imported last, say) would otherwise be walked past every user before
//! them, so between windows the ranges past the window are counted, and
//! read once they are few enough.
//!
//! Substring search (`q_contains`) has no index on SQLite: it walks users
//! in `seq` order. An FTS5 trigram index was built and measured twice and
//! withdrawn both times (docs/PERFORMANCE.md): keeping it in step stalled
//! durable creates for up to a second at 1M users, and the import of 10M
//! users took 153 s instead of 86.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension as _, Row, params, params_from_iter};

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

/// The five searched columns as their indexes hold them, and whether a
/// column is a name (bounded by [`bounds`]' name pair) or a key.
const COLUMNS: [(&str, bool); 5] = [
    ("username_key", false),
    ("email_key", false),
    ("lower(first_name)", true),
    ("lower(last_name)", true),
    ("lower(display_name)", true),
];

/// When a prefix is read through its ranges, as runs, or walked.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// At most this many candidates: the ranges are read at once.
    pub rare: i64,
    /// Each column holds at most this many distinct values in its range:
    /// runs (see [`Runs`]).
    pub runs_per_column: usize,
}

pub const THRESHOLDS: Thresholds = Thresholds {
    rare: RARE,
    runs_per_column: 16,
};

/// The first value of `column` past `?1` (by `op`) and before `?2`: one
/// seek in its index.
fn value_sql(column: &str, op: &str) -> String {
    format!(
        "SELECT {column} FROM users WHERE {column} {op} ?1 AND {column} < ?2 ORDER BY {column} LIMIT 1"
    )
}

/// Up to `?3` users whose `column` is `?1`, after `seq` `?2`, in order.
fn run_sql(column: &str) -> String {
    format!("SELECT seq FROM users WHERE {column} = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")
}

/// The users of one indexed value, in `seq` order: an index on `value`
/// holds them ordered by rowid, so each is one seek and a short scan.
struct Run {
    column: &'static str,
    value: String,
    /// Fetched, not yet handed out.
    next: std::collections::VecDeque<i64>,
    /// The last `seq` fetched.
    last: i64,
    /// The run had no more after `last`.
    done: bool,
}

/// A common prefix's candidates in `seq` order, merged from the runs of
/// every distinct value in each column's range, when there are few such
/// values (a name shared by many users: `First12` and ten more names hold
/// 1.1 % of users; walking for a page read ~4,600 rows, the runs ~600
/// index entries).
pub struct Runs {
    runs: Vec<Run>,
    /// How many `seq`s a run fetches at a time: a page's worth.
    chunk: i64,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(i64, usize)>>,
    last: i64,
}

impl Runs {
    /// The runs of `text` after `seq`, or `None` when a column holds more
    /// than `per_column` distinct values in its range; each fetches
    /// `chunk` at a time.
    pub fn of(
        conn: &Connection,
        text: &str,
        after: i64,
        per_column: usize,
        chunk: i64,
    ) -> rusqlite::Result<Option<Self>> {
        let [key_lo, key_hi, name_lo, name_hi] = bounds(text);
        let mut runs = Vec::new();
        for (column, name) in COLUMNS {
            let (lo, hi) = if name {
                (&name_lo, &name_hi)
            } else {
                (&key_lo, &key_hi)
            };
            let (first, next) = (value_sql(column, ">="), value_sql(column, ">"));
            let mut value: Option<String> = conn
                .prepare_cached(&first)?
                .query_row(params![lo, hi], |r| r.get(0))
                .optional()?;
            let mut seen = 0;
            while let Some(v) = value {
                seen += 1;
                if seen > per_column {
                    return Ok(None);
                }
                value = conn
                    .prepare_cached(&next)?
                    .query_row(params![v, hi], |r| r.get(0))
                    .optional()?;
                runs.push(Run {
                    column,
                    value: v,
                    next: Default::default(),
                    last: after,
                    done: false,
                });
            }
        }
        let mut this = Self {
            runs,
            chunk: chunk.max(1),
            heap: Default::default(),
            last: after,
        };
        for i in 0..this.runs.len() {
            this.advance(conn, i)?;
        }
        Ok(Some(this))
    }

    /// Puts run `i`'s next `seq` on the heap, fetching more if needed.
    fn advance(&mut self, conn: &Connection, i: usize) -> rusqlite::Result<()> {
        let chunk = self.chunk;
        let run = &mut self.runs[i];
        if run.next.is_empty() && !run.done {
            let mut stmt = conn.prepare_cached(&run_sql(run.column))?;
            let fetched = stmt
                .query_map(params![run.value, run.last, chunk], |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            run.done = (fetched.len() as i64) < chunk;
            if let Some(&last) = fetched.last() {
                run.last = last;
            }
            run.next.extend(fetched);
        }
        if let Some(seq) = run.next.pop_front() {
            self.heap.push(std::cmp::Reverse((seq, i)));
        }
        Ok(())
    }

    /// The next candidate in `seq` order (each user once, though several
    /// of its columns may start with the text), or `None` at the end.
    pub fn next(&mut self, conn: &Connection) -> rusqlite::Result<Option<i64>> {
        while let Some(std::cmp::Reverse((seq, i))) = self.heap.pop() {
            self.advance(conn, i)?;
            if seq > self.last {
                self.last = seq;
                return Ok(Some(seq));
            }
        }
        Ok(None)
    }
}

fn entries_after_sql() -> String {
    let ranges = numbered(1).replace("WHERE ", "WHERE +seq > ?5 AND ");
    format!("SELECT count(*) FROM ({ranges} LIMIT ?6)")
}

/// A page being filled by one of the plans below: the statement that
/// decides it (`sql`: every filter and the LIKE that decides a match,
/// `u.seq > ?` its first condition, without order or limit; `args` its
/// values) and the users found so far, in `seq` order.
pub struct Page<'a, T, F> {
    conn: &'a Connection,
    sql: &'a str,
    args: Vec<SqlValue>,
    limit: i64,
    keep: bool,
    map: F,
    found: Vec<T>,
}

impl<'a, T, F: Fn(&Row<'_>) -> rusqlite::Result<T>> Page<'a, T, F> {
    /// `keep`: whether the statements may stay in the connection's cache
    /// (not for filters shaped by clients).
    pub fn new(
        conn: &'a Connection,
        sql: &'a str,
        args: Vec<SqlValue>,
        limit: u32,
        keep: bool,
        map: F,
    ) -> Self {
        let limit = i64::from(limit);
        Self {
            conn,
            sql,
            args,
            limit,
            keep,
            map,
            found: Vec::with_capacity(usize::try_from(limit.min(1024)).unwrap_or(0)),
        }
    }

    fn after(&self) -> i64 {
        match self.args.first() {
            Some(SqlValue::Integer(seq)) => *seq,
            _ => 0,
        }
    }

    fn left(&self) -> i64 {
        self.limit - self.found.len() as i64
    }

    /// The page's statement with `rest` appended (more conditions, order,
    /// limit), for users after `after`, with `extra` values after its own.
    fn read(
        &mut self,
        rest: &str,
        after: i64,
        extra: impl IntoIterator<Item = SqlValue>,
    ) -> rusqlite::Result<()> {
        self.args[0] = SqlValue::Integer(after);
        let sql = format!("{}{rest}", self.sql);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let args = self.args.iter().cloned().chain(extra);
        for row in stmt.query_map(params_from_iter(args), &self.map)? {
            self.found.push(row?);
        }
        if !self.keep {
            stmt.discard();
        }
        Ok(())
    }
}

/// A page of users matching a common prefix (more than `rare` candidates).
/// As runs when each column holds few distinct values in its range
/// ([`by_runs`]); otherwise, or once filters have refused too many of the
/// runs' candidates, by windows of the walk ([`by_windows`]).
pub fn common_prefix<T, F: Fn(&Row<'_>) -> rusqlite::Result<T>>(
    text: &str,
    thresholds: Thresholds,
    mut page: Page<'_, T, F>,
) -> rusqlite::Result<Vec<T>> {
    let after = page.after();
    let Some(after) = by_runs(&mut page, text, after, thresholds)? else {
        return Ok(page.found);
    };
    by_windows(&mut page, text, after, thresholds.rare)?;
    Ok(page.found)
}

/// Fills `page` from the merged runs, in batches of candidates the page's
/// statement checks, while that stays cheap: filters that refuse most
/// candidates (a narrow scope) are left to the walk. `None` when the page
/// is done; else the `seq` to walk on from.
fn by_runs<T, F: Fn(&Row<'_>) -> rusqlite::Result<T>>(
    page: &mut Page<'_, T, F>,
    text: &str,
    mut after: i64,
    thresholds: Thresholds,
) -> rusqlite::Result<Option<i64>> {
    let Some(mut runs) = Runs::of(
        page.conn,
        text,
        after,
        thresholds.runs_per_column,
        page.limit,
    )?
    else {
        return Ok(Some(after));
    };
    let n = page.args.len() + 1;
    let by_seq = format!(
        " AND u.seq IN (SELECT value FROM json_each(?{n})) ORDER BY u.seq LIMIT ?{}",
        n + 1
    );
    let mut budget = thresholds.rare.max(1).saturating_mul(2);
    loop {
        let want = page.left();
        let mut batch = Vec::new();
        while (batch.len() as i64) < want {
            match runs.next(page.conn)? {
                Some(seq) => batch.push(seq),
                None => break,
            }
        }
        let Some(&last) = batch.last() else {
            return Ok(None);
        };
        let seqs: Vec<String> = batch.iter().map(ToString::to_string).collect();
        let list = SqlValue::Text(format!("[{}]", seqs.join(",")));
        page.read(&by_seq, after, [list, SqlValue::Integer(want)])?;
        after = last;
        budget -= batch.len() as i64;
        if page.left() <= 0 || (batch.len() as i64) < want {
            return Ok(None);
        }
        if budget <= 0 {
            return Ok(Some(after));
        }
    }
}

/// Fills `page` by walking users in `seq` order a window at a time from
/// `after`, and between windows counting the ranges' entries past the
/// window: once they are few enough, it reads them instead of walking on.
/// Windows and counts grow fourfold each step, so a page costs a small
/// multiple of the cheaper of walking to its last match and reading every
/// candidate. Measured over 1M users (docs/PERFORMANCE.md): a prefix whose
/// 10,000 users all came after the first 990,000 took 158 ms by one walk,
/// 11 ms this way.
fn by_windows<T, F: Fn(&Row<'_>) -> rusqlite::Result<T>>(
    page: &mut Page<'_, T, F>,
    text: &str,
    mut after: i64,
    rare: i64,
) -> rusqlite::Result<()> {
    let n = page.args.len() + 1;
    let window = format!(" AND u.seq <= ?{n} ORDER BY u.seq LIMIT ?{}", n + 1);
    let (narrowing, values) = candidates(text, n);
    let ranges = format!(
        " AND {narrowing} ORDER BY u.seq LIMIT ?{}",
        n + values.len()
    );
    let mut cap = rare.max(1);
    loop {
        let end = after.saturating_add(cap.saturating_mul(2));
        let left = page.left();
        page.read(
            &window,
            after,
            [SqlValue::Integer(end), SqlValue::Integer(left)],
        )?;
        if page.left() <= 0 || end == i64::MAX {
            return Ok(());
        }
        after = end;
        cap = cap.saturating_mul(4);
        if entries_after(page.conn, text, after, cap)? <= cap {
            let left = SqlValue::Integer(page.left());
            return page.read(&ranges, after, values.into_iter().chain([left]));
        }
    }
}

/// A condition on `u.seq` that keeps the users some range holds, with its
/// values numbered from `first`.
pub fn candidates(text: &str, first: usize) -> (String, Vec<SqlValue>) {
    let values = bounds(text).into_iter().map(SqlValue::Text).collect();
    (format!("u.seq IN ({})", numbered(first)), values)
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, Params};

    fn migrated() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        assert!(super::super::migrations::apply(&mut conn).unwrap().is_ok());
        conn
    }

    /// SQLite's plan for `sql`, a step a line.
    fn plan(conn: &Connection, sql: &str, args: impl Params) -> String {
        let steps: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(args, |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        steps.join("\n")
    }

    /// Every one of the five ranges is read through its index.
    fn assert_every_range_indexed(plan: &str) {
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

    /// Runs seek their values and read their users through the columns'
    /// indexes: no scan, no sort.
    #[test]
    fn runs_are_read_through_the_indexes() {
        let conn = migrated();
        for (column, _) in super::COLUMNS {
            let seeks = [
                super::value_sql(column, ">="),
                super::value_sql(column, ">"),
            ];
            for p in seeks
                .iter()
                .map(|sql| plan(&conn, sql, rusqlite::params!["a", "b"]))
                .chain([plan(
                    &conn,
                    &super::run_sql(column),
                    rusqlite::params!["a", 0, 10],
                )])
            {
                assert!(
                    p.contains("INDEX") && !p.contains("SCAN") && !p.contains("TEMP B-TREE"),
                    "{column}: {p}"
                );
            }
        }
    }

    /// Counting a prefix's entries past a window reads the five ranges
    /// through their indexes, not every user after the window by rowid.
    #[test]
    fn entries_past_a_window_are_counted_through_the_indexes() {
        let conn = migrated();
        let [a, b, c, d] = super::bounds("ann");
        let p = plan(
            &conn,
            &super::entries_after_sql(),
            rusqlite::params![a, b, c, d, 10i64, 100i64],
        );
        assert!(!p.contains("INTEGER PRIMARY KEY"), "{p}");
        assert!(!p.contains("SCAN users"), "{p}");
        assert_every_range_indexed(&p);
        assert_eq!(super::entries_after(&conn, "ann", 0, 10).unwrap(), 0);
    }

    /// The plan SQLite picks for a page of a rare prefix, as `users::list`
    /// builds it: the candidates are looked up by rowid, never a walk over
    /// users (which would cost as much as having no index at all).
    #[test]
    fn a_rare_prefix_is_read_through_the_indexes() {
        let conn = migrated();
        let (narrowing, values) = super::candidates("ann", 4);
        let sql = format!(
            "SELECT u.seq FROM users u WHERE u.seq > ?1 \
             AND u.deleted_at IS NULL AND (u.username_key LIKE ?2 OR u.first_name LIKE ?3) \
             AND {narrowing} ORDER BY u.seq LIMIT 50"
        );
        let mut args: Vec<rusqlite::types::Value> = vec![
            0i64.into(),
            "ann%".to_string().into(),
            "ann%".to_string().into(),
        ];
        args.extend(values);
        let p = plan(&conn, &sql, rusqlite::params_from_iter(args));
        assert!(!p.contains("SCAN u"), "{p}");
        assert_every_range_indexed(&p);
    }
}
