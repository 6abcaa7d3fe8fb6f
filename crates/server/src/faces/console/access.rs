//! On a user's page: granting a role over all objects or a container (the
//! scope pickers), revoking a direct assignment, and the user's API keys
//! (created with the secret shown once, revoked). The core decides who may
//! confer what where; its refusals are shown as they are.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::response::Response;
use minijinja::{Value, context};
use roster_core::access::{Assignment, Holder, Role, RoleRef};
use roster_core::service::NewKey;
use roster_core::{CoreError, FieldError};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, core_error, render};
use super::session::{Session, csrf_form};
use super::users::{Forms, user_page};
use crate::extract::Path;
use crate::state::AppState;

#[derive(Deserialize, serde::Serialize)]
pub struct Grant {
    #[serde(default, skip_serializing)]
    csrf: Option<String>,
    #[serde(default)]
    role_id: String,
    /// `all`, or a container id.
    #[serde(default)]
    scope: String,
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: Option<String>,
}

#[derive(Deserialize, serde::Serialize)]
pub struct CreateKey {
    #[serde(default, skip_serializing)]
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    /// A role restricting the key; none for the owner's full power.
    #[serde(default)]
    role_id: String,
    /// Days until it expires; none for a key that does not.
    #[serde(default)]
    expires_days: String,
}

csrf_form!(Grant, CsrfOnly, CreateKey);

