//! The user model and its rules: every field's limits live here once, and
//! every face (native, SCIM, dialects) reaches them through [`UserDraft`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::FieldError;
use crate::validation::Errors;

pub const USERNAME_MAX: usize = 255;

/// Characters no native username may contain (besides whitespace and
/// control characters): they break LDAP DNs, shells, URLs and other faces'
/// rules. Compare Keycloak's username validator. A face with an alphabet
/// of its own (`UserRules::username_extra_chars`, DigiCert's) uses that
/// instead; a face may forbid more (`username_forbidden_chars`).
pub const USERNAME_FORBIDDEN: &str = "\"'`<>&;/\\,=+#";
pub const NAME_MAX: usize = 255;
pub const EMAIL_MAX: usize = 254;
pub const PHONE_MAX: usize = 64;
pub const TIMEZONE_MAX: usize = 64;
pub const LOCALE_MAX: usize = 35;
pub const DN_MAX: usize = 1024;
pub const ATTRIBUTES_MAX_KEYS: usize = 64;
pub const ATTRIBUTES_MAX_BYTES: usize = 16 * 1024;

/// A stored user as every face reads it. The password hash is deliberately
/// not part of this type, so no face can serialise it by mistake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub seq: i64,
    #[serde(flatten)]
    pub profile: UserDraft,
    pub mfa_enrolled: bool,
    pub locked: bool,
    pub has_password: bool,
    pub container_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
    pub version: i64,
    /// Moves on with every password or second-factor change; tokens from
    /// an earlier epoch are refused. Not shown by any face.
    #[serde(default, skip_serializing)]
    pub credential_epoch: i64,
    /// Set when the user was (soft) deleted: it cannot authenticate, lists
    /// and lookups leave it out, and its username stays taken until it is
    /// purged.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub deleted_at: Option<OffsetDateTime>,
    /// Whether the user proved it receives mail at its address (a
    /// verification, invitation or reset link followed); changing the
    /// address sets it back to false.
    #[serde(default)]
    pub email_verified: bool,
}

impl User {
    /// Whether the account may authenticate at all (password, key, token).
    pub fn may_sign_in(&self) -> bool {
        self.profile.active && self.deleted_at.is_none()
    }
}

/// The caller-settable part of a user, after validation. Create fills it from
/// the request; update applies a patch onto the stored one and validates the
/// result, so both paths check exactly the same rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct UserDraft {
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
    pub mfa_required: bool,
    pub saml_sso_only: bool,
    pub security_level: Option<i64>,
    pub distinguished_name: Option<String>,
    pub external_id: Option<String>,
    pub attributes: Map<String, Value>,
}

