//! Export and import of a whole installation (`roster export` / `roster
//! import`): every stored entity as one JSON line, in an order in which each
//! record only refers to records before it, so that a file made by one
//! backend loads into an empty database of any backend.
//!
//! A file is a [`Header`] line, the [`Record`] lines kind by kind in
//! [`RecordKind::ALL`] order, and an [`End`] line with the count of each
//! kind (a file cut short is refused). Records are faithful copies of the
//! stored rows: password and key hashes, TOTP secrets, signing secrets,
//! version numbers, `seq` ids and the audit chain's hashes are carried as
//! they are; only derived lookup columns (`username_key`, `email_key`,
//! `name_key`) are left out and recomputed on import. Transient state
//! (the login throttle, sliding token sessions, idempotency records) is not
//! exported. Times are RFC 3339 in UTC with microseconds, ids UUID strings.
//!
//! The exporter writes every field; when reading, fields with a default
//! (`null` options, `false` flags, zero counters, `{}` attributes, version
//! 1, the root container) may be left out, so generated files (seeding)
//! can be short.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::access::ROOT_CONTAINER_ID;

/// The file format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The kinds of stored record, in the order an export writes them: each
/// kind refers only to kinds before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Container,
    Role,
    User,
    Group,
    Membership,
    Site,
    Assignment,
    ApiKey,
    SigningKey,
    RevokedToken,
    AuditEvent,
}

impl RecordKind {
    pub const ALL: [RecordKind; 11] = [
        RecordKind::Container,
        RecordKind::Role,
        RecordKind::User,
        RecordKind::Group,
        RecordKind::Membership,
        RecordKind::Site,
        RecordKind::Assignment,
        RecordKind::ApiKey,
        RecordKind::SigningKey,
        RecordKind::RevokedToken,
        RecordKind::AuditEvent,
    ];

    /// The `kind` tag of its lines.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Container => "container",
            RecordKind::Role => "role",
            RecordKind::User => "user",
            RecordKind::Group => "group",
            RecordKind::Membership => "membership",
            RecordKind::Site => "site",
            RecordKind::Assignment => "assignment",
            RecordKind::ApiKey => "api_key",
            RecordKind::SigningKey => "signing_key",
            RecordKind::RevokedToken => "revoked_token",
            RecordKind::AuditEvent => "audit_event",
        }
    }
}

/// Where the export of one kind resumes: after the last record a store
/// returned. Each backend chooses the key per kind (and produces the
/// cursors itself, see [`ExportPage::next`]); callers only pass them back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Cursor {
    /// Before the first record.
    #[default]
    Start,
    /// After this integer key (a `seq`).
    Int(i64),
    /// After this pair of integers (containers: depth in the tree, `seq`).
    Ints(i64, i64),
    /// After this id.
    Id(Uuid),
    /// After this pair of ids (memberships: group, user; sites: user, container).
    Ids(Uuid, Uuid),
    /// After this text key (signing keys: `kid`).
    Text(String),
}

/// One page of an export.
#[derive(Debug, Clone, Default)]
pub struct ExportPage {
    pub records: Vec<Record>,
    /// Where the next page starts; `None` when this kind is exhausted.
    pub next: Option<Cursor>,
}

/// One stored row, as a line of the file. Internally tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Container(ContainerRecord),
    Role(RoleRecord),
    User(Box<UserRecord>),
    Group(GroupRecord),
    Membership(MembershipRecord),
    Site(SiteRecord),
    Assignment(AssignmentRecord),
    ApiKey(ApiKeyRecord),
    SigningKey(SigningKeyRecord),
    RevokedToken(RevokedTokenRecord),
    AuditEvent(Box<AuditEventRecord>),
}

impl Record {
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Container(_) => RecordKind::Container,
            Record::Role(_) => RecordKind::Role,
            Record::User(_) => RecordKind::User,
            Record::Group(_) => RecordKind::Group,
            Record::Membership(_) => RecordKind::Membership,
            Record::Site(_) => RecordKind::Site,
            Record::Assignment(_) => RecordKind::Assignment,
            Record::ApiKey(_) => RecordKind::ApiKey,
            Record::SigningKey(_) => RecordKind::SigningKey,
            Record::RevokedToken(_) => RecordKind::RevokedToken,
            Record::AuditEvent(_) => RecordKind::AuditEvent,
        }
    }
}

fn yes() -> bool {
    true
}

fn one() -> i64 {
    1
}

fn root() -> Uuid {
    ROOT_CONTAINER_ID
}

/// `containers`. The root (a fixed id) exists in every database; importing
/// it overwrites the target's root with the exported one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerRecord {
    pub id: Uuid,
    pub seq: i64,
    pub name: String,
    /// Absent in files written before containers had descriptions.
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub parent_id: Option<Uuid>,
    #[serde(with = "micros")]
    pub created_at: OffsetDateTime,
    #[serde(with = "micros")]
    pub updated_at: OffsetDateTime,
    #[serde(default = "one")]
    pub version: i64,
}

