//! The users pages: search and keyset paging, create, a user's page with
//! the effective-permissions explanation, enable/disable, delete with a
//! confirmation step. Every call goes through the core as the signed-in
//! user; a refusal of the core is shown as it is.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use roster_core::CoreError;
use roster_core::FieldError;
use roster_core::user::{CreateUser, Patch, User, UserDraft, UserPatch, UserQuery};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, core_error, render};
use super::session::Session;
use crate::extract::Path;
use crate::state::AppState;

/// Users per page.
const PAGE: u32 = 25;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    after: Option<i64>,
    #[serde(default)]
    deleted: Option<String>,
}

/// The create-user form as typed, shown again beside its errors.
#[derive(Deserialize, Default, serde::Serialize)]
pub struct NewUser {
    #[serde(default, skip_serializing)]
    csrf: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
}

fn summary(u: &User) -> Value {
    context! {
        id => u.id.to_string(),
        username => u.profile.username,
        email => u.profile.email,
        name => full_name(u),
        active => u.profile.active,
        locked => u.locked,
    }
}

fn full_name(u: &User) -> Option<String> {
    u.profile.display_name.clone().or_else(|| {
        let parts: Vec<&str> = [&u.profile.first_name, &u.profile.last_name]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    })
}

/// The users page: the list (or the core's refusal), the search, the
/// create form with `new`'s values and `errors` by field.
async fn list_page(
    state: &AppState,
    s: &Session,
    q: ListQuery,
    status: u16,
    new: NewUser,
    errors: Option<Value>,
) -> Response {
    let search = q.q.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let query = UserQuery {
        q: search.clone(),
        after_seq: q.after,
        limit: PAGE,
        ..UserQuery::default()
    };
    match state.roster.list_users(&s.ctx, query).await {
        Ok(found) => render(
            status,
            "users.html",
            Some(s),
            context! {
                title => "Users",
                section => "users",
                users => found.items.iter().map(summary).collect::<Vec<_>>(),
                next => found.next,
                q_param => search.as_deref().map(url_encode),
                q => search,
                paged => q.after.is_some(),
                deleted => q.deleted,
                new => Value::from_serialize(&new),
                errors,
            },
        ),
        Err(e) => core_error(e, Some("list users"), Some(s)),
    }
}

/// `GET /console/users?q=&after=`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    s: Session,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return page::error_page(400, "Bad request", "The search could not be read.", None, Some(&s));
    };
    list_page(&state, &s, q, 200, NewUser::default(), None).await
}

