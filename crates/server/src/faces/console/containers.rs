//! The containers page: the tree the caller may read, create, and a
//! container's page to rename, move (the core refuses a cycle) and delete.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::response::Response;
use minijinja::{Value, context};
use roster_core::access::Container;
use roster_core::service::{ContainerChange, ContainerInput};
use roster_core::user::UserQuery;
use roster_core::{CoreError, FieldError};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, core_error, render};
use super::session::{Session, csrf_form};
use crate::extract::Path;
use crate::state::AppState;

/// Users listed on a container's page; the rest are a link away.
const USERS_SHOWN: u32 = 10;

/// Deeper levels are drawn at this indent, so a deep tree stays readable on
/// a narrow screen.
const MAX_INDENT: usize = 8;

/// The containers in tree order (parents before children, siblings by
/// name), each with its depth among those given. A container whose parent
/// the caller cannot see starts a tree of its own.
pub fn tree(containers: Vec<Container>) -> Vec<(Container, usize)> {
    let ids: std::collections::HashSet<Uuid> = containers.iter().map(|c| c.id).collect();
    let mut children: HashMap<Option<Uuid>, Vec<Container>> = HashMap::new();
    for c in containers {
        let parent = c.parent_id.filter(|p| ids.contains(p));
        children.entry(parent).or_default().push(c);
    }
    for list in children.values_mut() {
        list.sort_by_key(|c| c.name.to_lowercase());
    }
    let mut out = Vec::new();
    // Depth-first without recursion: a stack of (container, depth).
    let mut stack: Vec<(Container, usize)> = children
        .remove(&None)
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|c| (c, 0))
        .collect();
    while let Some((c, depth)) = stack.pop() {
        if let Some(kids) = children.remove(&Some(c.id)) {
            stack.extend(kids.into_iter().rev().map(|k| (k, depth + 1)));
        }
        out.push((c, depth));
    }
    out
}

/// The tree as the templates show it (lists and `<select>` options).
pub fn tree_values(containers: Vec<Container>) -> Vec<Value> {
    tree(containers)
        .into_iter()
        .map(|(c, depth)| {
            context! {
                id => c.id.to_string(),
                seq => c.seq,
                name => c.name,
                description => c.description,
                depth,
                indent => depth.min(MAX_INDENT),
                // For <option>s, which take no styling: non-breaking spaces.
                pad => "\u{a0}\u{a0}\u{a0}".repeat(depth),
            }
        })
        .collect()
}

/// Where a form's "parent" select points: a container id.
fn parent_of(v: &str) -> Result<Option<Uuid>, Vec<FieldError>> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(v).map(Some).map_err(|_| {
        vec![FieldError::new(
            "parent_id",
            "exists",
            "choose a container from the list",
        )]
    })
}

#[derive(Deserialize, Default, serde::Serialize)]
pub struct NewContainer {
    #[serde(default, skip_serializing)]
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parent_id: String,
}

#[derive(Deserialize)]
pub struct ChangeContainer {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    /// Present on the move form only.
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    version: Option<i64>,
}

#[derive(Deserialize)]
pub struct DeleteContainer {
    #[serde(default)]
    csrf: Option<String>,
}

csrf_form!(NewContainer, ChangeContainer, DeleteContainer);

async fn list_page(
    state: &AppState,
    s: &Session,
    status: u16,
    new: NewContainer,
    errors: Option<Value>,
) -> Response {
    match state.roster.list_containers(&s.ctx).await {
        Ok(cs) => render(
            status,
            "containers.html",
            Some(s),
            context! {
                title => "Containers",
                section => "containers",
                containers => tree_values(cs),
                new => Value::from_serialize(&new),
                errors,
            },
        ),
        Err(e) => core_error(e, Some("see containers"), Some(s)),
    }
}

/// `GET /console/containers`.
pub async fn list(State(state): State<Arc<AppState>>, s: Session) -> Response {
    list_page(&state, &s, 200, NewContainer::default(), None).await
}