/// `roles`. Built-in (`system`) roles exist in a database once a server
/// has started; importing one overwrites it instead of conflicting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRecord {
    pub id: Uuid,
    pub seq: i64,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Privilege names as stored, unknown ones included.
    #[serde(default)]
    pub privileges: Vec<String>,
    #[serde(default)]
    pub system: bool,
    #[serde(with = "micros")]
    pub created_at: OffsetDateTime,
    #[serde(with = "micros")]
    pub updated_at: OffsetDateTime,
    #[serde(default = "one")]
    pub version: i64,
}

/// `users`: every column but the lower-cased lookup keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    pub id: Uuid,
    pub seq: i64,
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub mfa_required: bool,
    #[serde(default)]
    pub saml_sso_only: bool,
    #[serde(default)]
    pub security_level: Option<i64>,
    #[serde(default)]
    pub distinguished_name: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// The PHC string (Argon2id), as stored.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// The confirmed TOTP secret (base32), as stored.
    #[serde(default)]
    pub totp_secret: Option<String>,
    /// A TOTP secret awaiting confirmation.
    #[serde(default)]
    pub totp_pending: Option<String>,
    #[serde(default)]
    pub totp_last_step: Option<i64>,
    #[serde(default)]
    pub failed_logins: i64,
    #[serde(default, with = "micros::option")]
    pub locked_until: Option<OffsetDateTime>,
    #[serde(default)]
    pub credential_epoch: i64,
    #[serde(default = "root")]
    pub container_id: Uuid,
    #[serde(with = "micros")]
    pub created_at: OffsetDateTime,
    #[serde(with = "micros")]
    pub updated_at: OffsetDateTime,
    #[serde(default, with = "micros::option")]
    pub last_login_at: Option<OffsetDateTime>,
    #[serde(default = "one")]
    pub version: i64,
    /// Soft deletion; absent in files written before it existed.
    #[serde(default, with = "micros::option")]
    pub deleted_at: Option<OffsetDateTime>,
    /// Whether the address was verified by a mailed link; absent in files
    /// written before it existed.
    #[serde(default)]
    pub email_verified: bool,
}

/// `groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRecord {
    pub id: Uuid,
    pub seq: i64,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    #[serde(with = "micros")]
    pub created_at: OffsetDateTime,
    #[serde(with = "micros")]
    pub updated_at: OffsetDateTime,
    #[serde(default = "one")]
    pub version: i64,
}

/// `group_members`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipRecord {
    pub group_id: Uuid,
    pub user_id: Uuid,
    #[serde(default)]
    pub access_level: Option<String>,
    #[serde(with = "micros")]
    pub created_at: OffsetDateTime,
    #[serde(with = "micros")]
    pub updated_at: OffsetDateTime,
}

/// `user_sites`: a container the user belongs to besides its home.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteRecord {
    pub user_id: Uuid,
    pub container_id: Uuid,
}

/// `role_assignments` with its `role_assignment_scopes`. Exactly one of
/// `user_id` and `group_id` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentRecord {
    pub id: Uuid,
    #[serde(default)]
    pub user_id: Option<Uuid>,
    #[serde(default)]
    pub group_id: Option<Uuid>,
    pub role_id: Uuid,
    pub all_objects: bool,
    /// The containers a scoped assignment covers, in ascending order.
    #[serde(default)]
    pub container_ids: Vec<Uuid>,
    #[serde(with = "micros")]
    pub created_at: OffsetDateTime,
}

/// `api_keys`: the SHA-256 of the secret, never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub hash: String,
    #[serde(default)]
    pub role_id: Option<Uuid>,
    /// The privilege cap fixed at minting (names as stored), if any.
    #[serde(default)]
    pub privileges: Option<Vec<String>>,
    #[serde(with = "micros")]
    pub created_at: OffsetDateTime,
    #[serde(default, with = "micros::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(default, with = "micros::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(default, with = "micros::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// `signing_keys`: a token signing secret, standard base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyRecord {
    pub kid: String,
    #[serde(with = "base64_bytes")]
    pub secret: Vec<u8>,
    #[serde(with = "micros")]
    pub created_at: OffsetDateTime,
}

/// `revoked_tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokedTokenRecord {
    pub jti: Uuid,
    #[serde(with = "micros")]
    pub expires_at: OffsetDateTime,
}

/// `audit_events`, verbatim: the hash chain must verify after import.
/// `outcome` and `details` are the stored text (the hash covers it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEventRecord {
    pub seq: i64,
    pub id: Uuid,
    #[serde(with = "micros")]
    pub at: OffsetDateTime,
    #[serde(default)]
    pub actor_id: Option<Uuid>,
    #[serde(default)]
    pub actor: Option<String>,
    pub action: String,
    #[serde(default)]
    pub target_kind: Option<String>,
    #[serde(default)]
    pub target_id: Option<String>,
    #[serde(default)]
    pub container_id: Option<Uuid>,
    pub outcome: String,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The first line of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// [`FORMAT_VERSION`] of the writer; readers refuse others.
    pub format: u32,
    /// The roster release that wrote the file.
    pub roster_version: String,
    #[serde(with = "micros")]
    pub exported_at: OffsetDateTime,
}

