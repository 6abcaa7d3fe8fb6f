//! The roles pages: every role with its privileges, creating a custom role,
//! and changing a custom role's privileges on the version shown (built-in
//! roles are shown without edit controls; the core refuses changing them).

use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use roster_core::access::{Role, RoleRef};
use roster_core::authz::Privilege;
use roster_core::service::RoleInput;
use roster_core::{CoreError, FieldError};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, core_error, render};
use super::session::{CsrfForm, Session};
use crate::extract::Path;
use crate::state::AppState;

/// A role form as sent. Checkboxes repeat their name, which a struct
/// cannot take from `application/x-www-form-urlencoded`: read as pairs.
#[derive(Default, serde::Serialize)]
pub struct RoleForm {
    #[serde(skip)]
    csrf: Option<String>,
    name: String,
    description: String,
    privileges: Vec<String>,
    #[serde(skip)]
    version: Option<String>,
}

impl RoleForm {
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut f = RoleForm::default();
        for (k, v) in pairs {
            match k.as_str() {
                "csrf" => f.csrf = Some(v),
                "name" => f.name = v,
                "description" => f.description = v,
                "privileges" => f.privileges.push(v),
                "version" => f.version = Some(v),
                _ => {}
            }
        }
        f
    }

    fn input(&self) -> RoleInput {
        RoleInput {
            name: self.name.trim().to_string(),
            description: self.description.trim().to_string(),
            privileges: self.privileges.clone(),
            seq: None,
        }
    }
}

impl CsrfForm for RoleForm {
    fn csrf(&self) -> Option<&str> {
        self.csrf.as_deref()
    }
}

