//! Compiling a [`UserFilter`] into a SQL condition, the half both backends
//! share: the tree walk, the meaning of each operator and the treatment of
//! absent values. What differs (placeholders and how values are typed,
//! case folding, code-point order, JSON access) is a [`Dialect`]. Every
//! value is bound; column names come from [`user_filter_column`].
//!
//! Each comparison compiles to a condition that is never NULL (an absent
//! value makes it false), so `not` and `ne` are plain negations: `ne "x"`
//! matches a user without the field, as `not (eq "x")` does.

use roster_core::user::username_key;
use roster_core::user_filter::{Cmp, FieldKind, FilterValue, UserField, UserFilter};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::columns::user_filter_column;

/// A value to bind, before the backend gives it its own representation.
pub(crate) enum Param {
    Text(String),
    Int(i64),
    Bool(bool),
    Time(OffsetDateTime),
    Uuid(Uuid),
}

/// What one backend writes differently. Expressions passed in are SQL the
/// walk built from fixed columns and placeholders, never client text.
pub(crate) trait Dialect {
    /// Binds a value and returns the SQL standing for it.
    fn bind(&mut self, value: Param) -> String;
    /// `x` with ASCII letters lower-cased (the same on every backend).
    fn fold(&self, x: &str) -> String;
    /// `x` ordered by code point, for `gt` … `le`.
    fn by_code_point(&self, x: &str) -> String;
    /// Whether text `x` contains text `v`, literally.
    fn contains(&self, x: &str, v: &str) -> String;
    /// The custom attribute named by the bound `key` as text when it is a
    /// JSON string, else NULL.
    fn attribute_text(&self, key: &str) -> String;
    /// … as a number when it is a JSON number, else NULL.
    fn attribute_number(&self, key: &str) -> String;
    /// … as a boolean (comparable with a bound `Param::Bool`) when it is a
    /// JSON boolean, else NULL.
    fn attribute_bool(&self, key: &str) -> String;
    /// Whether the attribute is there, not JSON null and not "".
    fn attribute_present(&self, key: &str) -> String;
    /// `x`, with NULL taken as false.
    fn definite(&self, x: &str) -> String;
}

const TRUE: &str = "(1 = 1)";
const FALSE: &str = "(1 = 0)";

/// The condition `filter` stands for, binding its values through `d`.
pub(crate) fn compile(filter: &UserFilter, d: &mut impl Dialect) -> String {
    match filter {
        UserFilter::All => TRUE.into(),
        UserFilter::Nothing => FALSE.into(),
        UserFilter::Present(field) => {
            let present = present(field, d);
            d.definite(&present)
        }
        UserFilter::Compare(field, cmp, value) => comparison(field, *cmp, value, d),
        UserFilter::And(items) => {
            let parts: Vec<String> = items.iter().map(|f| compile(f, d)).collect();
            balanced(&parts, "AND", TRUE)
        }
        UserFilter::Or(items) => {
            let parts: Vec<String> = items.iter().map(|f| compile(f, d)).collect();
            balanced(&parts, "OR", FALSE)
        }
        UserFilter::Not(inner) => format!("(NOT {})", compile(inner, d)),
    }
}

/// Joins conditions as a balanced tree, so a long list nests only as deep
/// as its logarithm (SQLite refuses expressions nested 1000 deep).
fn balanced(parts: &[String], op: &str, empty: &str) -> String {
    match parts {
        [] => empty.into(),
        [one] => one.clone(),
        _ => {
            let (l, r) = parts.split_at(parts.len() / 2);
            format!(
                "({} {op} {})",
                balanced(l, op, empty),
                balanced(r, op, empty)
            )
        }
    }
}

