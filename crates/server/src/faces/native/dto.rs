//! The native API's JSON shapes and their translation to and from the core.

use roster_core::FieldError;
use roster_core::Secret;
use roster_core::user::{CreateUser, Patch, User, UserDraft, UserPatch};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::problem::ApiError;
use crate::json::{Object, WriteJson, key};

/// A user as the native API shows it. Secrets are never part of it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0191d5a2-7c3e-7b1a-9f2e-3c4d5e6f7a8b", "seq": 42, "username": "ada",
    "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
    "display_name": "Ada Lovelace", "phone": null, "job_title": null, "timezone": null,
    "locale": null, "active": true, "locked": false, "mfa_required": false,
    "mfa_enrolled": false, "saml_sso_only": false, "security_level": null,
    "distinguished_name": null, "external_id": null, "has_password": true,
    "container_id": "00000000-0000-7000-8000-000000000001", "attributes": {},
    "created_at": "2025-01-15T09:30:00Z", "updated_at": "2025-01-15T09:30:00Z",
    "last_login_at": null, "version": 1, "email_verified": false
}))]
pub struct UserOut {
    /// UUIDv7.
    pub id: Uuid,
    /// Positive integer id, unique, never reused.
    pub seq: i64,
    pub username: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub phone: Option<String>,
    pub job_title: Option<String>,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub active: bool,
    pub locked: bool,
    pub mfa_required: bool,
    pub mfa_enrolled: bool,
    pub saml_sso_only: bool,
    pub security_level: Option<i64>,
    pub distinguished_name: Option<String>,
    pub external_id: Option<String>,
    /// Whether a password is set (the password itself is never shown).
    pub has_password: bool,
    pub container_id: Uuid,
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_login_at: Option<OffsetDateTime>,
    /// Incremented on every change; also the `ETag`.
    pub version: i64,
    /// Whether the user followed a link mailed to its address (verification,
    /// invitation or reset); changing the address sets it back to false.
    pub email_verified: bool,
    /// When the user was deleted; only on deleted users (`?deleted=true`).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deleted_at: Option<OffsetDateTime>,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        let p = u.profile;
        Self {
            id: u.id,
            seq: u.seq,
            username: p.username,
            email: p.email,
            first_name: p.first_name,
            last_name: p.last_name,
            display_name: p.display_name,
            phone: p.phone,
            job_title: p.job_title,
            timezone: p.timezone,
            locale: p.locale,
            active: p.active,
            locked: u.locked,
            mfa_required: p.mfa_required,
            mfa_enrolled: u.mfa_enrolled,
            saml_sso_only: p.saml_sso_only,
            security_level: p.security_level,
            distinguished_name: p.distinguished_name,
            external_id: p.external_id,
            has_password: u.has_password,
            container_id: u.container_id,
            attributes: p.attributes,
            created_at: u.created_at,
            updated_at: u.updated_at,
            last_login_at: u.last_login_at,
            version: u.version,
            email_verified: u.email_verified,
            deleted_at: u.deleted_at,
        }
    }
}

impl WriteJson for UserOut {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), time::error::Format> {
        let mut o = Object::new(out);
        o.uuid(key!("id"), self.id);
        o.int(key!("seq"), self.seq);
        o.str(key!("username"), &self.username);
        o.opt_str(key!("email"), self.email.as_deref());
        o.opt_str(key!("first_name"), self.first_name.as_deref());
        o.opt_str(key!("last_name"), self.last_name.as_deref());
        o.opt_str(key!("display_name"), self.display_name.as_deref());
        o.opt_str(key!("phone"), self.phone.as_deref());
        o.opt_str(key!("job_title"), self.job_title.as_deref());
        o.opt_str(key!("timezone"), self.timezone.as_deref());
        o.opt_str(key!("locale"), self.locale.as_deref());
        o.bool(key!("active"), self.active);
        o.bool(key!("locked"), self.locked);
        o.bool(key!("mfa_required"), self.mfa_required);
        o.bool(key!("mfa_enrolled"), self.mfa_enrolled);
        o.bool(key!("saml_sso_only"), self.saml_sso_only);
        o.opt_int(key!("security_level"), self.security_level);
        o.opt_str(key!("distinguished_name"), self.distinguished_name.as_deref());
        o.opt_str(key!("external_id"), self.external_id.as_deref());
        o.bool(key!("has_password"), self.has_password);
        o.uuid(key!("container_id"), self.container_id);
        o.map(key!("attributes"), &self.attributes);
        o.time(key!("created_at"), self.created_at)?;
        o.time(key!("updated_at"), self.updated_at)?;
        o.opt_time(key!("last_login_at"), self.last_login_at)?;
        o.int(key!("version"), self.version);
        o.bool(key!("email_verified"), self.email_verified);
        if let Some(at) = self.deleted_at {
            o.time(key!("deleted_at"), at)?;
        }
        o.end();
        Ok(())
    }
}

