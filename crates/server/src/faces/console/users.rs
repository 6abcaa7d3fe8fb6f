//! The users pages: search (within a container) and keyset paging, create,
//! a user's page with the effective-permissions explanation (its grant and
//! key sections are `access.rs`'s), profile edit, a new password, MFA
//! reset, enable/disable, delete with a confirmation step. Every call goes
//! through the core as the signed-in user; a refusal of the core is shown
//! as it is.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use roster_core::access::Holder;
use roster_core::user::{CreateUser, Patch, User, UserDraft, UserPatch, UserQuery};
use roster_core::{CoreError, FieldError, Secret};
use serde::Deserialize;
use uuid::Uuid;

use super::page::{self, core_error, render};
use super::session::{Session, csrf_form};
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
    /// Only users homed in this container or below it.
    #[serde(default)]
    container: Option<String>,
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
    /// Home container; the caller's own when empty.
    #[serde(default)]
    container_id: String,
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
    let within = match q.container.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => match Uuid::parse_str(c) {
            Ok(c) => Some(c),
            Err(_) => {
                return page::error_page(400, "Bad request", "There is no such container.", None, Some(s));
            }
        },
    };
    let query = UserQuery {
        q: search.clone(),
        after_seq: q.after,
        limit: PAGE,
        container: within,
        ..UserQuery::default()
    };
    // The home container picker and the filter: the containers the caller
    // may see.
    let containers = state.roster.list_containers(&s.ctx).await.unwrap_or_default();
    let within_name = within.map(|c| {
        containers
            .iter()
            .find(|x| x.id == c)
            .map_or_else(|| c.to_string(), |x| x.name.clone())
    });
    // What the paging links carry over.
    let filter_param = [
        search.as_deref().map(|v| format!("q={}", url_encode(v))),
        within.map(|c| format!("container={c}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("&");
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
                filter_param,
                q => search,
                within => within.map(|c| c.to_string()),
                within_name,
                paged => q.after.is_some(),
                deleted => q.deleted,
                new => Value::from_serialize(&new),
                containers => super::containers::tree_values(containers),
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
    let new = match s.accept(form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let container_id = match some(&new.container_id).map(|c| Uuid::parse_str(&c)) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(_)) => {
            let errors = page::by_field(&[FieldError::new(
                "container_id",
                "exists",
                "choose a container from the list",
            )]);
            return list_page(&state, &s, ListQuery::default(), 400, new, Some(errors)).await;
        }
    };
    let input = CreateUser {
        container_id,
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

/// What the user page shows besides the user: a notice after a change, or
/// one form as typed with its errors by field (`form` names which).
#[derive(Default)]
pub struct Forms {
    pub notice: Option<String>,
    pub form: Option<&'static str>,
    pub values: Option<Value>,
    pub errors: Option<Value>,
}

impl Forms {
    pub fn failed(form: &'static str, values: Value, fields: &[FieldError]) -> Self {
        Forms {
            form: Some(form),
            values: Some(values),
            errors: Some(page::by_field(fields)),
            ..Forms::default()
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    /// What the form posted before this page did (post, redirect, get).
    #[serde(default)]
    done: Option<String>,
}

/// `GET /console/users/{id}?done=`.
pub async fn show(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    q: Result<Query<ShowQuery>, QueryRejection>,
) -> Response {
    let done = q.ok().and_then(|Query(q)| q.done);
    let notice = match done.as_deref() {
        Some("granted") => Some("Role granted."),
        Some("revoked") => Some("Role assignment revoked."),
        Some("key-revoked") => Some("API key revoked."),
        Some("profile") => Some("Profile saved."),
        Some("password") => Some("Password set."),
        Some("mfa") => Some("Second factor removed."),
        _ => None,
    };
    let forms = Forms {
        notice: notice.map(str::to_string),
        ..Forms::default()
    };
    user_page(&state, &s, id, 200, forms).await
}

/// The user page: profile, groups, roles and why the user may do what
/// they may, direct assignments with the grant form, API keys, and the
/// edit and credential forms. Each part the caller may not see says so.
pub async fn user_page(
    state: &AppState,
    s: &Session,
    id: Uuid,
    status: u16,
    forms: Forms,
) -> Response {
    match user_page_parts(state, s, id, status, forms).await {
        Ok(resp) => resp,
        Err(e) => core_error(e, Some("see this user"), Some(s)),
    }
}

async fn user_page_parts(
    state: &AppState,
    s: &Session,
    id: Uuid,
    status: u16,
    forms: Forms,
) -> Result<Response, CoreError> {
    let user = state.roster.get_user(&s.ctx, id).await?;
    let containers = state.roster.list_containers(&s.ctx).await.unwrap_or_default();
    let names: HashMap<Uuid, String> = containers.iter().map(|c| (c.id, c.name.clone())).collect();
    let groups = page::refused(
        state.roster.groups_of(&s.ctx, id).await,
        "You may not see this user's groups.",
    )?
    .map(|ms| ms.into_iter().map(|m| m.group.name).collect::<Vec<_>>());
    let grants = page::refused(
        state.roster.effective_permissions(&s.ctx, id).await,
        "You may not see this user's permissions.",
    )?;
    let assignments = page::refused(
        state.roster.assignments_of(&s.ctx, Holder::User(id)).await,
        "You may not see this user's role assignments.",
    )?;
    let roles_catalogue = page::refused(
        state.roster.list_roles(&s.ctx).await,
        "You may not read roles, so you cannot grant them.",
    )?;
    let keys = page::refused(
        state.roster.list_keys(&s.ctx, Some(id), false).await,
        "You may not see this user's API keys.",
    )?;
    let scope_text = |all: bool, cs: &[Uuid]| super::access::scope_text(&names, all, cs);
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
    let assignments = assignments.map(|list| super::access::assignment_rows(&list, &names));
    let role_options = roles_catalogue
        .as_ref()
        .ok()
        .map(|rs| super::access::role_options(rs));
    let role_names: HashMap<Uuid, String> = roles_catalogue
        .as_ref()
        .map(|rs| rs.iter().map(|r| (r.id, r.name.clone())).collect())
        .unwrap_or_default();
    let keys = keys.map(|list| {
        list.iter()
            .map(|k| {
                context! {
                    id => k.id.to_string(),
                    name => k.name,
                    prefix => k.prefix,
                    role => k.role_id.map(|r| role_names.get(&r).cloned().unwrap_or_else(|| r.to_string())),
                    created => page::when(k.created_at),
                    expires => k.expires_at.map(page::when),
                    revoked => k.revoked_at.map(page::when),
                    last_used => k.last_used_at.map(page::when),
                }
            })
            .collect::<Vec<_>>()
    });
    let home = container_label(&names, &user.container_id);
    Ok(render(
        status,
        "user.html",
        Some(s),
        context! {
            title => format!("User {}", user.profile.username),
            section => "users",
            user => context! {
                id => user.id.to_string(),
                seq => user.seq,
                username => user.profile.username,
                email => user.profile.email,
                first_name => user.profile.first_name,
                last_name => user.profile.last_name,
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
            assignments => assignments.as_ref().ok(),
            assignments_refused => assignments.err(),
            role_options => role_options,
            roles_refused => roles_catalogue.err(),
            containers => super::containers::tree_values(containers),
            keys => keys.as_ref().ok(),
            keys_refused => keys.err(),
            notice => forms.notice,
            form => forms.form,
            values => forms.values,
            errors => forms.errors,
        },
    ))
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
    let f = match s.accept(form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
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

csrf_form!(NewUser, SetActive, Delete);

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

#[derive(Deserialize, serde::Serialize)]
pub struct Profile {
    #[serde(default, skip_serializing)]
    csrf: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default, skip_serializing)]
    version: Option<i64>,
}

#[derive(Deserialize)]
pub struct NewPassword {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: Option<String>,
}

csrf_form!(Profile, NewPassword, CsrfOnly);

/// An emptied field clears the value; an unchanged one is set again.
fn set_or_clear(v: &str) -> Patch<String> {
    match some(v) {
        Some(v) => Patch::Set(v),
        None => Patch::Clear,
    }
}

/// `POST /console/users/{id}/profile`: email and names, on the version the
/// page showed (412 with a reload hint if someone changed the user since).
pub async fn update_profile(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<Profile>, FormRejection>,
) -> Response {
    let f = match s.accept(form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let patch = UserPatch {
        email: set_or_clear(&f.email),
        first_name: set_or_clear(&f.first_name),
        last_name: set_or_clear(&f.last_name),
        ..UserPatch::default()
    };
    // Without a version the core would retry over a concurrent change;
    // the console always edits what it showed.
    let Some(version) = f.version else {
        return page::error_page(400, "Bad request", "The form could not be read.", None, Some(&s));
    };
    match state
        .roster
        .update_user(&s.ctx, id, patch, None, Some(version))
        .await
    {
        Ok(_) => super::see_other(&format!("/console/users/{id}?done=profile")),
        Err(CoreError::Invalid(fields)) => {
            let forms = Forms::failed("profile", Value::from_serialize(&f), &fields);
            user_page(&state, &s, id, 400, forms).await
        }
        Err(CoreError::Conflict(field)) => {
            let forms = Forms::failed("profile", Value::from_serialize(&f), &[field]);
            user_page(&state, &s, id, 409, forms).await
        }
        Err(e) => core_error(e, Some("change this user"), Some(&s)),
    }
}

/// `POST /console/users/{id}/password`: an administrator sets a new
/// password (the policy's messages next to the field).
pub async fn set_password(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<NewPassword>, FormRejection>,
) -> Response {
    let f = match s.accept(form) {
        Ok(f) => f,
        Err(refused) => return *refused,
    };
    let result = if f.password != f.confirm {
        Err(CoreError::invalid(
            "confirm",
            "same",
            "the two passwords differ",
        ))
    } else {
        state
            .roster
            .set_password(&s.ctx, id, &Secret::new(f.password))
            .await
    };
    match result {
        Ok(_) => super::see_other(&format!("/console/users/{id}?done=password")),
        // Never echoed back: the form comes back empty.
        Err(CoreError::Invalid(fields)) => {
            let forms = Forms::failed("password", Value::UNDEFINED, &fields);
            user_page(&state, &s, id, 400, forms).await
        }
        Err(e) => core_error(e, Some("set this user's password"), Some(&s)),
    }
}

/// `POST /console/users/{id}/mfa/reset`: removes the user's second factor
/// (a lost device); they enrol again at their next sign-in if required.
pub async fn reset_mfa(
    State(state): State<Arc<AppState>>,
    s: Session,
    Path(id): Path<Uuid>,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    if let Err(refused) = s.accept(form) {
        return *refused;
    }
    match state.roster.reset_totp(&s.ctx, id).await {
        Ok(()) => super::see_other(&format!("/console/users/{id}?done=mfa")),
        Err(e) => core_error(e, Some("reset this user's second factor"), Some(&s)),
    }
}
