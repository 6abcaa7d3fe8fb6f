//! A structured filter over users, for faces whose clients send query
//! expressions (SCIM's `filter`). Faces translate their grammar into this
//! tree; stores compile it into their query language with every value bound
//! as a parameter, so no client text ever becomes SQL.

use time::OffsetDateTime;
use uuid::Uuid;

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
            Active | MfaRequired | SamlSsoOnly => FieldKind::Bool,
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
