//! A structured filter over users, for faces whose clients send query
//! expressions (SCIM's `filter`). Faces translate their grammar into this
//! tree; stores compile it into their query language with every value bound
//! as a parameter, so no client text ever becomes SQL.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::FieldError;

/// A user attribute a filter may test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserField {
    Id,
    Seq,
    Username,
    Email,
    FirstName,
    LastName,
    DisplayName,
    Phone,
    JobTitle,
    Timezone,
    Locale,
    ExternalId,
    DistinguishedName,
    Active,
    MfaRequired,
    SamlSsoOnly,
    EmailVerified,
    SecurityLevel,
    ContainerId,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
    /// A top-level key of the user's custom attributes (compared as text,
    /// numbers or booleans, as the stored JSON value is).
    Attribute(String),
}

/// What kind of value a field holds: which comparisons and values make sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Bool,
    Int,
    Time,
    Uuid,
    /// Custom attributes: whatever JSON type the value has.
    Json,
}

impl UserField {
    pub fn kind(&self) -> FieldKind {
        use UserField::*;
        match self {
            Id | ContainerId => FieldKind::Uuid,
            Seq | SecurityLevel => FieldKind::Int,
            Active | MfaRequired | SamlSsoOnly | EmailVerified => FieldKind::Bool,
            CreatedAt | UpdatedAt | LastLoginAt => FieldKind::Time,
            Attribute(_) => FieldKind::Json,
            _ => FieldKind::Text,
        }
    }

    /// Whether text comparisons on this field respect case. Usernames,
    /// emails and names compare without case (as roster's own lookups do);
    /// identifiers from other systems keep it (SCIM's `caseExact`).
    pub fn case_exact(&self) -> bool {
        use UserField::*;
        matches!(self, Id | ContainerId | ExternalId | Attribute(_))
    }
}

/// A comparison operator (RFC 7644 §3.4.2.2's, which cover every face).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    /// Contains (text).
    Co,
    /// Starts with (text).
    Sw,
    /// Ends with (text).
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A value a field is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterValue {
    Text(String),
    Bool(bool),
    Int(i64),
    Time(OffsetDateTime),
    Uuid(Uuid),
    /// `eq null` matches an absent value, `ne null` a present one.
    Null,
}

/// A filter tree. `All` matches every user (an empty `And`).
#[derive(Debug, Clone, PartialEq)]
pub enum UserFilter {
    All,
    /// Matches no user (a value that cannot exist, e.g. a malformed id).
    Nothing,
    Compare(UserField, Cmp, FilterValue),
    /// The field has a value (not null and, for text, not empty).
    Present(UserField),
    And(Vec<UserFilter>),
    Or(Vec<UserFilter>),
    Not(Box<UserFilter>),
}

/// The most comparisons (and presence tests) one filter may hold: enough for
/// any hand-written query, and far below what a database binds (SQLite
/// takes 32766 parameters; a comparison binds at most two).
pub const FILTER_MAX_COMPARISONS: usize = 1024;

/// The deepest a filter may nest (`not`, `and`, `or`, groups).
pub const FILTER_MAX_DEPTH: usize = 64;

impl UserFilter {
    /// Checks that every comparison makes sense for its field (a value of
    /// the field's kind, an operator that kind has) and that the tree is
    /// bounded, before any store sees it. Errors name the field `filter`:
    /// rules `operator`, `value_type`, `no_nul` (U+0000 in a value or an
    /// attribute name), `size` and `depth`.
    ///
    /// What the stores then match (the contract their conformance tests
    /// hold both backends to):
    /// - A comparison with an absent value (null, or a custom attribute
    ///   that is missing or of another JSON type) is false, so `ne`, which
    ///   is `not eq`, is true for it: `ne "x"` matches users without the
    ///   field. `not` is plain negation of that two-valued result.
    /// - `eq null` matches an absent value (null or empty text), `ne null`
    ///   and `pr` a present one.
    /// - Fields whose [`UserField::case_exact`] is false compare without
    ///   ASCII case (username and email by their stored lower-case keys);
    ///   ordering (`gt` … `le`) on text is by code point on every backend.
    /// - `co`, `sw` and `ew` compare literally: `%` and `_` are characters.
    /// - Times compare as instants, to the microsecond (what is stored).
    /// - Custom attributes compare as the value's type says: text with
    ///   strings, integers with numbers, booleans with booleans.
    pub fn validate(&self) -> Result<(), FieldError> {
        let mut comparisons = 0;
        self.check(1, &mut comparisons)
    }

