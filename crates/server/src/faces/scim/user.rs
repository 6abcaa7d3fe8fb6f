//! The User resource: roster's user as SCIM JSON, and SCIM JSON back into
//! roster's user fields.
//!
//! Writes go through one document: POST parses the body, PUT merges the
//! body over the current representation, PATCH applies its operations to
//! the current representation; each result is parsed here into a
//! [`UserDraft`] and the difference becomes one core call.
//!
//! Where things live: `emails`/`phoneNumbers` are roster's one email and
//! phone (type `work`); the Enterprise extension's `employeeNumber`,
//! `costCenter`, `organization`, `division` and `department` are the
//! user's custom attributes `scim_employee_number`, `scim_cost_center`,
//! `scim_organization`, `scim_division` and `scim_department` (text);
//! every other custom attribute is listed in the roster extension's
//! `attributes` as `{name, value}`. `manager` has no place in roster and
//! is not published.

use roster_core::Secret;
use roster_core::access::Membership;
use roster_core::user::{Patch, User, UserDraft, UserPatch};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{ScimError, ScimResult};
use super::schema::{ENTERPRISE_URN, ROSTER_URN, USER_URN};

/// Enterprise attributes and the custom attribute each is kept in.
pub const ENTERPRISE_KEYS: &[(&str, &str)] = &[
    ("employeeNumber", "scim_employee_number"),
    ("costCenter", "scim_cost_center"),
    ("organization", "scim_organization"),
    ("division", "scim_division"),
    ("department", "scim_department"),
];

pub fn is_reserved_key(key: &str) -> bool {
    ENTERPRISE_KEYS.iter().any(|(_, k)| *k == key)
}

pub fn time_text(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub fn version_tag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// The full representation (every attribute, before projection).
pub fn full(user: &User, groups: Option<&[Membership]>, base: &str) -> Value {
    let p = &user.profile;
    let mut doc = Map::new();
    doc.insert(
        "schemas".into(),
        json!([USER_URN, ENTERPRISE_URN, ROSTER_URN]),
    );
    doc.insert("id".into(), json!(user.id.to_string()));
    if let Some(x) = &p.external_id {
        doc.insert("externalId".into(), json!(x));
    }
    doc.insert("userName".into(), json!(p.username));
    let mut name = Map::new();
    if let Some(g) = &p.first_name {
        name.insert("givenName".into(), json!(g));
    }
    if let Some(f) = &p.last_name {
        name.insert("familyName".into(), json!(f));
    }
    if !name.is_empty() {
        let formatted = [p.first_name.as_deref(), p.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        name.insert("formatted".into(), json!(formatted));
        doc.insert("name".into(), Value::Object(name));
    }
    let put = |doc: &mut Map<String, Value>, key: &str, v: &Option<String>| {
        if let Some(v) = v {
            doc.insert(key.into(), json!(v));
        }
    };
    put(&mut doc, "displayName", &p.display_name);
    if let Some(e) = p.email.as_deref().filter(|e| !e.is_empty()) {
        doc.insert(
            "emails".into(),
            json!([{ "value": e, "type": "work", "primary": true }]),
        );
    }
    if let Some(ph) = p.phone.as_deref().filter(|e| !e.is_empty()) {
        doc.insert(
            "phoneNumbers".into(),
            json!([{ "value": ph, "type": "work", "primary": true }]),
        );
    }
    put(&mut doc, "title", &p.job_title);
    put(&mut doc, "timezone", &p.timezone);
    put(&mut doc, "locale", &p.locale);
    doc.insert("active".into(), json!(p.active));
    if let Some(groups) = groups
        && !groups.is_empty()
    {
        doc.insert(
            "groups".into(),
            Value::Array(
                groups
                    .iter()
                    .map(|m| {
                        json!({
                            "value": m.group.id.to_string(),
                            "$ref": format!("{base}/Groups/{}", m.group.id),
                            "display": m.group.name,
                            "type": "direct",
                        })
                    })
                    .collect(),
            ),
        );
    }
    let mut enterprise = Map::new();
    for (name, key) in ENTERPRISE_KEYS {
        if let Some(v) = p.attributes.get(*key) {
            enterprise.insert((*name).into(), text_of(v));
        }
    }
    if !enterprise.is_empty() {
        doc.insert(ENTERPRISE_URN.into(), Value::Object(enterprise));
    }
    let mut roster = Map::new();
    roster.insert("seq".into(), json!(user.seq));
    roster.insert("containerId".into(), json!(user.container_id.to_string()));
    roster.insert("mfaRequired".into(), json!(p.mfa_required));
    roster.insert("mfaEnrolled".into(), json!(user.mfa_enrolled));
    roster.insert("locked".into(), json!(user.locked));
    roster.insert("emailVerified".into(), json!(user.email_verified));
    roster.insert("samlSsoOnly".into(), json!(p.saml_sso_only));
    if let Some(l) = p.security_level {
        roster.insert("securityLevel".into(), json!(l));
    }
    if let Some(dn) = &p.distinguished_name {
        roster.insert("distinguishedName".into(), json!(dn));
    }
    if let Some(t) = user.last_login_at {
        roster.insert("lastLoginAt".into(), json!(time_text(t)));
    }
    let custom: Vec<Value> = p
        .attributes
        .iter()
        .filter(|(k, _)| !is_reserved_key(k))
        .map(|(k, v)| json!({ "name": k, "value": text_of(v) }))
        .collect();
    if !custom.is_empty() {
        roster.insert("attributes".into(), Value::Array(custom));
    }
    doc.insert(ROSTER_URN.into(), Value::Object(roster));
    doc.insert(
        "meta".into(),
        json!({
            "resourceType": "User",
            "created": time_text(user.created_at),
            "lastModified": time_text(user.updated_at),
            "location": format!("{base}/Users/{}", user.id),
            "version": version_tag(user.version),
        }),
    );
    Value::Object(doc)
}

/// A custom attribute's value as SCIM text: strings as they are, other
/// JSON as its text.
fn text_of(v: &Value) -> Value {
    match v {
        Value::String(s) => json!(s),
        other => json!(other.to_string()),
    }
}

// ---- reading documents

/// A boolean as SCIM clients send it (Entra: `"True"`, `"False"`).
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

fn opt_string(doc: &Map<String, Value>, key: &str, label: &str) -> ScimResult<Option<String>> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{label} must be a string"
        ))),
    }
}