/// A grant's scope as people read it: container names (ids for those the
/// caller cannot read), or all objects.
pub fn scope_text(names: &HashMap<Uuid, String>, all: bool, containers: &[Uuid]) -> String {
    if all {
        return "all objects".to_string();
    }
    containers
        .iter()
        .map(|c| names.get(c).cloned().unwrap_or_else(|| c.to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A holder's direct assignments, for the assignments table.
pub fn assignment_rows(list: &[Assignment], names: &HashMap<Uuid, String>) -> Vec<Value> {
    list.iter()
        .map(|a| {
            context! {
                id => a.id.to_string(),
                role => a.role_name,
                scope => scope_text(names, a.all_objects, &a.container_ids),
                since => page::when(a.created_at),
            }
        })
        .collect()
}

/// The grant form's role choices.
pub fn role_options(roles: &[Role]) -> Vec<Value> {
    roles
        .iter()
        .map(|r| context! { id => r.id.to_string(), name => r.name })
        .collect()
}

/// A form's uuid field, or the message next to it.
fn uuid_field(field: &str, v: &str, message: &str) -> Result<Uuid, FieldError> {
    Uuid::parse_str(v.trim()).map_err(|_| FieldError::new(field, "required", message))
}

impl Grant {
    /// The role and scope chosen, or the messages next to their fields.
    fn parse(&self) -> Result<(Uuid, bool, Vec<Uuid>), CoreError> {
        let role = uuid_field("role_id", &self.role_id, "choose a role");
        let scope = match self.scope.trim() {
            "all" => Ok((true, Vec::new())),
            c => uuid_field("scope", c, "choose a container, or all objects")
                .map(|c| (false, vec![c])),
        };
        match (role, scope) {
            (Ok(r), Ok((all, cs))) => Ok((r, all, cs)),
            (r, s) => Err(CoreError::Invalid(
                [r.err(), s.err()].into_iter().flatten().collect(),
            )),
        }
    }
}

/// The core names scope errors by its own fields; the form has `scope`.
fn on_form(fields: Vec<FieldError>) -> Vec<FieldError> {
    fields
        .into_iter()
        .map(|f| match f.field.as_str() {
            "container_ids" | "all_objects" | "containers" => FieldError {
                field: "scope".into(),
                ..f
            },
            "role" | "role_seq" => FieldError {
                field: "role_id".into(),
                ..f
            },
            _ => f,
        })
        .collect()
}

/// `POST /console/users/{id}/roles`: grants the chosen role over the
/// chosen scope.
pub async fn grant(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<Grant>, FormRejection>,
) -> Response {
    let f = match s.accept(form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let result = match f.parse() {
        Ok((role, all, containers)) => state
            .roster
            .assign_role(&s.ctx, Holder::User(id), RoleRef::Id(role), all, containers)
            .await
            .map(|a| a.role_name),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => super::see_other(&format!("/console/users/{id}?done=granted")),
        Err(CoreError::Invalid(fields)) => {
            let forms = Forms::failed("grant", Value::from_serialize(&f), &on_form(fields));
            user_page(&state, &s, id, 400, forms).await
        }
        Err(e) => core_error(e, Some("grant this role to this user there"), Some(&s)),
    }
}

/// `POST /console/users/{id}/roles/{assignment}/revoke`.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path((id, assignment)): Path<(Uuid, Uuid)>,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    revoke_from(&state, s, form, Holder::User(id), assignment, &format!("/console/users/{id}")).await
}

/// `POST /console/groups/{id}/roles`: grants the chosen role to the group
/// (so to its members) over the chosen scope.
pub async fn grant_group(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<Grant>, FormRejection>,
) -> Response {
    let f = match s.accept(form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let result = match f.parse() {
        Ok((role, all, containers)) => state
            .roster
            .assign_role(&s.ctx, Holder::Group(id), RoleRef::Id(role), all, containers)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => super::see_other(&format!("/console/groups/{id}?done=granted")),
        Err(CoreError::Invalid(fields)) => {
            let forms = Forms::failed("grant", Value::from_serialize(&f), &on_form(fields));
            super::groups::group_page(&state, &s, id, 400, forms).await
        }
        Err(e) => core_error(e, Some("grant this role to this group there"), Some(&s)),
    }
}

/// `POST /console/groups/{id}/roles/{assignment}/revoke`.
pub async fn revoke_group(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path((id, assignment)): Path<(Uuid, Uuid)>,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    revoke_from(&state, s, form, Holder::Group(id), assignment, &format!("/console/groups/{id}")).await
}

/// Revokes one of a holder's assignments, then back to the holder's page.
async fn revoke_from(
    state: &AppState,
    s: Session,
    form: Result<Form<CsrfOnly>, FormRejection>,
    holder: Holder,
    assignment: Uuid,
    page: &str,
) -> Response {
    if let Err(refused) = s.accept(form) {
        return *refused;
    }
    match state.roster.unassign_role(&s.ctx, holder, assignment).await {
        Ok(()) => super::see_other(&format!("{page}?done=revoked")),
        Err(e) => core_error(e, Some("revoke this role assignment"), Some(&s)),
    }
}

impl CreateKey {
    fn parse(&self, owner: Uuid) -> Result<NewKey, CoreError> {
        let mut errors = Vec::new();
        let role_id = match self.role_id.trim() {
            "" => None,
            r => match uuid_field("role_id", r, "choose a role from the list") {
                Ok(r) => Some(r),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
        };
        let expires_at = match self.expires_days.trim() {
            "" => None,
            d => match d.parse::<i64>() {
                Ok(d) if (1..=3650).contains(&d) => {
                    Some(time::OffsetDateTime::now_utc() + time::Duration::days(d))
                }
                _ => {
                    errors.push(FieldError::new(
                        "expires_days",
                        "range",
                        "a whole number of days from 1 to 3650, or empty for no expiry",
                    ));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        Ok(NewKey {
            name: self.name.trim().to_string(),
            user_id: Some(owner),
            role_id,
            expires_at,
        })
    }
}

/// `POST /console/users/{id}/keys`: the answer is the one page that ever
/// shows the secret (not a redirect, so it is nowhere to be fetched again;
/// every console page is `no-store`).
pub async fn create_key(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<CreateKey>, FormRejection>,
) -> Response {
    let f = match s.accept(form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let result = match f.parse(id) {
        Ok(input) => state.roster.create_key(&s.ctx, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((info, secret)) => render(
            201,
            "key.html",
            Some(&s),
            context! {
                title => "API key created",
                section => "users",
                user_id => id.to_string(),
                key => context! { name => info.name, prefix => info.prefix },
                secret => secret.expose(),
            },
        ),
        Err(CoreError::Invalid(fields)) => {
            let forms = Forms::failed("key", Value::from_serialize(&f), &fields);
            user_page(&state, &s, id, 400, forms).await
        }
        Err(e) => core_error(e, Some("create API keys for this user"), Some(&s)),
    }
}

/// `POST /console/users/{id}/keys/{key}/revoke`.
pub async fn revoke_key(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path((id, key)): Path<(Uuid, Uuid)>,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    if let Err(refused) = s.accept(form) {
        return *refused;
    }
    // The key must be this user's: the page's path names the owner.
    match state.roster.get_key(&s.ctx, key).await {
        Ok(k) if k.user_id == id => {}
        Ok(_) => return core_error(CoreError::NotFound("key"), None, Some(&s)),
        Err(e) => return core_error(e, Some("revoke this key"), Some(&s)),
    }
    match state.roster.revoke_key(&s.ctx, key).await {
        Ok(()) => super::see_other(&format!("/console/users/{id}?done=key-revoked")),
        Err(e) => core_error(e, Some("revoke this key"), Some(&s)),
    }
}