    fn check(&self, depth: usize, comparisons: &mut usize) -> Result<(), FieldError> {
        if depth > FILTER_MAX_DEPTH {
            return Err(FieldError::new(
                "filter",
                "depth",
                format!("must nest at most {FILTER_MAX_DEPTH} levels deep"),
            ));
        }
        match self {
            UserFilter::All | UserFilter::Nothing => Ok(()),
            UserFilter::Present(UserField::Attribute(key)) => {
                count(comparisons)?;
                check_text(key)
            }
            UserFilter::Present(_) => count(comparisons),
            UserFilter::Compare(field, cmp, value) => {
                count(comparisons)?;
                if let UserField::Attribute(key) = field {
                    check_text(key)?;
                }
                if let FilterValue::Text(text) = value {
                    check_text(text)?;
                }
                check_comparison(field, *cmp, value)
            }
            UserFilter::And(items) | UserFilter::Or(items) => items
                .iter()
                .try_for_each(|f| f.check(depth + 1, comparisons)),
            UserFilter::Not(inner) => inner.check(depth + 1, comparisons),
        }
    }
}

/// No database text holds U+0000 (PostgreSQL refuses it), so no stored
/// value can match one: refused alike on every backend.
fn check_text(text: &str) -> Result<(), FieldError> {
    if text.contains('\0') {
        return Err(FieldError::new(
            "filter",
            "no_nul",
            "values must not contain the character U+0000",
        ));
    }
    Ok(())
}

fn count(comparisons: &mut usize) -> Result<(), FieldError> {
    *comparisons += 1;
    if *comparisons > FILTER_MAX_COMPARISONS {
        return Err(FieldError::new(
            "filter",
            "size",
            format!("must hold at most {FILTER_MAX_COMPARISONS} comparisons"),
        ));
    }
    Ok(())
}

/// Which values and operators each kind of field takes.
fn check_comparison(field: &UserField, cmp: Cmp, value: &FilterValue) -> Result<(), FieldError> {
    use Cmp::*;
    let equality = matches!(cmp, Eq | Ne);
    let ordering = matches!(cmp, Gt | Ge | Lt | Le);
    let value_fits = match (field.kind(), value) {
        (_, FilterValue::Null) => true,
        (FieldKind::Text, FilterValue::Text(_))
        | (FieldKind::Bool, FilterValue::Bool(_))
        | (FieldKind::Int, FilterValue::Int(_))
        | (FieldKind::Time, FilterValue::Time(_))
        | (FieldKind::Uuid, FilterValue::Uuid(_)) => true,
        (FieldKind::Json, v) => matches!(
            v,
            FilterValue::Text(_) | FilterValue::Int(_) | FilterValue::Bool(_)
        ),
        _ => false,
    };
    if !value_fits {
        return Err(FieldError::new(
            "filter",
            "value_type",
            format!(
                "{} cannot be compared with {}",
                field_name(field),
                value_name(value)
            ),
        ));
    }
    let operator_fits = match value {
        FilterValue::Null | FilterValue::Bool(_) | FilterValue::Uuid(_) => equality,
        FilterValue::Int(_) | FilterValue::Time(_) => equality || ordering,
        FilterValue::Text(_) => true,
    };
    if !operator_fits {
        return Err(FieldError::new(
            "filter",
            "operator",
            format!("{cmp:?} does not apply to {}", value_name(value)).to_lowercase(),
        ));
    }
    Ok(())
}

