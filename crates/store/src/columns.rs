//! Column lists both backends select in the same order, so that each
//! backend's row mappers read the same positions.

/// Every query selecting users names the table `u`, so joins can reuse this.
/// A macro as well as a constant, so that the statements read on every
/// request can be built with `concat!` at compile time instead of a
/// `format!` per call.
macro_rules! user_columns {
    () => {
        "u.seq, u.id, u.username, u.email, u.first_name, u.last_name, \
    u.display_name, u.phone, u.job_title, u.timezone, u.locale, u.active, u.locked_until, \
    u.mfa_required, u.totp_secret IS NOT NULL, u.saml_sso_only, u.security_level, u.distinguished_name, \
    u.external_id, u.attributes, u.password_hash IS NOT NULL, u.container_id, u.created_at, \
    u.updated_at, u.last_login_at, u.version, u.credential_epoch, u.deleted_at, u.email_verified"
    };
}
pub(crate) use user_columns;

pub const USER_COLUMNS: &str = user_columns!();

/// Columns after `USER_COLUMNS` start at this index.
pub const USER_COLUMN_COUNT: usize = 29;

/// API keys, named `k`.
pub const KEY_COLUMNS: &str = "k.id, k.user_id, k.name, k.prefix, k.role_id, k.created_at, k.expires_at, \
    k.revoked_at, k.last_used_at, k.hash, k.privileges";

/// The audit log, in chain-hash order of fields.
pub const AUDIT_COLUMNS: &str = "seq, id, at, actor_id, actor, action, target_kind, target_id, container_id, \
    outcome, request_id, source, details, prev_hash, hash";

use roster_core::user_filter::UserField;

/// The column a user filter reads for a fixed field (custom attributes are
/// read from `u.attributes` by each backend). Username and email name their
/// stored lower-case keys: case-insensitive comparisons then use the
/// indexed columns, with the value folded the same way in Rust. This match
/// is the only way a column name enters a filter's SQL.
pub(crate) fn user_filter_column(field: &UserField) -> Option<&'static str> {
    use UserField::*;
    Some(match field {
        Id => "u.id",
        Seq => "u.seq",
        Username => "u.username_key",
        Email => "u.email_key",
        FirstName => "u.first_name",
        LastName => "u.last_name",
        DisplayName => "u.display_name",
        Phone => "u.phone",
        JobTitle => "u.job_title",
        Timezone => "u.timezone",
        Locale => "u.locale",
        ExternalId => "u.external_id",
        DistinguishedName => "u.distinguished_name",
        Active => "u.active",
        MfaRequired => "u.mfa_required",
        SamlSsoOnly => "u.saml_sso_only",
        EmailVerified => "u.email_verified",
        SecurityLevel => "u.security_level",
        ContainerId => "u.container_id",
        CreatedAt => "u.created_at",
        UpdatedAt => "u.updated_at",
        LastLoginAt => "u.last_login_at",
        Attribute(_) => return None,
    })
}