impl UserDraft {
    /// The one place the user field rules live.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        self.validate_with(&UserRules::default())
    }

    /// Validates under a face's tighter limits (see [`UserRules`]).
    pub fn validate_with(&self, rules: &UserRules) -> Result<(), Vec<FieldError>> {
        self.validate_inner(rules, true)
    }

    /// Validates a changed user; a username kept as it was is not held to
    /// an alphabet it was not created under (another face's, or an older
    /// release's).
    pub fn validate_update(
        &self,
        rules: &UserRules,
        username_changed: bool,
    ) -> Result<(), Vec<FieldError>> {
        self.validate_inner(rules, username_changed)
    }

    fn validate_inner(&self, rules: &UserRules, alphabet: bool) -> Result<(), Vec<FieldError>> {
        let mut e = Errors::default();
        validate_username(&mut e, &self.username);
        if alphabet
            && rules.username_extra_chars.is_none()
            && let Some(bad) = self
                .username
                .trim()
                .chars()
                .find(|c| c.is_whitespace() || USERNAME_FORBIDDEN.contains(*c))
        {
            e.push(
                "username",
                "charset",
                format!(
                    "must not contain whitespace, control characters or any of {USERNAME_FORBIDDEN} (found {bad:?})"
                ),
            );
        }
        if !alphabet {
            // Only the rules below that are not about the alphabet.
        } else if let Some(extra) = rules.username_extra_chars
            && let Some(bad) = self
                .username
                .chars()
                .find(|c| !c.is_ascii_alphanumeric() && !extra.contains(*c))
        {
            e.push(
                "username",
                "charset",
                format!("may use letters, digits and {extra} only (found {bad:?})"),
            );
        }
        if alphabet
            && let Some(forbidden) = rules.username_forbidden_chars
            && let Some(bad) = self
                .username
                .chars()
                .find(|c| c.is_whitespace() || forbidden.contains(*c))
        {
            e.push(
                "username",
                "pattern",
                format!("must not contain whitespace or any of {forbidden} (found {bad:?})"),
            );
        }
        for field in rules.required {
            let value = match *field {
                "email" => self.email.as_deref(),
                "first_name" => self.first_name.as_deref(),
                "last_name" => self.last_name.as_deref(),
                _ => Some("-"),
            };
            if value.is_none_or(str::is_empty) {
                e.push(field, "required", "is required");
            }
        }
        if let Some(email) = &self.email {
            if email.chars().count() > rules.email_max {
                e.push(
                    "email",
                    "max_length",
                    format!("must be at most {} characters", rules.email_max),
                );
            } else if !email.is_empty() && !is_valid_email(email) {
                e.push("email", "email", "must be a valid email address");
            }
        }
        e.text("first_name", self.first_name.as_deref(), rules.name_max);
        e.text("last_name", self.last_name.as_deref(), rules.name_max);
        e.text("display_name", self.display_name.as_deref(), NAME_MAX);
        e.text("phone", self.phone.as_deref(), rules.phone_max);
        e.text("job_title", self.job_title.as_deref(), rules.job_title_max);
        e.text("timezone", self.timezone.as_deref(), TIMEZONE_MAX);
        e.text("locale", self.locale.as_deref(), LOCALE_MAX);
        e.text(
            "distinguished_name",
            self.distinguished_name.as_deref(),
            DN_MAX,
        );
        e.text("external_id", self.external_id.as_deref(), NAME_MAX);
        if let Some(level) = self.security_level
            && !(0..=i32::MAX as i64).contains(&level)
        {
            e.push(
                "security_level",
                "range",
                format!("must be between 0 and {}", i32::MAX),
            );
        }
        e.attributes("attributes", &self.attributes);
        e.into_result()
    }
}

fn validate_username(e: &mut Errors, username: &str) {
    let len = username.chars().count();
    if len == 0 {
        e.push("username", "required", "must not be empty");
        return;
    }
    if len > USERNAME_MAX {
        e.push(
            "username",
            "max_length",
            format!("must be at most {USERNAME_MAX} characters"),
        );
    }
    if username.chars().any(char::is_control) {
        e.push(
            "username",
            "no_control_characters",
            "must not contain control characters",
        );
    }
    if username.trim() != username {
        e.push(
            "username",
            "no_surrounding_whitespace",
            "must not start or end with whitespace",
        );
    }
}

/// Field limits a face may tighten, passed to the core as data (DigiCert:
/// names of at most 128 characters, job title and telephone of 64, a
/// username alphabet, required names and email).
#[derive(Debug, Clone)]
pub struct UserRules {
    pub name_max: usize,
    pub email_max: usize,
    pub phone_max: usize,
    pub job_title_max: usize,
    /// Characters a username may use besides ASCII letters and digits;
    /// `None` allows any (control characters aside).
    pub username_extra_chars: Option<&'static str>,
    /// Characters a username may not contain, besides whitespace when set
    /// (Aria: `, < & " ' ? + % = > ; / #`).
    pub username_forbidden_chars: Option<&'static str>,
    /// Fields that must be present and non-empty.
    pub required: &'static [&'static str],
}

impl Default for UserRules {
    fn default() -> Self {
        Self {
            name_max: NAME_MAX,
            email_max: EMAIL_MAX,
            phone_max: PHONE_MAX,
            job_title_max: NAME_MAX,
            username_extra_chars: None,
            username_forbidden_chars: None,
            required: &[],
        }
    }
}

pub fn is_valid_email(email: &str) -> bool {
    email_address::EmailAddress::parse_with_options(
        email,
        email_address::Options::default().without_display_text(),
    )
    .is_ok()
}