fn field_name(field: &UserField) -> String {
    match field {
        UserField::Attribute(key) => format!("attribute {key:?}"),
        other => format!("{other:?}"),
    }
}

fn value_name(value: &FilterValue) -> &'static str {
    match value {
        FilterValue::Text(_) => "text",
        FilterValue::Bool(_) => "a boolean",
        FilterValue::Int(_) => "a number",
        FilterValue::Time(_) => "a time",
        FilterValue::Uuid(_) => "an id",
        FilterValue::Null => "null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(f: &UserFilter) -> Option<&'static str> {
        f.validate().err().map(|e| {
            assert_eq!(e.field, "filter");
            e.rule
        })
    }

    fn cmp(field: UserField, c: Cmp, v: FilterValue) -> UserFilter {
        UserFilter::Compare(field, c, v)
    }

    #[test]
    fn values_must_fit_their_field() {
        use FilterValue as V;
        assert_eq!(
            rule(&cmp(UserField::Active, Cmp::Gt, V::Text("x".into()))),
            Some("value_type")
        );
        assert_eq!(
            rule(&cmp(UserField::Active, Cmp::Co, V::Bool(true))),
            Some("operator")
        );
        assert_eq!(
            rule(&cmp(UserField::Username, Cmp::Eq, V::Int(1))),
            Some("value_type")
        );
        assert_eq!(
            rule(&cmp(UserField::Seq, Cmp::Sw, V::Int(1))),
            Some("operator")
        );
        assert_eq!(
            rule(&cmp(UserField::Id, Cmp::Gt, V::Uuid(uuid::Uuid::nil()))),
            Some("operator")
        );
        assert_eq!(
            rule(&cmp(UserField::Email, Cmp::Gt, V::Null)),
            Some("operator")
        );
        let attr = || UserField::Attribute("k".into());
        assert_eq!(
            rule(&cmp(attr(), Cmp::Eq, V::Time(OffsetDateTime::UNIX_EPOCH))),
            Some("value_type")
        );
        assert_eq!(rule(&cmp(attr(), Cmp::Gt, V::Bool(true))), Some("operator"));
        for ok in [
            cmp(UserField::Username, Cmp::Ew, V::Text("x".into())),
            cmp(
                UserField::CreatedAt,
                Cmp::Le,
                V::Time(OffsetDateTime::UNIX_EPOCH),
            ),
            cmp(UserField::SecurityLevel, Cmp::Ge, V::Int(3)),
            cmp(UserField::Email, Cmp::Ne, V::Null),
            cmp(attr(), Cmp::Co, V::Text("x".into())),
            cmp(attr(), Cmp::Lt, V::Int(2)),
            cmp(attr(), Cmp::Eq, V::Bool(false)),
        ] {
            assert_eq!(rule(&ok), None, "{ok:?}");
        }
    }

    #[test]
    fn nul_characters_are_refused() {
        let attr = UserField::Attribute("a\0b".into());
        assert_eq!(rule(&UserFilter::Present(attr)), Some("no_nul"));
        let text = cmp(
            UserField::Username,
            Cmp::Eq,
            FilterValue::Text("x\0".into()),
        );
        assert_eq!(rule(&text), Some("no_nul"));
    }

    #[test]
    fn trees_are_bounded() {
        let leaf = || UserFilter::Present(UserField::Email);
        let wide = UserFilter::Or(vec![leaf(); FILTER_MAX_COMPARISONS]);
        assert_eq!(rule(&wide), None);
        let wider = UserFilter::And(vec![wide, leaf()]);
        assert_eq!(rule(&wider), Some("size"));
        let mut deep = leaf();
        for _ in 1..FILTER_MAX_DEPTH {
            deep = UserFilter::Not(Box::new(deep));
        }
        assert_eq!(rule(&deep), None);
        assert_eq!(rule(&UserFilter::Not(Box::new(deep))), Some("depth"));
    }
}
