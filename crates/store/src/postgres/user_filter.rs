//! PostgreSQL's half of compiling user filters (see `crate::user_filter`):
//! `$N` placeholders cast to their type, text folded and ordered under the
//! "C" collation (ASCII folding and code-point order, as SQLite does), and
//! custom attributes read with the key bound (`attributes -> $N`).

use roster_core::user_filter::UserFilter;
use tokio_postgres::types::ToSql;

use super::micros_precision;
use crate::user_filter::{Dialect, Param, compile};

pub type Arg = Box<dyn ToSql + Sync + Send>;

struct Postgres {
    /// Number of the first placeholder this filter binds.
    first: usize,
    params: Vec<Arg>,
}

/// The condition for `filter` and its values, numbered from `first`.
pub fn condition(filter: &UserFilter, first: usize) -> (String, Vec<Arg>) {
    let mut d = Postgres {
        first,
        params: Vec::new(),
    };
    let sql = compile(filter, &mut d);
    (sql, d.params)
}

/// The attribute's value as `cast` when its JSON type is `json_type`. A
/// CASE, so the cast never sees a value of another type.
fn typed(key: &str, json_type: &str, cast: &str) -> String {
    format!(
        "(CASE WHEN jsonb_typeof(u.attributes -> {key}) = '{json_type}' \
         THEN (u.attributes ->> {key}){cast} END)"
    )
}

impl Dialect for Postgres {
    fn bind(&mut self, value: Param) -> String {
        let (arg, cast): (Arg, &str) = match value {
            Param::Text(t) => (Box::new(t), "text"),
            Param::Int(i) => (Box::new(i), "bigint"),
            Param::Bool(b) => (Box::new(b), "boolean"),
            // Stored to the microsecond; the value is cut the same way.
            Param::Time(t) => (Box::new(micros_precision(t)), "timestamptz"),
            Param::Uuid(u) => (Box::new(u), "uuid"),
        };
        self.params.push(arg);
        format!("${}::{cast}", self.first + self.params.len() - 1)
    }

    fn fold(&self, x: &str) -> String {
        // Under "C", lower() folds ASCII only, as SQLite's does.
        format!("lower(({x}) COLLATE \"C\")")
    }

    fn by_code_point(&self, x: &str) -> String {
        format!("({x}) COLLATE \"C\"")
    }

    fn contains(&self, x: &str, v: &str) -> String {
        format!("strpos({x}, {v}) > 0")
    }

    fn attribute_text(&self, key: &str) -> String {
        typed(key, "string", "")
    }

    fn attribute_number(&self, key: &str) -> String {
        typed(key, "number", "::numeric")
    }

    fn attribute_bool(&self, key: &str) -> String {
        typed(key, "boolean", "::boolean")
    }

    fn attribute_present(&self, key: &str) -> String {
        format!(
            "(jsonb_typeof(u.attributes -> {key}) <> 'null' AND u.attributes -> {key} <> '\"\"'::jsonb)"
        )
    }

    fn definite(&self, x: &str) -> String {
        format!("coalesce({x}, false)")
    }
}