/// Body of `POST /api/v1/users`. Only `username` is required.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "username": "ada", "email": "ada@example.com", "first_name": "Ada",
    "last_name": "Lovelace", "password": "correct horse battery staple"
}))]
pub struct CreateUserIn {
    pub username: String,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub phone: Option<String>,
    pub job_title: Option<String>,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    /// Defaults to true.
    pub active: Option<bool>,
    pub mfa_required: Option<bool>,
    pub saml_sso_only: Option<bool>,
    pub security_level: Option<i64>,
    pub distinguished_name: Option<String>,
    pub external_id: Option<String>,
    /// Write-only; checked against the password policy and stored as an Argon2id hash.
    #[schema(value_type = Option<String>, write_only)]
    pub password: Option<Secret>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    /// Home container; the caller's own when absent.
    pub container_id: Option<Uuid>,
    /// Further containers the user belongs to besides its home (listed by
    /// `GET /users?site=`). Membership only: it grants nothing; each needs
    /// the same `users.write` as homing a user there.
    pub site_ids: Option<Vec<Uuid>>,
    /// Create the user without a password and email it a single-use link
    /// to choose one (needs `email` and mail configured; not with
    /// `password`).
    #[serde(default)]
    pub invite: bool,
}

impl CreateUserIn {
    pub fn into_core(self) -> CreateUser {
        CreateUser {
            profile: UserDraft {
                username: self.username,
                email: self.email,
                first_name: self.first_name,
                last_name: self.last_name,
                display_name: self.display_name,
                phone: self.phone,
                job_title: self.job_title,
                timezone: self.timezone,
                locale: self.locale,
                active: self.active.unwrap_or(true),
                mfa_required: self.mfa_required.unwrap_or(false),
                saml_sso_only: self.saml_sso_only.unwrap_or(false),
                security_level: self.security_level,
                distinguished_name: self.distinguished_name,
                external_id: self.external_id,
                attributes: self.attributes.unwrap_or_default(),
            },
            password: self.password,
            idempotency: None,
            container_id: self.container_id,
            sites: self.site_ids.unwrap_or_default(),
            groups: Vec::new(),
            roles: Vec::new(),
            min_password_length: None,
            rules: None,
        }
    }
}

/// Body of `PATCH /api/v1/users/{id}` (JSON merge patch, RFC 7396): absent
/// fields stay, `null` clears, and `attributes` merges key by key.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = UserPatch)]
pub struct UserPatchDoc {
    pub username: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub phone: Option<String>,
    pub job_title: Option<String>,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub active: Option<bool>,
    pub mfa_required: Option<bool>,
    pub saml_sso_only: Option<bool>,
    pub security_level: Option<i64>,
    pub distinguished_name: Option<String>,
    pub external_id: Option<String>,
    #[schema(value_type = Option<String>, write_only)]
    pub password: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    /// Moves the user to another container.
    pub container_id: Option<Uuid>,
}

fn field<T: DeserializeOwned>(
    obj: &mut Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Patch<T> {
    match obj.remove(name) {
        None => Patch::Keep,
        Some(Value::Null) => Patch::Clear,
        Some(v) => match serde_json::from_value(v) {
            Ok(t) => Patch::Set(t),
            Err(e) => {
                errors.push(FieldError::new(name, "type", e.to_string()));
                Patch::Keep
            }
        },
    }
}

/// Reads a merge-patch document into the core's patch (and the container to
/// move to, if any), naming every field that is unknown, read-only or of the
/// wrong type.
pub fn user_patch(doc: Value) -> Result<(UserPatch, Option<Uuid>), ApiError> {
    let Value::Object(mut obj) = doc else {
        return Err(ApiError::BadRequest(vec![FieldError::new(
            "body",
            "type",
            "a merge patch must be a JSON object",
        )]));
    };
    let mut errors = Vec::new();
    let patch = UserPatch {
        username: field(&mut obj, "username", &mut errors),
        email: field(&mut obj, "email", &mut errors),
        first_name: field(&mut obj, "first_name", &mut errors),
        last_name: field(&mut obj, "last_name", &mut errors),
        display_name: field(&mut obj, "display_name", &mut errors),
        phone: field(&mut obj, "phone", &mut errors),
        job_title: field(&mut obj, "job_title", &mut errors),
        timezone: field(&mut obj, "timezone", &mut errors),
        locale: field(&mut obj, "locale", &mut errors),
        active: field(&mut obj, "active", &mut errors),
        mfa_required: field(&mut obj, "mfa_required", &mut errors),
        saml_sso_only: field(&mut obj, "saml_sso_only", &mut errors),
        security_level: field(&mut obj, "security_level", &mut errors),
        distinguished_name: field(&mut obj, "distinguished_name", &mut errors),
        external_id: field(&mut obj, "external_id", &mut errors),
        attributes: field(&mut obj, "attributes", &mut errors),
        password: match field::<String>(&mut obj, "password", &mut errors) {
            Patch::Keep => Patch::Keep,
            Patch::Clear => Patch::Clear,
            Patch::Set(p) => Patch::Set(Secret::new(p)),
        },
    };
    let move_to = match field::<Uuid>(&mut obj, "container_id", &mut errors) {
        Patch::Set(c) => Some(c),
        Patch::Clear => {
            errors.push(FieldError::new(
                "container_id",
                "required",
                "a user always has a container",
            ));
            None
        }
        Patch::Keep => None,
    };
    const READ_ONLY: &[&str] = &[
        "id",
        "seq",
        "created_at",
        "updated_at",
        "last_login_at",
        "version",
        "deleted_at",
        "locked",
        "mfa_enrolled",
        "has_password",
    ];
    for key in obj.keys() {
        if READ_ONLY.contains(&key.as_str()) {
            errors.push(FieldError::new(key, "read_only", "is set by the server"));
        } else {
            errors.push(FieldError::new(key, "unknown_field", "is not a user field"));
        }
    }
    if errors.is_empty() {
        Ok((patch, move_to))
    } else {
        Err(ApiError::BadRequest(errors))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserOut>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl WriteJson for UserList {
    fn write_json(&self, out: &mut Vec<u8>) -> Result<(), time::error::Format> {
        let mut o = Object::new(out);
        let items = o.raw(key!("items"));
        items.push(b'[');
        for (i, user) in self.items.iter().enumerate() {
            if i > 0 {
                items.push(b',');
            }
            user.write_json(items)?;
        }
        items.push(b']');
        o.opt_str(key!("next_cursor"), self.next_cursor.as_deref());
        o.end();
        Ok(())
    }
}

/// A page of a group's members. Members the caller may not read are
/// counted in `hidden` and not described.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<UserOut>,
    /// Members on this page the caller may not read.
    pub hidden: u64,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "ada", "password": "correct horse battery staple"}))]