/// How many users a search (`UserQuery::q`, by prefix or substring) may
/// match for a store to read them all through its index and page them by
/// `seq`; past it, walking users in `seq` order finds a page of matches
/// sooner (measured in docs/PERFORMANCE.md). Both stores use this one
/// number.
pub const SEARCH_CANDIDATES: usize = 4_000;

/// The key that makes usernames unique case-insensitively.
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// Parsed from a create request by a face; all optional so that missing
/// required fields come back as field errors, not parse errors.
#[derive(Debug, Default, Clone)]
pub struct CreateUser {
    pub profile: UserDraft,
    pub password: Option<crate::Secret>,
    /// Present when the face knows a request is a retry of an earlier one.
    pub idempotency: Option<IdempotencyKey>,
    /// Home container; the caller's own when absent.
    pub container_id: Option<uuid::Uuid>,
    /// Groups the user joins, in the same transaction.
    pub groups: Vec<crate::access::GroupRef>,
    /// Roles granted to the user, in the same transaction.
    pub roles: Vec<RoleGrant>,
    /// Further containers the user belongs to besides its home (D3's
    /// `siteIds`). Membership confers no privilege and does not move who
    /// manages the user: that follows the home container alone.
    pub sites: Vec<uuid::Uuid>,
    /// A face's stricter minimum password length (AttackForge: 15).
    pub min_password_length: Option<usize>,
    /// A face's field limits; the general ones when absent.
    pub rules: Option<UserRules>,
}

/// A role to grant, over every object or some containers.
#[derive(Debug, Clone)]
pub struct RoleGrant {
    pub role: crate::access::RoleRef,
    pub all_objects: bool,
    pub containers: Vec<uuid::Uuid>,
}

#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    /// Hash of the canonical request, so a reused key with another body is detected.
    pub request_hash: String,
}

/// A field in a merge patch: left alone, cleared, or set.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    fn apply_opt(self, target: &mut Option<T>) {
        match self {
            Patch::Keep => {}
            Patch::Clear => *target = None,
            Patch::Set(v) => *target = Some(v),
        }
    }
}

/// A partial update (RFC 7396 semantics): absent fields stay, null clears.
#[derive(Debug, Default, Clone)]
pub struct UserPatch {
    pub username: Patch<String>,
    pub email: Patch<String>,
    pub first_name: Patch<String>,
    pub last_name: Patch<String>,
    pub display_name: Patch<String>,
    pub phone: Patch<String>,
    pub job_title: Patch<String>,
    pub timezone: Patch<String>,
    pub locale: Patch<String>,
    pub active: Patch<bool>,
    pub mfa_required: Patch<bool>,
    pub saml_sso_only: Patch<bool>,
    pub security_level: Patch<i64>,
    pub distinguished_name: Patch<String>,
    pub external_id: Patch<String>,
    /// Merged key by key; a null value removes that key.
    pub attributes: Patch<Map<String, Value>>,
    pub password: Patch<crate::Secret>,
}