/// The form, CSRF-checked, or the page that refuses it.
fn accept(
    s: &Session,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<RoleForm, Box<Response>> {
    s.accept(form.map(|Form(pairs)| Form(RoleForm::from_pairs(pairs))))
}

/// Every privilege, with whether `held` has it, for the checkboxes.
fn catalogue(held: &[String]) -> Vec<Value> {
    Privilege::ALL
        .into_iter()
        .map(|p| {
            context! {
                name => p.as_str(),
                description => p.description(),
                checked => held.iter().any(|h| h == p.as_str()),
            }
        })
        .collect()
}

fn names(r: &Role) -> Vec<String> {
    r.privileges.iter().map(|p| p.as_str().to_string()).collect()
}

fn summary(r: &Role) -> Value {
    context! {
        id => r.id.to_string(),
        seq => r.seq,
        name => r.name,
        description => r.description,
        privileges => names(r),
        builtin => r.system,
        version => r.version,
    }
}

/// Privilege errors come back per list index; they belong to the list.
fn by_field(fields: &[FieldError]) -> Value {
    let fields: Vec<FieldError> = fields
        .iter()
        .map(|f| FieldError {
            field: if f.field.starts_with("privileges") {
                "privileges".into()
            } else {
                f.field.clone()
            },
            ..f.clone()
        })
        .collect();
    page::by_field(&fields)
}

async fn list_page(
    state: &AppState,
    s: &Session,
    status: u16,
    new: RoleForm,
    errors: Option<Value>,
    notice: Option<&str>,
) -> Response {
    match state.roster.list_roles(&s.ctx).await {
        Ok(roles) => render(
            status,
            "roles.html",
            Some(s),
            context! {
                title => "Roles",
                section => "roles",
                roles => roles.iter().map(summary).collect::<Vec<_>>(),
                privileges => catalogue(&new.privileges),
                new => Value::from_serialize(&new),
                errors,
                notice,
            },
        ),
        Err(e) => core_error(e, Some("see roles"), Some(s)),
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    deleted: Option<String>,
}

/// `GET /console/roles?deleted=`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    s: Session,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let deleted = q.ok().and_then(|Query(q)| q.deleted).is_some();
    let notice = deleted.then_some("The role was deleted.");
    list_page(&state, &s, 200, RoleForm::default(), None, notice).await
}

/// `POST /console/roles`: a custom role.
pub async fn create(
    State(state): State<Arc<AppState>>,
    s: Session,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let f = match accept(&s, form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    match state.roster.create_role(&s.ctx, f.input()).await {
        Ok(r) => super::see_other(&format!("/console/roles/{}", r.id)),
        Err(CoreError::Invalid(fields)) => {
            let errors = by_field(&fields);
            list_page(&state, &s, 400, f, Some(errors), None).await
        }
        Err(CoreError::Conflict(field)) => {
            let errors = by_field(&[field]);
            list_page(&state, &s, 409, f, Some(errors), None).await
        }
        Err(e) => core_error(e, Some("create roles"), Some(&s)),
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// A role's page; a custom role's with `form` (as typed) and its errors.
async fn role_page(
    state: &AppState,
    s: &Session,
    id: Uuid,
    status: u16,
    form: Option<RoleForm>,
    errors: Option<Value>,
    notice: Option<&str>,
) -> Response {
    let r = match state.roster.get_role(&s.ctx, RoleRef::Id(id)).await {
        Ok(r) => r,
        Err(e) => return core_error(e, Some("see this role"), Some(s)),
    };
    let form = form.unwrap_or_else(|| RoleForm {
        name: r.name.clone(),
        description: r.description.clone(),
        privileges: names(&r),
        ..RoleForm::default()
    });
    render(
        status,
        "role.html",
        Some(s),
        context! {
            title => format!("Role {}", r.name),
            section => "roles",
            role => summary(&r),
            privileges => catalogue(&form.privileges),
            form => Value::from_serialize(&form),
            errors,
            notice,
        },
    )
}

/// `GET /console/roles/{id}`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    q: Result<Query<ShowQuery>, QueryRejection>,
) -> Response {
    let saved = q.ok().and_then(|Query(q)| q.saved).is_some();
    let notice = saved.then_some("Saved.");
    role_page(&state, &s, id, 200, None, None, notice).await
}

/// `POST /console/roles/{id}`: a custom role's name, description and
/// privileges, on the version the page showed (412 when someone else
/// changed it meanwhile).
pub async fn update(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let f = match accept(&s, form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let version = match f.version.as_deref().map(str::parse::<i64>) {
        Some(Ok(v)) => Some(v),
        None => None,
        Some(Err(_)) => {
            return page::error_page(400, "Bad request", "The form could not be read.", None, Some(&s));
        }
    };
    match state.roster.update_role(&s.ctx, id, f.input(), version).await {
        Ok(_) => super::see_other(&format!("/console/roles/{id}?saved=1")),
        Err(CoreError::Invalid(fields)) => {
            let errors = by_field(&fields);
            role_page(&state, &s, id, 400, Some(f), Some(errors), None).await
        }
        Err(CoreError::Conflict(field)) if field.rule == "system" => page::error_page(
            409,
            "Built-in role",
            "Built-in roles cannot be changed. Create a custom role with the privileges you need instead.",
            None,
            Some(&s),
        ),
        Err(CoreError::Conflict(field)) => {
            let errors = by_field(&[field]);
            role_page(&state, &s, id, 409, Some(f), Some(errors), None).await
        }
        Err(e) => core_error(e, Some("change this role"), Some(&s)),
    }
}

#[derive(Deserialize)]
pub struct DeleteRole {
    #[serde(default)]
    csrf: Option<String>,
}

super::session::csrf_form!(DeleteRole);

/// `POST /console/roles/{id}/delete`: a custom role, taken from everyone
/// who holds it (the core checks the caller may take it from each).
pub async fn delete(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<DeleteRole>, FormRejection>,
) -> Response {
    if let Err(refused) = s.accept(form) {
        return *refused;
    }
    match state.roster.delete_role(&s.ctx, id).await {
        Ok(()) => super::see_other("/console/roles?deleted=1"),
        Err(CoreError::Conflict(FieldError { message, .. })) => {
            page::error_page(409, "Not deleted", &message, None, Some(&s))
        }
        Err(e) => core_error(e, Some("delete this role"), Some(&s)),
    }
}