pub struct TokenRequest {
    pub username: String,
    #[schema(value_type = String, write_only)]
    pub password: Secret,
    /// The current TOTP code, for accounts with a second factor.
    pub totp: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "access_token": "eyJhbGciOiJIUzI1NiIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2lnbmF0dXJl",
    "token_type": "Bearer", "expires_in": 3600, "mfa_enrollment_required": false
}))]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// The account must enrol a TOTP factor (POST /me/mfa/totp) before the
    /// token grants anything else.
    pub mfa_enrollment_required: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Text with what JSON must escape (quotes, backslashes, control
    /// characters) among plain and non-ASCII characters.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z@. -]{0,12}",
            any::<String>(),
            "[\"\\\\\u{0}-\u{1f}\u{7f}é🦀a]{0,8}",
        ]
    }

    fn time() -> impl Strategy<Value = OffsetDateTime> {
        // Years 0..=9999 (RFC 3339's range), any nanosecond.
        (-62_167_219_200i64..253_402_300_799i64, 0u32..1_000_000_000).prop_map(|(s, n)| {
            OffsetDateTime::from_unix_timestamp(s).unwrap() + time::Duration::nanoseconds(n.into())
        })
    }

    fn attributes() -> impl Strategy<Value = Map<String, Value>> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("JSON numbers are finite", |f| f.is_finite())
                .prop_map(Value::from),
            text().prop_map(Value::from),
        ];
        let value = leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map(text(), inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        prop::collection::btree_map(text(), value, 0..4).prop_map(|m| m.into_iter().collect())
    }

    prop_compose! {
        fn user()(
            ids in any::<(u128, u128)>(),
            seq in any::<i64>(),
            username in text(),
            texts in prop::collection::vec(prop::option::of(text()), 10),
            flags in any::<[bool; 7]>(),
            security_level in prop::option::of(any::<i64>()),
            attributes in attributes(),
            times in (time(), time(), prop::option::of(time()), prop::option::of(time())),
            version in any::<i64>(),
        ) -> UserOut {
            let mut t = texts.into_iter();
            UserOut {
                id: Uuid::from_u128(ids.0),
                seq,
                username,
                email: t.next().flatten(),
                first_name: t.next().flatten(),
                last_name: t.next().flatten(),
                display_name: t.next().flatten(),
                phone: t.next().flatten(),
                job_title: t.next().flatten(),
                timezone: t.next().flatten(),
                locale: t.next().flatten(),
                active: flags[0],
                locked: flags[1],
                mfa_required: flags[2],
                mfa_enrolled: flags[3],
                saml_sso_only: flags[4],
                security_level,
                distinguished_name: t.next().flatten(),
                external_id: t.next().flatten(),
                has_password: flags[5],
                container_id: Uuid::from_u128(ids.1),
                attributes,
                created_at: times.0,
                updated_at: times.1,
                last_login_at: times.2,
                version,
                email_verified: flags[6],
                deleted_at: times.3,
            }
        }
    }

    proptest! {
        /// The written bytes are serde_json's for the derive, which
        /// defines the shape (and the OpenAPI schema beside it).
        #[test]
        fn users_are_written_as_serde_writes_them(
            items in prop::collection::vec(user(), 0..3),
            next_cursor in prop::option::of(text()),
        ) {
            let list = UserList { items, next_cursor };
            for user in &list.items {
                let mut out = Vec::new();
                user.write_json(&mut out).unwrap();
                prop_assert_eq!(
                    String::from_utf8(out).unwrap(),
                    serde_json::to_string(user).unwrap()
                );
            }
            let mut out = Vec::new();
            list.write_json(&mut out).unwrap();
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&list).unwrap());
        }
    }
}