fn some(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// `POST /console/users`: creates a user in the caller's home container.
pub async fn create(
    State(state): State<Arc<AppState>>,
    s: Session,
    form: Result<Form<NewUser>, FormRejection>,
) -> Response {
    let Ok(Form(new)) = form else {
        return page::error_page(400, "Bad request", "The form could not be read.", None, Some(&s));
    };
    if let Some(refused) = s.check(new.csrf.as_deref()) {
        return refused;
    }
    let input = CreateUser {
        profile: UserDraft {
            username: new.username.trim().to_string(),
            email: some(&new.email),
            first_name: some(&new.first_name),
            last_name: some(&new.last_name),
            active: true,
            ..UserDraft::default()
        },
        ..CreateUser::default()
    };
    let fields: Vec<FieldError>;
    let status = match state.roster.create_user(&s.ctx, input).await {
        Ok(created) => return super::see_other(&format!("/console/users/{}", created.user.id)),
        Err(CoreError::Invalid(f)) => {
            fields = f;
            400
        }
        Err(CoreError::Conflict(f)) => {
            fields = vec![FieldError {
                message: format!("{} (already taken)", f.message),
                ..f
            }];
            409
        }
        Err(e) => return core_error(e, Some("create users"), Some(&s)),
    };
    let errors = Some(page::by_field(&fields));
    list_page(&state, &s, ListQuery::default(), status, new, errors).await
}

/// A container's name, or its id when the caller cannot read it.
fn container_label(names: &HashMap<Uuid, String>, id: &Uuid) -> String {
    names.get(id).cloned().unwrap_or_else(|| id.to_string())
}

/// `GET /console/users/{id}`: profile, groups, roles and why the user may
/// do what they may.
pub async fn show(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
) -> Response {
    let user = match state.roster.get_user(&s.ctx, id).await {
        Ok(u) => u,
        Err(e) => return core_error(e, Some("see this user"), Some(&s)),
    };
    let names: HashMap<Uuid, String> = state
        .roster
        .list_containers(&s.ctx)
        .await
        .map(|cs| cs.into_iter().map(|c| (c.id, c.name)).collect())
        .unwrap_or_default();
    let groups = match state.roster.groups_of(&s.ctx, id).await {
        Ok(ms) => Ok(ms.into_iter().map(|m| m.group.name).collect::<Vec<_>>()),
        Err(CoreError::Forbidden) => Err("You may not see this user's groups."),
        Err(e) => return core_error(e, Some("see this user's groups"), Some(&s)),
    };
    let grants = match state.roster.effective_permissions(&s.ctx, id).await {
        Ok(g) => Ok(g),
        Err(CoreError::Forbidden) => Err("You may not see this user's permissions."),
        Err(e) => return core_error(e, Some("see this user's permissions"), Some(&s)),
    };
    let scope_text = |all: bool, cs: &[Uuid]| -> String {
        if all {
            "all objects".to_string()
        } else {
            cs.iter()
                .map(|c| container_label(&names, c))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let (roles, permissions) = match &grants {
        Ok(gs) => {
            let mut roles = BTreeSet::new();
            let rows: Vec<Value> = gs
                .iter()
                .map(|g| {
                    let scope = scope_text(g.all_objects, &g.container_ids);
                    let via = g.via.strip_prefix("group:").map(str::to_string);
                    roles.insert((g.role.clone(), via.clone(), scope.clone()));
                    context! { privilege => g.privilege, role => g.role, via, scope }
                })
                .collect();
            let roles: Vec<Value> = roles
                .into_iter()
                .map(|(role, via, scope)| context! { role, via, scope })
                .collect();
            (Some(roles), Some(rows))
        }
        Err(_) => (None, None),
    };
    let home = container_label(&names, &user.container_id);
    render(
        200,
        "user.html",
        Some(&s),
        context! {
            title => format!("User {}", user.profile.username),
            section => "users",
            user => context! {
                id => user.id.to_string(),
                seq => user.seq,
                username => user.profile.username,
                email => user.profile.email,
                name => full_name(&user),
                active => user.profile.active,
                locked => user.locked,
                mfa => user.mfa_enrolled,
                home,
                created => page::when(user.created_at),
                last_login => user.last_login_at.map(page::when),
                version => user.version,
            },
            groups => groups.as_ref().ok(),
            groups_refused => groups.err(),
            roles,
            permissions,
            permissions_refused => grants.err(),
        },
    )
}

#[derive(Deserialize)]
pub struct SetActive {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    version: Option<i64>,
}

/// `POST /console/users/{id}/active`: enable or disable, on the version
/// the page showed (412 if it changed since).
pub async fn set_active(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<SetActive>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return page::error_page(400, "Bad request", "The form could not be read.", None, Some(&s));
    };
    if let Some(refused) = s.check(f.csrf.as_deref()) {
        return refused;
    }
    let Some(active) = f.active else {
        return page::error_page(400, "Bad request", "The form could not be read.", None, Some(&s));
    };
    let patch = UserPatch {
        active: Patch::Set(active),
        ..UserPatch::default()
    };
    let doing = if active { "enable this user" } else { "disable this user" };
    match state
        .roster
        .update_user(&s.ctx, id, patch, None, f.version)
        .await
    {
        Ok(_) => super::see_other(&format!("/console/users/{id}")),
        Err(e) => core_error(e, Some(doing), Some(&s)),
    }
}

/// `GET /console/users/{id}/delete`: asks first.
pub async fn confirm_delete(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
) -> Response {
    match state.roster.get_user(&s.ctx, id).await {
        Ok(u) => render(
            200,
            "delete.html",
            Some(&s),
            context! {
                title => format!("Delete {}", u.profile.username),
                section => "users",
                user => summary(&u),
                version => u.version,
            },
        ),
        Err(e) => core_error(e, Some("see this user"), Some(&s)),
    }
}

#[derive(Deserialize)]
pub struct Delete {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    version: Option<i64>,
}

/// `POST /console/users/{id}/delete`: deletes, on the version confirmed.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<Delete>, FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or(Delete {
        csrf: None,
        version: None,
    });
    if let Some(refused) = s.check(f.csrf.as_deref()) {
        return refused;
    }
    let username = match state.roster.get_user(&s.ctx, id).await {
        Ok(u) => u.profile.username,
        Err(e) => return core_error(e, Some("delete this user"), Some(&s)),
    };
    match state.roster.delete_user(&s.ctx, id, f.version).await {
        Ok(()) => super::see_other(&format!(
            "/console/users?deleted={}",
            url_encode(&username)
        )),
        Err(e) => core_error(e, Some("delete this user"), Some(&s)),
    }
}

/// Percent-encodes a query value.
pub fn url_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