/// `POST /console/containers`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    s: Session,
    form: Result<Form<NewContainer>, FormRejection>,
) -> Response {
    let new = match s.accept(form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let result = match parent_of(&new.parent_id) {
        Ok(parent_id) => {
            let input = ContainerInput {
                name: new.name.trim().to_string(),
                description: new.description.trim().to_string(),
                parent_id,
                seq: None,
            };
            state.roster.create_container(&s.ctx, input).await
        }
        Err(fields) => Err(CoreError::Invalid(fields)),
    };
    match result {
        Ok(c) => super::see_other(&format!("/console/containers/{}?created=1", c.id)),
        Err(CoreError::Invalid(f)) => {
            list_page(&state, &s, 400, new, Some(page::by_field(&f))).await
        }
        Err(CoreError::Conflict(f)) => {
            list_page(&state, &s, 409, new, Some(page::by_field(&[f]))).await
        }
        Err(e) => core_error(e, Some("create a container there"), Some(&s)),
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    saved: Option<String>,
}

/// A container's page with `errors` (by field) of the form that failed.
async fn container_page(
    state: &AppState,
    s: &Session,
    id: Uuid,
    status: u16,
    notice: Option<&str>,
    errors: Option<Value>,
) -> Response {
    let c = match state.roster.get_container(&s.ctx, id).await {
        Ok(c) => c,
        Err(e) => return core_error(e, Some("see this container"), Some(s)),
    };
    let all = match state.roster.list_containers(&s.ctx).await {
        Ok(cs) => cs,
        Err(e) => return core_error(e, Some("see containers"), Some(s)),
    };
    let names: HashMap<Uuid, String> = all.iter().map(|c| (c.id, c.name.clone())).collect();
    // Who is in it: the first few, and a link to the filtered users list.
    let query = UserQuery {
        container: Some(id),
        limit: USERS_SHOWN,
        ..UserQuery::default()
    };
    let users = match page::refused(
        state.roster.list_users(&s.ctx, query).await,
        "You may not see the users in this container.",
    ) {
        Ok(users) => users.map(|p| {
            let more = p.next.is_some();
            let list: Vec<Value> = p
                .items
                .iter()
                .map(|u| context! { id => u.id.to_string(), username => u.profile.username })
                .collect();
            (list, more)
        }),
        Err(e) => return core_error(e, Some("see this container's users"), Some(s)),
    };
    let parent = c
        .parent_id
        .map(|p| names.get(&p).cloned().unwrap_or_else(|| p.to_string()));
    render(
        status,
        "container.html",
        Some(s),
        context! {
            title => format!("Container {}", c.name),
            section => "containers",
            container => context! {
                id => c.id.to_string(),
                seq => c.seq,
                name => c.name,
                description => c.description,
                parent,
                parent_id => c.parent_id.map(|p| p.to_string()),
                version => c.version,
                created => page::when(c.created_at),
                root => c.parent_id.is_none(),
            },
            // Moving under itself is offered too: the core's refusal is
            // the one rule, and the page shows it.
            containers => tree_values(all),
            users => users.as_ref().ok().map(|u| &u.0),
            more_users => users.as_ref().is_ok_and(|u| u.1),
            users_refused => users.as_ref().err(),
            notice,
            errors,
        },
    )
}

/// `GET /console/containers/{id}`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    q: Result<axum::extract::Query<ShowQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|q| q.0).unwrap_or_default();
    let notice = if q.created.is_some() {
        Some("Container created.")
    } else if q.saved.is_some() {
        Some("Saved.")
    } else {
        None
    };
    container_page(&state, &s, id, 200, notice, None).await
}

/// `POST /console/containers/{id}`: rename (name, description) or move
/// (parent), on the version the page showed.
pub async fn update(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<ChangeContainer>, FormRejection>,
) -> Response {
    let f = match s.accept(form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let parent_id = match f.parent_id.as_deref().map(parent_of) {
        None => Ok(None),
        Some(Ok(None)) => Err(vec![FieldError::new(
            "parent_id",
            "required",
            "choose the new parent",
        )]),
        Some(other) => other,
    };
    let result = match parent_id {
        Ok(parent_id) => {
            let change = ContainerChange {
                name: f.name.map(|n| n.trim().to_string()),
                description: f.description.map(|d| d.trim().to_string()),
                parent_id,
            };
            state
                .roster
                .update_container(&s.ctx, id, change, f.version)
                .await
        }
        Err(fields) => Err(CoreError::Invalid(fields)),
    };
    match result {
        Ok(_) => super::see_other(&format!("/console/containers/{id}?saved=1")),
        Err(CoreError::Invalid(fields)) => {
            container_page(&state, &s, id, 400, None, Some(page::by_field(&fields))).await
        }
        // The cycle check and name clashes: said next to the field.
        Err(CoreError::Conflict(f)) => {
            let f = if f.field == "id" {
                FieldError { field: "parent_id".into(), ..f }
            } else {
                f
            };
            container_page(&state, &s, id, 409, None, Some(page::by_field(&[f]))).await
        }
        Err(e) => core_error(e, Some("change this container"), Some(&s)),
    }
}

/// `POST /console/containers/{id}/delete`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<DeleteContainer>, FormRejection>,
) -> Response {
    if let Err(refused) = s.accept(form) {
        return *refused;
    }
    match state.roster.delete_container(&s.ctx, id).await {
        Ok(()) => super::see_other("/console/containers"),
        Err(CoreError::Conflict(f)) => {
            container_page(&state, &s, id, 409, None, Some(page::by_field(&[FieldError { field: "delete".into(), ..f }]))).await
        }
        Err(e) => core_error(e, Some("delete this container"), Some(&s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, id: u128, parent: Option<u128>) -> Container {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        Container {
            id: Uuid::from_u128(id),
            seq: id as i64,
            name: name.into(),
            description: String::new(),
            parent_id: parent.map(Uuid::from_u128),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    #[test]
    fn tree_puts_parents_first_and_siblings_by_name() {
        let t = tree(vec![
            c("b", 3, Some(1)),
            c("root", 1, None),
            c("a", 2, Some(1)),
            c("a1", 4, Some(2)),
            // Its parent is not visible: a tree of its own.
            c("orphan", 5, Some(99)),
        ]);
        let got: Vec<(&str, usize)> = t.iter().map(|(c, d)| (c.name.as_str(), *d)).collect();
        assert_eq!(
            got,
            vec![("orphan", 0), ("root", 0), ("a", 1), ("a1", 2), ("b", 1)]
        );
    }
}