fn opt_bool(doc: &Map<String, Value>, key: &str, label: &str) -> ScimResult<Option<bool>> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_bool(v)
            .map(Some)
            .ok_or_else(|| ScimError::invalid_value(format!("{label} must be a boolean"))),
    }
}

fn object<'a>(
    doc: &'a Map<String, Value>,
    key: &str,
) -> ScimResult<Option<&'a Map<String, Value>>> {
    match doc.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(ScimError::invalid_value(format!("{key} must be an object"))),
    }
}

/// The one value roster keeps of a multi-valued attribute: the primary
/// element, else the first. More than one primary is refused.
fn single_value(doc: &Map<String, Value>, key: &str) -> ScimResult<Option<String>> {
    let items = match doc.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items.clone(),
        Some(v @ Value::Object(_)) => vec![v.clone()],
        Some(_) => {
            return Err(ScimError::invalid_value(format!(
                "{key} must be a list of objects"
            )));
        }
    };
    let mut primary = None;
    let mut first = None;
    for item in &items {
        let Value::Object(m) = item else {
            return Err(ScimError::invalid_value(format!(
                "{key} must be a list of objects"
            )));
        };
        let value = match m.get("value") {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(ScimError::invalid_value(format!(
                    "{key}.value must be a string"
                )));
            }
        };
        let is_primary = match m.get("primary") {
            None | Some(Value::Null) => false,
            Some(v) => as_bool(v).ok_or_else(|| {
                ScimError::invalid_value(format!("{key}.primary must be a boolean"))
            })?,
        };
        if is_primary {
            if primary.is_some() {
                return Err(ScimError::invalid_value(format!(
                    "{key}: at most one value may be primary"
                )));
            }
            primary = Some(value.clone());
        }
        if first.is_none() {
            first = Some(value);
        }
    }
    Ok(primary.or(first).filter(|v| !v.is_empty()))
}

