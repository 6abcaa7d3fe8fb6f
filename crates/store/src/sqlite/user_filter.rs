//! SQLite's half of compiling user filters (see `crate::user_filter`):
//! numbered `?N` placeholders, times as the stored microseconds, ids as
//! blobs, and custom attributes read through `json_each` with the key bound
//! (no JSON path is ever built from a key).

use roster_core::user_filter::UserFilter;
use rusqlite::types::Value as SqlValue;

use super::users::micros;
use crate::user_filter::{Dialect, Param, compile};

struct Sqlite {
    /// Number of the first placeholder this filter binds.
    first: usize,
    params: Vec<SqlValue>,
}

/// The condition for `filter` and its values, numbered from `first`.
pub fn condition(filter: &UserFilter, first: usize) -> (String, Vec<SqlValue>) {
    let mut d = Sqlite {
        first,
        params: Vec::new(),
    };
    let sql = compile(filter, &mut d);
    (sql, d.params)
}

/// The attribute's JSON entry, for a scalar subquery.
fn entry(select: &str, key: &str, types: &str) -> String {
    format!(
        "(SELECT {select} FROM json_each(u.attributes) j WHERE j.key = {key} AND j.type IN ({types}))"
    )
}

impl Dialect for Sqlite {
    fn bind(&mut self, value: Param) -> String {
        self.params.push(match value {
            Param::Text(t) => SqlValue::Text(t),
            Param::Int(i) => SqlValue::Integer(i),
            Param::Bool(b) => SqlValue::Integer(b.into()),
            Param::Time(t) => SqlValue::Integer(micros(t)),
            Param::Uuid(u) => SqlValue::Blob(u.as_bytes().to_vec()),
        });
        format!("?{}", self.first + self.params.len() - 1)
    }

    fn fold(&self, x: &str) -> String {
        // SQLite's lower() folds ASCII only.
        format!("lower({x})")
    }

    fn by_code_point(&self, x: &str) -> String {
        // Text compares with BINARY: UTF-8 bytes, which is code point order.
        x.to_owned()
    }

    fn contains(&self, x: &str, v: &str) -> String {
        format!("instr({x}, {v}) > 0")
    }

    fn attribute_text(&self, key: &str) -> String {
        entry("j.value", key, "'text'")
    }

    fn attribute_number(&self, key: &str) -> String {
        entry("j.value", key, "'integer', 'real'")
    }

    fn attribute_bool(&self, key: &str) -> String {
        entry("j.type = 'true'", key, "'true', 'false'")
    }

    fn attribute_present(&self, key: &str) -> String {
        format!(
            "EXISTS (SELECT 1 FROM json_each(u.attributes) j WHERE j.key = {key} \
             AND j.type <> 'null' AND NOT (j.type = 'text' AND j.value = ''))"
        )
    }

    fn definite(&self, x: &str) -> String {
        format!("coalesce({x}, 0)")
    }
}