impl UserPatch {
    /// Names of the fields this patch touches, for the audit trail.
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        macro_rules! touched {
            ($($f:ident),*) => {
                $(if self.$f != Patch::Keep { out.push(stringify!($f)); })*
            };
        }
        touched!(
            username,
            email,
            first_name,
            last_name,
            display_name,
            phone,
            job_title,
            timezone,
            locale,
            active,
            mfa_required,
            saml_sso_only,
            security_level,
            distinguished_name,
            external_id,
            attributes,
            password
        );
        out
    }

    /// Applies the profile part of the patch; the password is handled by the
    /// service because it needs hashing.
    pub fn apply(self, draft: &mut UserDraft) -> Result<(), Vec<FieldError>> {
        let mut e = Errors::default();
        match self.username {
            Patch::Keep => {}
            Patch::Clear => e.push("username", "required", "must not be null"),
            Patch::Set(v) => draft.username = v,
        }
        for (field, patch, target) in [
            ("active", self.active, &mut draft.active),
            ("mfa_required", self.mfa_required, &mut draft.mfa_required),
            (
                "saml_sso_only",
                self.saml_sso_only,
                &mut draft.saml_sso_only,
            ),
        ] {
            match patch {
                Patch::Keep => {}
                Patch::Clear => e.push(field, "required", "must be true or false, not null"),
                Patch::Set(v) => *target = v,
            }
        }
        self.email.apply_opt(&mut draft.email);
        self.first_name.apply_opt(&mut draft.first_name);
        self.last_name.apply_opt(&mut draft.last_name);
        self.display_name.apply_opt(&mut draft.display_name);
        self.phone.apply_opt(&mut draft.phone);
        self.job_title.apply_opt(&mut draft.job_title);
        self.timezone.apply_opt(&mut draft.timezone);
        self.locale.apply_opt(&mut draft.locale);
        self.security_level.apply_opt(&mut draft.security_level);
        self.distinguished_name
            .apply_opt(&mut draft.distinguished_name);
        self.external_id.apply_opt(&mut draft.external_id);
        match self.attributes {
            Patch::Keep => {}
            Patch::Clear => draft.attributes.clear(),
            Patch::Set(changes) => {
                for (k, v) in changes {
                    if v.is_null() {
                        draft.attributes.remove(&k);
                    } else {
                        draft.attributes.insert(k, v);
                    }
                }
            }
        }
        e.into_result()
    }
}

/// Which users a list returns, and where the page starts.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Exact match, case-insensitive.
    pub username: Option<String>,
    /// Exact match, case-insensitive.
    pub email: Option<String>,
    /// Prefix match over username, email, first, last and display name (case-insensitive).
    pub q: Option<String>,
    pub active: Option<bool>,
    /// Return users whose `seq` is greater than this (keyset pagination).
    pub after_seq: Option<i64>,
    pub limit: u32,
    /// Only users homed in this container or below it.
    pub container: Option<uuid::Uuid>,
    /// Only users homed in this container or below it, or belonging (as
    /// a further site) to a container in that subtree.
    pub site: Option<uuid::Uuid>,
    /// Only users holding this role directly.
    pub role: Option<uuid::Uuid>,
    /// Only the user with this integer id.
    pub seq: Option<i64>,
    /// Exact first name, case-insensitive.
    pub first_name: Option<String>,
    /// Exact last name, case-insensitive.
    pub last_name: Option<String>,
    /// `q` matches anywhere in the text, not only at the start.
    pub q_contains: bool,
    /// Include soft-deleted users (left out by default).
    pub include_deleted: bool,
    /// Offset paging (for faces that need it) instead of `after_seq`.
    pub offset: Option<u64>,
    /// Order for offset paging; `seq` breaks ties. `true` = descending.
    pub sort: Vec<(UserSort, bool)>,
    /// A structured filter (SCIM's `filter`), besides the fields above.
    pub filter: Option<crate::user_filter::UserFilter>,
}

/// Sort keys for offset-paged lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSort {
    Seq,
    Username,
    FirstName,
    LastName,
    Email,
    CreatedAt,
}

pub const LIST_DEFAULT_LIMIT: u32 = 50;
pub const LIST_MAX_LIMIT: u32 = 1000;

/// One page of a keyset-paginated list.
pub struct Page<T> {
    pub items: Vec<T>,
    /// The `seq` to continue from, when more items follow.
    pub next: Option<i64>,
    /// Items on this page the caller may not see (group members outside
    /// the caller's reach): counted, never described.
    pub hidden: u64,
}

impl<T> Page<T> {
    /// Stores fetch one row more than asked: its presence says another page
    /// follows, and it is dropped here.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize, seq: impl Fn(&T) -> i64) -> Self {
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(seq)
        } else {
            None
        };
        Page {
            items,
            next,
            hidden: 0,
        }
    }
}

/// A validated user ready to be written.
#[derive(Debug, Clone)]
pub struct NewUserRecord {
    pub id: Uuid,
    pub profile: UserDraft,
    pub password_hash: Option<String>,
    pub container_id: Uuid,
    pub now: OffsetDateTime,
}

/// Ties a create to the idempotency key it was sent with, written in the
/// same transaction as the user.
#[derive(Debug, Clone)]
pub struct IdempotencyWrite {
    /// Keys are per caller: two callers may use the same key independently.
    pub scope: Uuid,
    pub key: String,
    pub request_hash: String,
}