fn comparison(field: &UserField, cmp: Cmp, value: &FilterValue, d: &mut impl Dialect) -> String {
    if let FilterValue::Null = value {
        let present = present(field, d);
        let present = d.definite(&present);
        return match cmp {
            Cmp::Ne => present,
            // Validation lets only eq and ne compare with null.
            _ => format!("(NOT {present})"),
        };
    }
    if cmp == Cmp::Ne {
        let equal = comparison(field, Cmp::Eq, value, d);
        return format!("(NOT {equal})");
    }
    let positive = match (field, value) {
        (UserField::Attribute(key), value) => attribute(key, cmp, value, d),
        (field, FilterValue::Text(text)) => {
            let column = column(field);
            match text_case(field) {
                TextCase::Exact => {
                    let v = d.bind(Param::Text(text.clone()));
                    text_comparison(cmp, column, &v, d)
                }
                TextCase::Folded => {
                    let v = d.bind(Param::Text(text.clone()));
                    let (x, v) = (d.fold(column), d.fold(&v));
                    text_comparison(cmp, &x, &v, d)
                }
                TextCase::Key(key_of) => {
                    let v = d.bind(Param::Text(key_of(text)));
                    text_comparison(cmp, column, &v, d)
                }
            }
        }
        (field, value) => {
            let v = d.bind(scalar(value));
            format!("{} {} {v}", column(field), operator(cmp))
        }
    };
    d.definite(&positive)
}

/// Whether a field has a value: not null and, for text, not empty.
fn present(field: &UserField, d: &mut impl Dialect) -> String {
    match field {
        UserField::Attribute(key) => {
            let key = d.bind(Param::Text(key.clone()));
            d.attribute_present(&key)
        }
        field if field.kind() == FieldKind::Text => format!("{} <> ''", column(field)),
        field => format!("{} IS NOT NULL", column(field)),
    }
}

fn attribute(key: &str, cmp: Cmp, value: &FilterValue, d: &mut impl Dialect) -> String {
    let key = d.bind(Param::Text(key.to_owned()));
    match value {
        FilterValue::Text(text) => {
            let x = d.attribute_text(&key);
            let v = d.bind(Param::Text(text.clone()));
            text_comparison(cmp, &x, &v, d)
        }
        FilterValue::Bool(_) => {
            let x = d.attribute_bool(&key);
            let v = d.bind(scalar(value));
            format!("{x} {} {v}", operator(cmp))
        }
        // Numbers; validation admits nothing else here.
        _ => {
            let x = d.attribute_number(&key);
            let v = d.bind(scalar(value));
            format!("{x} {} {v}", operator(cmp))
        }
    }
}

/// How a text field's comparisons treat case.
enum TextCase {
    Exact,
    /// Both sides folded in SQL.
    Folded,
    /// The column holds a key already folded by this function; the value is
    /// folded the same way before it is bound (and an index can serve).
    Key(fn(&str) -> String),
}

fn text_case(field: &UserField) -> TextCase {
    match field {
        UserField::Username => TextCase::Key(username_key),
        UserField::Email => TextCase::Key(str::to_lowercase),
        f if f.case_exact() => TextCase::Exact,
        _ => TextCase::Folded,
    }
}

/// Text `x` against text `v` (both SQL expressions). `co`, `sw` and `ew`
/// compare literally, with no pattern characters to escape.
fn text_comparison(cmp: Cmp, x: &str, v: &str, d: &impl Dialect) -> String {
    match cmp {
        Cmp::Eq | Cmp::Ne => format!("{x} = {v}"),
        Cmp::Co => d.contains(x, v),
        Cmp::Sw => format!("substr({x}, 1, length({v})) = {v}"),
        Cmp::Ew => format!("substr({x}, length({x}) - length({v}) + 1) = {v}"),
        Cmp::Gt | Cmp::Ge | Cmp::Lt | Cmp::Le => {
            format!("{} {} {v}", d.by_code_point(x), operator(cmp))
        }
    }
}

fn operator(cmp: Cmp) -> &'static str {
    match cmp {
        Cmp::Gt => ">",
        Cmp::Ge => ">=",
        Cmp::Lt => "<",
        Cmp::Le => "<=",
        // Ne is compiled as `not eq`; text operators never reach here.
        _ => "=",
    }
}

fn column(field: &UserField) -> &'static str {
    // Attributes are handled before any caller asks for a column.
    user_filter_column(field).unwrap_or("NULL")
}

fn scalar(value: &FilterValue) -> Param {
    match value {
        FilterValue::Text(t) => Param::Text(t.clone()),
        FilterValue::Bool(b) => Param::Bool(*b),
        FilterValue::Int(i) => Param::Int(*i),
        FilterValue::Time(t) => Param::Time(*t),
        FilterValue::Uuid(u) => Param::Uuid(*u),
        // Null is compiled as a presence test before values are bound.
        FilterValue::Null => Param::Int(0),
    }
}
