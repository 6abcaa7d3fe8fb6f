//! The groups pages: the list and create form, and a group's page with its
//! members (add by username, remove) and delete.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use roster_core::access::Holder;
use roster_core::service::{GroupInput, UserKey};
use roster_core::{CoreError, FieldError};
use serde::Deserialize;
use uuid::Uuid;

use super::access;
use super::page::{self, core_error, render};
use super::session::{Session, csrf_form};
use super::users::{Forms, url_encode};
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

#[derive(Deserialize, serde::Serialize)]
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

/// A group's page: its members (those the caller may not read are
/// counted, not shown), its role assignments with the grant form, and
/// `forms`' notice or failed form.
pub async fn group_page(
    state: &AppState,
    s: &Session,
    id: Uuid,
    status: u16,
    forms: Forms,
) -> Response {
    match group_page_parts(state, s, id, status, forms).await {
        Ok(resp) => resp,
        Err(e) => core_error(e, Some("see this group"), Some(s)),
    }
}

async fn group_page_parts(
    state: &AppState,
    s: &Session,
    id: Uuid,
    status: u16,
    forms: Forms,
) -> Result<Response, CoreError> {
    let g = state.roster.get_group(&s.ctx, id).await?;
    let mut members = Vec::new();
    let mut hidden = 0;
    let mut after = 0;
    loop {
        let p = state.roster.members(&s.ctx, id, after, 500).await?;
        hidden += p.hidden;
        members.extend(p.items.iter().map(|u| {
            context! { id => u.id.to_string(), username => u.profile.username, email => u.profile.email }
        }));
        match p.next {
            Some(n) => after = n,
            None => break,
        }
    }
    let containers = state.roster.list_containers(&s.ctx).await.unwrap_or_default();
    let names: HashMap<Uuid, String> = containers.iter().map(|c| (c.id, c.name.clone())).collect();
    let assignments = page::refused(
        state.roster.assignments_of(&s.ctx, Holder::Group(id)).await,
        "You may not see this group's role assignments.",
    )?
    .map(|list| access::assignment_rows(&list, &names));
    let roles = page::refused(
        state.roster.list_roles(&s.ctx).await,
        "You may not read roles, so you cannot grant them.",
    )?;
    Ok(render(
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
            assignments => assignments.as_ref().ok(),
            assignments_refused => assignments.err(),
            role_options => roles.as_ref().ok().map(|rs| access::role_options(rs)),
            roles_refused => roles.err(),
            containers => super::containers::tree_values(containers),
            notice => forms.notice,
            form => forms.form,
            values => forms.values,
            errors => forms.errors,
        },
    ))
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    done: Option<String>,
}

/// `GET /console/groups/{id}?done=`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    q: Result<Query<ShowQuery>, QueryRejection>,
) -> Response {
    let notice = match q.ok().and_then(|Query(q)| q.done).as_deref() {
        Some("granted") => Some("Role granted to the group."),
        Some("revoked") => Some("Role assignment revoked."),
        Some("added") => Some("Member added."),
        Some("removed") => Some("Member removed."),
        _ => None,
    };
    let forms = Forms {
        notice: notice.map(str::to_string),
        ..Forms::default()
    };
    group_page(&state, &s, id, 200, forms).await
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
        Ok(_) => super::see_other(&format!("/console/groups/{id}?done=added")),
        Err(CoreError::Invalid(fields)) => {
            let forms = Forms::failed("member", Value::from_serialize(&f), &fields);
            group_page(&state, &s, id, 400, forms).await
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
        Ok(()) => super::see_other(&format!("/console/groups/{id}?done=removed")),
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