/// Parses a complete (canonical) User document into roster's fields and
/// the password it sets, if any.
pub fn from_doc(doc: &Map<String, Value>) -> ScimResult<(UserDraft, Option<Secret>)> {
    let username = match doc.get("userName") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ScimError::invalid_value("userName is required"));
        }
        Some(_) => return Err(ScimError::invalid_value("userName must be a string")),
    };
    let name = object(doc, "name")?;
    let empty = Map::new();
    let name = name.unwrap_or(&empty);
    let mut d = UserDraft {
        username,
        external_id: opt_string(doc, "externalId", "externalId")?,
        first_name: opt_string(name, "givenName", "name.givenName")?,
        last_name: opt_string(name, "familyName", "name.familyName")?,
        display_name: opt_string(doc, "displayName", "displayName")?,
        email: single_value(doc, "emails")?,
        phone: single_value(doc, "phoneNumbers")?,
        job_title: opt_string(doc, "title", "title")?,
        timezone: opt_string(doc, "timezone", "timezone")?,
        locale: opt_string(doc, "locale", "locale")?,
        active: opt_bool(doc, "active", "active")?.unwrap_or(true),
        ..Default::default()
    };
    let password = match doc.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Secret::new(s.clone())),
        Some(_) => return Err(ScimError::invalid_value("password must be a string")),
    };
    if let Some(ent) = object(doc, ENTERPRISE_URN)? {
        for (name, key) in ENTERPRISE_KEYS {
            if let Some(v) = opt_string(ent, name, name)? {
                d.attributes.insert((*key).into(), json!(v));
            }
        }
    }
    if let Some(r) = object(doc, ROSTER_URN)? {
        d.mfa_required = opt_bool(r, "mfaRequired", "mfaRequired")?.unwrap_or(false);
        d.saml_sso_only = opt_bool(r, "samlSsoOnly", "samlSsoOnly")?.unwrap_or(false);
        d.security_level = match r.get("securityLevel") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_i64()
                    .ok_or_else(|| ScimError::invalid_value("securityLevel must be an integer"))?,
            ),
            Some(Value::String(s)) => Some(
                s.trim()
                    .parse()
                    .map_err(|_| ScimError::invalid_value("securityLevel must be an integer"))?,
            ),
            Some(_) => return Err(ScimError::invalid_value("securityLevel must be an integer")),
        };
        d.distinguished_name = opt_string(r, "distinguishedName", "distinguishedName")?;
        match r.get("attributes") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    let (Some(Value::String(k)), v) = (item.get("name"), item.get("value")) else {
                        return Err(ScimError::invalid_value(
                            "attributes: each item needs a name (string) and a value",
                        ));
                    };
                    if is_reserved_key(k) {
                        return Err(ScimError::invalid_value(format!(
                            "attributes: {k} is kept in the enterprise extension"
                        )));
                    }
                    let v = v.cloned().unwrap_or(Value::Null);
                    if !v.is_null() {
                        d.attributes.insert(k.clone(), v);
                    }
                }
            }
            Some(_) => return Err(ScimError::invalid_value("attributes must be a list")),
        }
    }
    Ok((d, password))
}

/// Custom attributes a new document keeps from the old one: a custom
/// value shown as JSON text and sent back unchanged stays the JSON value
/// it was (numbers, booleans), rather than becoming that text.
fn keep_typed(current: &Map<String, Value>, new: &mut Map<String, Value>) {
    for (k, v) in new.iter_mut() {
        if let Some(old) = current.get(k)
            && !old.is_string()
            && text_of(old) == *v
        {
            *v = old.clone();
        }
    }
}

/// The change from `current` to `new` as a core patch (only what differs).
pub fn diff(current: &UserDraft, mut new: UserDraft, password: Option<Secret>) -> UserPatch {
    fn text(old: &Option<String>, new: Option<String>) -> Patch<String> {
        if *old == new {
            Patch::Keep
        } else {
            match new {
                Some(v) => Patch::Set(v),
                None => Patch::Clear,
            }
        }
    }
    fn flag(old: bool, new: bool) -> Patch<bool> {
        if old == new {
            Patch::Keep
        } else {
            Patch::Set(new)
        }
    }
    keep_typed(&current.attributes, &mut new.attributes);
    let mut changes = Map::new();
    for k in current.attributes.keys() {
        if !new.attributes.contains_key(k) {
            changes.insert(k.clone(), Value::Null);
        }
    }
    for (k, v) in &new.attributes {
        if current.attributes.get(k) != Some(v) {
            changes.insert(k.clone(), v.clone());
        }
    }
    UserPatch {
        username: if current.username == new.username {
            Patch::Keep
        } else {
            Patch::Set(new.username)
        },
        email: text(&current.email, new.email),
        first_name: text(&current.first_name, new.first_name),
        last_name: text(&current.last_name, new.last_name),
        display_name: text(&current.display_name, new.display_name),
        phone: text(&current.phone, new.phone),
        job_title: text(&current.job_title, new.job_title),
        timezone: text(&current.timezone, new.timezone),
        locale: text(&current.locale, new.locale),
        active: flag(current.active, new.active),
        mfa_required: flag(current.mfa_required, new.mfa_required),
        saml_sso_only: flag(current.saml_sso_only, new.saml_sso_only),
        security_level: if current.security_level == new.security_level {
            Patch::Keep
        } else {
            match new.security_level {
                Some(v) => Patch::Set(v),
                None => Patch::Clear,
            }
        },
        distinguished_name: text(&current.distinguished_name, new.distinguished_name),
        external_id: text(&current.external_id, new.external_id),
        attributes: if changes.is_empty() {
            Patch::Keep
        } else {
            Patch::Set(changes)
        },
        password: match password {
            Some(p) => Patch::Set(p),
            None => Patch::Keep,
        },
    }
}