/// The last line of a file: how many records of each kind precede it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct End {
    pub counts: BTreeMap<RecordKind, u64>,
}

/// The header and end lines, tagged like records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Meta {
    Header(Header),
    End(End),
}

/// One line of a file.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Header(Header),
    Record(Record),
    End(End),
}

/// Parses one line. Errors name what is wrong (serde's message, with the
/// column); the caller adds the line number.
pub fn parse_line(text: &str) -> Result<Line, serde_json::Error> {
    #[derive(Deserialize)]
    struct Kind<'a> {
        #[serde(borrow)]
        kind: std::borrow::Cow<'a, str>,
    }
    let kind: Kind<'_> = serde_json::from_str(text)?;
    match kind.kind.as_ref() {
        "header" | "end" => Ok(match serde_json::from_str::<Meta>(text)? {
            Meta::Header(h) => Line::Header(h),
            Meta::End(e) => Line::End(e),
        }),
        _ => serde_json::from_str(text).map(Line::Record),
    }
}

/// Times as RFC 3339 in UTC with exactly six fractional digits (what the
/// stores keep); any RFC 3339 time is read, below a microsecond dropped.
pub mod micros {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::{OffsetDateTime, UtcOffset};

    pub fn format(t: OffsetDateTime) -> String {
        let t = t.to_offset(UtcOffset::UTC);
        t.format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
        .unwrap_or_else(|_| t.to_string())
    }

    pub fn parse(s: &str) -> Result<OffsetDateTime, String> {
        let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|e| format!("{s:?}: {e}"))?;
        let nanos = t.nanosecond();
        t.replace_nanosecond(nanos - nanos % 1000)
            .map_err(|e| e.to_string())
    }

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;

        pub fn serialize<S: Serializer>(
            t: &Option<OffsetDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&format(*t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            match Option::<std::borrow::Cow<str>>::deserialize(d)? {
                Some(s) => parse(&s).map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_have_six_digits_in_utc() {
        let t = datetime!(2025-03-04 05:06:07.000120 +02:00);
        assert_eq!(micros::format(t), "2025-03-04T03:06:07.000120Z");
        assert_eq!(micros::parse("2025-03-04T03:06:07.000120Z").unwrap(), t);
        assert_eq!(
            micros::parse("2025-03-04T03:06:07.000120999Z").unwrap(),
            t,
            "below a microsecond is dropped"
        );
        assert_eq!(
            micros::format(OffsetDateTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn lines_round_trip_and_minimal_users_take_defaults() {
        let rec = Record::SigningKey(SigningKeyRecord {
            kid: "k1".into(),
            secret: vec![0, 1, 2, 255],
            created_at: datetime!(2025-01-01 00:00 UTC),
        });
        let text = serde_json::to_string(&rec).unwrap();
        assert!(
            text.starts_with(r#"{"kind":"signing_key","kid":"k1","secret":"AAEC/w==""#),
            "{text}"
        );
        assert_eq!(parse_line(&text).unwrap(), Line::Record(rec));

        let minimal = r#"{"kind":"user","id":"0190b3c4-0000-7000-8000-000000000001","seq":7,
            "username":"u7","created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z"}"#;
        let Line::Record(Record::User(u)) = parse_line(minimal).unwrap() else {
            panic!("not a user")
        };
        assert!(u.active);
        assert_eq!(u.version, 1);
        assert_eq!(u.container_id, ROOT_CONTAINER_ID);
        assert_eq!(u.password_hash, None);

        let end = Meta::End(End {
            counts: [(RecordKind::ApiKey, 2)].into_iter().collect(),
        });
        let text = serde_json::to_string(&end).unwrap();
        assert_eq!(text, r#"{"kind":"end","counts":{"api_key":2}}"#);
        assert!(
            matches!(parse_line(&text).unwrap(), Line::End(e) if e.counts[&RecordKind::ApiKey] == 2)
        );
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, why) in [
            ("{", "EOF"),
            (r#"{"kind":"usr"}"#, "unknown variant"),
            (r#"{"kind":"revoked_token","jti":"x"}"#, "UUID"),
            (
                r#"{"kind":"revoked_token","jti":"0190b3c4-0000-7000-8000-000000000001","expires_at":"2025-01-01T00:00:00Z","extra":1}"#,
                "unknown field",
            ),
            (r#"{"no_kind":1}"#, "kind"),
        ] {
            let e = parse_line(line).unwrap_err().to_string();
            assert!(e.contains(why), "{line}: {e}");
        }
    }

    #[test]
    fn kind_names_match_record_tags() {
        for kind in RecordKind::ALL {
            let as_json = serde_json::to_value(kind).unwrap();
            assert_eq!(as_json, kind.as_str());
        }
    }
}