pub enum Inserted {
    Created(User),
    /// The key was used before with the same request: the first result.
    Replayed(User),
    /// The key was used before with a different request.
    Mismatch,
}

/// The stored result of an earlier request with an idempotency key.
pub struct IdempotencyHit {
    pub request_hash: String,
    pub user: User,
}

/// A user together with the secret material only the core may see.
pub struct LoginRecord {
    pub user: User,
    pub password_hash: Option<String>,
    pub locked_until: Option<OffsetDateTime>,
    pub totp_secret: Option<String>,
}

/// Memberships and grants written with a new user, in its transaction.
#[derive(Debug, Clone, Default)]
pub struct NewUserAccess {
    pub groups: Vec<Uuid>,
    /// Containers the user belongs to besides its home.
    pub sites: Vec<Uuid>,
    /// (role, all objects, containers)
    pub assignments: Vec<(Uuid, bool, Vec<Uuid>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(username: &str) -> UserDraft {
        UserDraft {
            username: username.into(),
            active: true,
            ..Default::default()
        }
    }

    #[test]
    fn username_rules() {
        assert!(draft("alice").validate().is_ok());
        assert!(draft("jill.valentine").validate().is_ok());
        assert!(draft("john.citizen@example.com").validate().is_ok());
        let rules = |u: &str| -> Vec<&'static str> {
            draft(u)
                .validate()
                .unwrap_err()
                .into_iter()
                .map(|e| e.rule)
                .collect()
        };
        assert_eq!(rules(""), vec!["required"]);
        assert_eq!(rules("a\u{0}b"), vec!["no_control_characters"]);
        assert_eq!(rules(" bob"), vec!["no_surrounding_whitespace"]);
        assert_eq!(rules(&"x".repeat(256)), vec!["max_length"]);
        assert!(draft(&"é".repeat(255)).validate().is_ok());
        for bad in [
            "a b", "a\"b", "a'b", "a<b", "a>b", "a&b", "a;b", "a/b", "a\\b", "a,b", "a=b", "a+b",
            "a#b", "a`b",
        ] {
            assert_eq!(rules(bad), vec!["charset"], "{bad}");
        }
        // A face with an alphabet of its own (DigiCert's allows `+`).
        let digicert = UserRules {
            username_extra_chars: Some("@-_+."),
            ..UserRules::default()
        };
        assert!(draft("a+b@example.com").validate_with(&digicert).is_ok());
        // A kept username is not held to a newer alphabet.
        assert!(
            draft("a b")
                .validate_update(&UserRules::default(), false)
                .is_ok()
        );
    }

    #[test]
    fn email_rules() {
        let mut d = draft("a");
        d.email = Some("jill.valentine@pd.racoon-city.gov".into());
        assert!(d.validate().is_ok());
        d.email = Some("not-an-email".into());
        let errs = d.validate().unwrap_err();
        assert_eq!((errs[0].field.as_str(), errs[0].rule), ("email", "email"));
    }

    #[test]
    fn patch_merges_attributes_and_clears() {
        let mut d = draft("a");
        d.first_name = Some("A".into());
        d.attributes.insert("k1".into(), Value::from(1));
        d.attributes.insert("k2".into(), Value::from(2));
        let mut changes = Map::new();
        changes.insert("k1".into(), Value::Null);
        changes.insert("k3".into(), Value::from("x"));
        let p = UserPatch {
            first_name: Patch::Clear,
            attributes: Patch::Set(changes),
            ..Default::default()
        };
        p.apply(&mut d).unwrap();
        assert_eq!(d.first_name, None);
        assert_eq!(
            serde_json::to_value(&d.attributes).unwrap(),
            serde_json::json!({"k2": 2, "k3": "x"})
        );
    }

    #[test]
    fn patch_rejects_null_username() {
        let mut d = draft("a");
        let p = UserPatch {
            username: Patch::Clear,
            ..Default::default()
        };
        assert_eq!(p.apply(&mut d).unwrap_err()[0].field, "username");
    }
}