/// Whether a patch changes anything at all.
pub fn is_noop(p: &UserPatch) -> bool {
    p.changed_fields().is_empty()
}

/// PUT: the body replaces every writable attribute of the core schema and
/// the Enterprise extension (an omitted one is cleared, RFC 7644 §3.5.1);
/// the roster extension is replaced when the body has it and otherwise
/// kept, since roster's own settings are no provisioning client's to clear
/// by leaving them out.
pub fn merge_put(current: &Value, body: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    if let Value::Object(cur) = current
        && let Some(r) = cur.get(ROSTER_URN)
    {
        out.insert(ROSTER_URN.into(), r.clone());
    }
    for (k, v) in body {
        out.insert(k, v);
    }
    out
}

// ---- handlers (also called by Bulk)

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use roster_core::service::Ctx;
use roster_core::user::CreateUser;
use uuid::Uuid;

use super::schema::{Projection, USER, USER_TYPE};
use super::{Reply, ScimCaller, json_body, parse_id};
use crate::extract::{FaceBytes, Path};
use crate::state::AppState;

/// The `groups` attribute, when the projection shows it.
async fn groups_for(
    state: &AppState,
    ctx: &Ctx,
    user: &User,
    proj: &Projection,
) -> ScimResult<Option<Vec<Membership>>> {
    let groups_attr = USER.attr("groups").expect("groups is in the schema");
    if !proj.wants(None, groups_attr) {
        return Ok(None);
    }
    match state.roster.groups_of(ctx, user.id).await {
        Ok(g) => Ok(Some(g)),
        // Reading oneself needs no privilege; listing one's groups might.
        Err(roster_core::CoreError::Forbidden) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A user's representation under a projection.
pub async fn render(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    user: &User,
    proj: &Projection,
) -> ScimResult<Value> {
    let groups = groups_for(state, ctx, user, proj).await?;
    Ok(proj.apply(&USER_TYPE, &full(user, groups.as_deref(), base)))
}

async fn reply(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    user: User,
    status: StatusCode,
) -> ScimResult<Reply> {
    let body = render(state, ctx, base, &user, &Projection::default()).await?;
    Ok(Reply {
        status,
        body,
        version: Some(user.version),
        location: Some(format!("{base}/Users/{}", user.id)),
    })
}

pub async fn create_user(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    body: &Value,
) -> ScimResult<Reply> {
    let doc = super::patch::canonical_doc(&USER_TYPE, body)?;
    let (profile, password) = from_doc(&doc)?;
    let created = state
        .roster
        .create_user(
            ctx,
            CreateUser {
                profile,
                password,
                ..Default::default()
            },
        )
        .await?;
    reply(state, ctx, base, created.user, StatusCode::CREATED).await
}

pub async fn replace_user(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    id: Uuid,
    body: &Value,
    if_match: Option<i64>,
) -> ScimResult<Reply> {
    let current = state.roster.get_user(ctx, id).await?;
    if if_match.is_some_and(|v| v != current.version) {
        return Err(roster_core::CoreError::PreconditionFailed.into());
    }
    let body = super::patch::canonical_doc(&USER_TYPE, body)?;
    let merged = merge_put(&full(&current, None, base), body);
    write(state, ctx, base, current, &merged, if_match).await
}

pub async fn patch_user(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    id: Uuid,
    body: &Value,
    if_match: Option<i64>,
) -> ScimResult<Reply> {
    let ops = super::patch::parse_body(body)?;
    let current = state.roster.get_user(ctx, id).await?;
    if if_match.is_some_and(|v| v != current.version) {
        return Err(roster_core::CoreError::PreconditionFailed.into());
    }
    let Value::Object(mut doc) = full(&current, None, base) else {
        unreachable!("a user is an object");
    };
    super::patch::apply(&USER_TYPE, &mut doc, &ops)?;
    write(state, ctx, base, current, &doc, if_match).await
}

/// Writes the user a document describes: the difference from `current`,
/// in one core call.
async fn write(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    current: User,
    doc: &Map<String, Value>,
    if_match: Option<i64>,
) -> ScimResult<Reply> {
    let (draft, password) = from_doc(doc)?;
    let change = diff(&current.profile, draft, password);
    let user = if is_noop(&change) {
        current
    } else {
        state
            .roster
            .update_user(ctx, current.id, change, None, if_match)
            .await?
    };
    reply(state, ctx, base, user, StatusCode::OK).await
}

pub async fn get_user(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    id: Uuid,
    proj: &Projection,
) -> ScimResult<(User, Value)> {
    let user = state.roster.get_user(ctx, id).await?;
    let body = render(state, ctx, base, &user, proj).await?;
    Ok((user, body))
}

fn read_reply(headers: &HeaderMap, base: &str, user: User, body: Value) -> Response {
    if super::not_modified(headers, user.version) {
        return super::not_modified_response(user.version);
    }
    Reply {
        status: StatusCode::OK,
        body,
        version: Some(user.version),
        location: Some(format!("{base}/Users/{}", user.id)),
    }
    .into_response()
}

fn projection(uri: &Uri) -> ScimResult<Projection> {
    let p = super::list::query_params(uri)?;
    Ok(Projection::parse(
        &USER_TYPE,
        p.attributes.as_deref(),
        p.excluded_attributes.as_deref(),
    ))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "user")?;
    let (user, body) = get_user(&state, &s.ctx, &s.base, id, &projection(&uri)?).await?;
    Ok(read_reply(&headers, &s.base, user, body))
}

pub async fn get_me(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let id = s.ctx.who.user_id;
    let (user, body) = get_user(&state, &s.ctx, &s.base, id, &projection(&uri)?).await?;
    Ok(read_reply(&headers, &s.base, user, body))
}

pub async fn post(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    headers: HeaderMap,
    body: FaceBytes,
) -> Result<Response, ScimError> {
    let body = json_body(&headers, &body)?;
    Ok(create_user(&state, &s.ctx, &s.base, &body)
        .await?
        .into_response())
}

pub async fn put(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: FaceBytes,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "user")?;
    let body = json_body(&headers, &body)?;
    let m = super::if_match(&headers)?;
    Ok(replace_user(&state, &s.ctx, &s.base, id, &body, m)
        .await?
        .into_response())
}

