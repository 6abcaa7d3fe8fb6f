//! The groups pages: the list and create form, and a group's page with its
//! members (add by username, remove) and delete.

use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use roster_core::service::{GroupInput, UserKey};
use roster_core::{CoreError, FieldError};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, core_error, render};
use super::session::{Session, csrf_form};
use super::users::url_encode;
use crate::extract::Path;
use crate::state::AppState;

#[derive(Deserialize, Default, serde::Serialize)]
pub struct NewGroup {
    #[serde(default, skip_serializing)]
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize, Default, serde::Serialize)]
pub struct AddMember {
    #[serde(default, skip_serializing)]
    csrf: Option<String>,
    #[serde(default)]
    username: String,
}

#[derive(Deserialize)]
pub struct Versioned {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    version: Option<i64>,
}

csrf_form!(NewGroup, AddMember, Versioned);

async fn list_page(
    state: &AppState,
    s: &Session,
    status: u16,
    new: NewGroup,
    errors: Option<Value>,
    notice: Option<String>,
) -> Response {
    match state.roster.all_groups(&s.ctx).await {
        Ok(gs) => render(
            status,
            "groups.html",
            Some(s),
            context! {
                title => "Groups",
                section => "groups",
                groups => gs.iter().map(|g| context! {
                    id => g.id.to_string(), name => g.name, description => g.description,
                }).collect::<Vec<_>>(),
                new => Value::from_serialize(&new),
                errors,
                notice,
            },
        ),
        Err(e) => core_error(e, Some("see groups"), Some(s)),
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    deleted: Option<String>,
}

/// `GET /console/groups`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    s: Session,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let notice = q
        .ok()
        .and_then(|Query(q)| q.deleted)
        .map(|name| format!("Group {name} was deleted."));
    list_page(&state, &s, 200, NewGroup::default(), None, notice).await
}

/// `POST /console/groups`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    s: Session,
    form: Result<Form<NewGroup>, FormRejection>,
) -> Response {
    let new = match s.accept(form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let input = GroupInput {
        name: new.name.trim().to_string(),
        description: new.description.trim().to_string(),
        seq: None,
        attributes: Default::default(),
    };
    match state.roster.create_group(&s.ctx, input).await {
        Ok(g) => super::see_other(&format!("/console/groups/{}", g.id)),
        Err(CoreError::Invalid(f)) => {
            list_page(&state, &s, 400, new, Some(page::by_field(&f)), None).await
        }
        Err(CoreError::Conflict(f)) => {
            list_page(&state, &s, 409, new, Some(page::by_field(&[f])), None).await
        }
        Err(e) => core_error(e, Some("create groups"), Some(&s)),
    }
}

/// A group's page; `errors` belong to the add-member form.
async fn group_page(
    state: &AppState,
    s: &Session,
    id: Uuid,
    status: u16,
    add: AddMember,
    errors: Option<Value>,
) -> Response {
    let g = match state.roster.get_group(&s.ctx, id).await {
        Ok(g) => g,
        Err(e) => return core_error(e, Some("see this group"), Some(s)),
    };
    // Members the caller may not read are counted, not shown.
    let mut members = Vec::new();
    let mut hidden = 0;
    let mut after = 0;
    loop {
        match state.roster.members(&s.ctx, id, after, 500).await {
            Ok(p) => {
                hidden += p.hidden;
                members.extend(p.items.iter().map(|u| {
                    context! { id => u.id.to_string(), username => u.profile.username, email => u.profile.email }
                }));
                match p.next {
                    Some(n) => after = n,
                    None => break,
                }
            }
            Err(e) => return core_error(e, Some("see this group's members"), Some(s)),
        }
    }
    render(
        status,
        "group.html",
        Some(s),
        context! {
            title => format!("Group {}", g.name),
            section => "groups",
            group => context! {
                id => g.id.to_string(), seq => g.seq, name => g.name,
                description => g.description, version => g.version,
            },
            members,
            hidden,
            add => Value::from_serialize(&add),
            errors,
        },
    )
}

/// `GET /console/groups/{id}`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
) -> Response {
    group_page(&state, &s, id, 200, AddMember::default(), None).await
}

/// `POST /console/groups/{id}/members`: adds the user named in the form.
pub async fn add_member(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<AddMember>, FormRejection>,
) -> Response {
    let f = match s.accept(form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let username = f.username.trim().to_string();
    let found = if username.is_empty() {
        Err(CoreError::invalid("username", "required", "enter a username"))
    } else {
        // Beyond the caller's reach reads as no such user, as in any lookup.
        match state
            .roster
            .find_user(&s.ctx, UserKey::Username(username.clone()))
            .await
        {
            Err(CoreError::NotFound(_)) => Err(CoreError::invalid(
                "username",
                "exists",
                format!("no user named {username:?} that you may see"),
            )),
            other => other,
        }
    };
    let result = match found {
        Ok(u) => state.roster.add_member(&s.ctx, id, u.id, None).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => super::see_other(&format!("/console/groups/{id}")),
        Err(CoreError::Invalid(fields)) => {
            group_page(&state, &s, id, 400, f, Some(page::by_field(&fields))).await
        }
        Err(e) => core_error(e, Some("add members to this group"), Some(&s)),
    }
}

/// `POST /console/groups/{id}/members/{user}/remove`.
pub async fn remove_member(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path((id, user)): Path<(Uuid, Uuid)>,
    form: Result<Form<Versioned>, FormRejection>,
) -> Response {
    if let Err(refused) = s.accept(form) {
        return *refused;
    }
    match state.roster.remove_member(&s.ctx, id, user).await {
        Ok(()) => super::see_other(&format!("/console/groups/{id}")),
        Err(e) => core_error(e, Some("remove members from this group"), Some(&s)),
    }
}

/// `POST /console/groups/{id}/delete`, on the version the page showed.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<Versioned>, FormRejection>,
) -> Response {
    let f = match s.accept(form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let name = match state.roster.get_group(&s.ctx, id).await {
        Ok(g) => g.name,
        Err(e) => return core_error(e, Some("delete this group"), Some(&s)),
    };
    match state.roster.delete_group(&s.ctx, id, f.version).await {
        Ok(()) => super::see_other(&format!("/console/groups?deleted={}", url_encode(&name))),
        Err(CoreError::Conflict(FieldError { message, .. })) => page::error_page(
            409,
            "Not deleted",
            &message,
            None,
            Some(&s),
        ),
        Err(e) => core_error(e, Some("delete this group"), Some(&s)),
    }
}