pub async fn put_me(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    headers: HeaderMap,
    body: FaceBytes,
) -> Result<Response, ScimError> {
    let body = json_body(&headers, &body)?;
    let m = super::if_match(&headers)?;
    let id = s.ctx.who.user_id;
    Ok(replace_user(&state, &s.ctx, &s.base, id, &body, m)
        .await?
        .into_response())
}

pub async fn patch(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: FaceBytes,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "user")?;
    let body = json_body(&headers, &body)?;
    let m = super::if_match(&headers)?;
    Ok(patch_user(&state, &s.ctx, &s.base, id, &body, m)
        .await?
        .into_response())
}

pub async fn patch_me(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    headers: HeaderMap,
    body: FaceBytes,
) -> Result<Response, ScimError> {
    let body = json_body(&headers, &body)?;
    let m = super::if_match(&headers)?;
    let id = s.ctx.who.user_id;
    Ok(patch_user(&state, &s.ctx, &s.base, id, &body, m)
        .await?
        .into_response())
}

pub async fn delete_user(
    state: &AppState,
    ctx: &Ctx,
    id: Uuid,
    if_match: Option<i64>,
) -> ScimResult<()> {
    state.roster.delete_user(ctx, id, if_match).await?;
    Ok(())
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "user")?;
    let m = super::if_match(&headers)?;
    delete_user(&state, &s.ctx, id, m).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
