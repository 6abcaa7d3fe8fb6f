//! The Group resource: roster's group (name, members) as SCIM JSON.
//! `externalId` is kept in the group's custom attribute `scim_external_id`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use roster_core::CoreError;
use roster_core::access::Group;
use roster_core::service::{Ctx, GroupChange, GroupInput};
use roster_core::user::User;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::error::{ScimError, ScimResult};
use super::schema::{GROUP, GROUP_TYPE, GROUP_URN, Projection};
use super::user::{time_text, version_tag};
use super::{Reply, ScimCaller, json_body, parse_id};
use crate::extract::{FaceBytes, Path};
use crate::state::AppState;

pub const EXTERNAL_ID_KEY: &str = "scim_external_id";

/// The full representation; `members` when loaded.
pub fn full(g: &Group, members: Option<&[User]>, base: &str) -> Value {
    let mut doc = Map::new();
    doc.insert("schemas".into(), json!([GROUP_URN]));
    doc.insert("id".into(), json!(g.id.to_string()));
    if let Some(Value::String(x)) = g.attributes.get(EXTERNAL_ID_KEY) {
        doc.insert("externalId".into(), json!(x));
    }
    doc.insert("displayName".into(), json!(g.name));
    if let Some(members) = members
        && !members.is_empty()
    {
        doc.insert(
            "members".into(),
            Value::Array(
                members
                    .iter()
                    .map(|u| {
                        json!({
                            "value": u.id.to_string(),
                            "$ref": format!("{base}/Users/{}", u.id),
                            "type": "User",
                            "display": u.profile.username,
                        })
                    })
                    .collect(),
            ),
        );
    }
    doc.insert(
        "meta".into(),
        json!({
            "resourceType": "Group",
            "created": time_text(g.created_at),
            "lastModified": time_text(g.updated_at),
            "location": format!("{base}/Groups/{}", g.id),
            "version": version_tag(g.version),
        }),
    );
    Value::Object(doc)
}

fn members_attr() -> &'static super::schema::Attr {
    GROUP.attr("members").expect("members is in the schema")
}

/// Loads members only when the projection shows them.
pub async fn render(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    g: &Group,
    proj: &Projection,
) -> ScimResult<Value> {
    let members = if proj.wants(None, members_attr()) {
        Some(state.roster.all_members(ctx, g.id).await?)
    } else {
        None
    };
    Ok(proj.apply(&GROUP_TYPE, &full(g, members.as_deref(), base)))
}

/// What a group document asks for.
struct Parsed {
    name: String,
    external_id: Option<String>,
    members: Vec<Uuid>,
}

fn from_doc(doc: &Map<String, Value>) -> ScimResult<Parsed> {
    let name = match doc.get("displayName") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(ScimError::invalid_value("displayName is required"));
        }
        Some(_) => return Err(ScimError::invalid_value("displayName must be a string")),
    };
    let external_id = match doc.get("externalId") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ScimError::invalid_value("externalId must be a string")),
    };
    let mut members = Vec::new();
    let items = match doc.get("members") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(ScimError::invalid_value("members must be a list")),
    };
    // The list checked is the resulting one (after a PATCH), so refusals
    // name the value, not a position the client never sent.
    for m in &items {
        if let Some(t) = m.get("type").and_then(Value::as_str)
            && !t.eq_ignore_ascii_case("User")
        {
            return Err(ScimError::invalid_value(format!(
                "members.type: roster groups hold users only, not {t:?}"
            )));
        }
        let value = m.get("value").and_then(Value::as_str);
        let id = value.and_then(|v| Uuid::parse_str(v).ok()).ok_or_else(|| {
            ScimError::invalid_value(match value {
                // Members are references to existing users (created first,
                // as Entra and Okta do), never dangling strings.
                Some(v) => format!("members.value: {v:?} is not the id of a user"),
                None => "members.value: the id of a user is required".to_string(),
            })
        })?;
        if !members.contains(&id) {
            members.push(id);
        }
    }
    Ok(Parsed {
        name,
        external_id,
        members,
    })
}

/// A member that does not exist is a bad value, not a missing group.
fn member_error(e: CoreError) -> ScimError {
    match e {
        CoreError::NotFound("user") => ScimError::invalid_value("members: no such user"),
        other => other.into(),
    }
}

async fn reply(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    g: Group,
    status: StatusCode,
) -> ScimResult<Reply> {
    let body = render(state, ctx, base, &g, &Projection::default()).await?;
    Ok(Reply {
        status,
        body,
        version: Some(g.version),
        location: Some(format!("{base}/Groups/{}", g.id)),
    })
}

pub async fn create_group(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    body: &Value,
) -> ScimResult<Reply> {
    let doc = super::patch::canonical_doc(&GROUP_TYPE, body)?;
    let p = from_doc(&doc)?;
    let mut attributes = Map::new();
    if let Some(x) = p.external_id {
        attributes.insert(EXTERNAL_ID_KEY.into(), json!(x));
    }
    let input = GroupInput {
        name: p.name,
        description: String::new(),
        seq: None,
        attributes,
    };
    let g = if p.members.is_empty() {
        state.roster.create_group(ctx, input).await?
    } else {
        state
            .roster
            .create_group_with(ctx, input, p.members, Vec::new())
            .await
            .map_err(member_error)?
    };
    reply(state, ctx, base, g, StatusCode::CREATED).await
}

/// Writes what `doc` describes as one core call.
async fn write(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    current: Group,
    current_members: &[User],
    doc: &Map<String, Value>,
    if_match: Option<i64>,
) -> ScimResult<Reply> {
    let p = from_doc(doc)?;
    let mut change = GroupChange::default();
    if p.name != current.name {
        change.name = Some(p.name);
    }
    let old_x = current
        .attributes
        .get(EXTERNAL_ID_KEY)
        .and_then(Value::as_str);
    if old_x != p.external_id.as_deref() {
        change.attributes.insert(
            EXTERNAL_ID_KEY.into(),
            p.external_id.map_or(Value::Null, Value::from),
        );
    }
    let members_changed = p.members.len() != current_members.len()
        || p.members
            .iter()
            .any(|m| !current_members.iter().any(|c| c.id == *m));
    let nothing = change.name.is_none() && change.attributes.is_empty() && !members_changed;
    let g = if nothing {
        current
    } else if members_changed && change.name.is_none() && change.attributes.is_empty() {
        // Only members: the core adds and removes exactly these.
        let add: Vec<Uuid> = p
            .members
            .iter()
            .filter(|m| !current_members.iter().any(|c| c.id == **m))
            .copied()
            .collect();
        let remove: Vec<Uuid> = current_members
            .iter()
            .filter(|c| !p.members.contains(&c.id))
            .map(|c| c.id)
            .collect();
        state
            .roster
            .change_group_members(ctx, current.id, add, remove, if_match)
            .await
            .map_err(member_error)?
    } else if members_changed {
        state
            .roster
            .update_group_with(
                ctx,
                current.id,
                change,
                Some(p.members),
                Vec::new(),
                if_match,
            )
            .await
            .map_err(member_error)?
    } else {
        state
            .roster
            .update_group(ctx, current.id, change, if_match)
            .await?
    };
    reply(state, ctx, base, g, StatusCode::OK).await
}

async fn load(
    state: &AppState,
    ctx: &Ctx,
    id: Uuid,
    if_match: Option<i64>,
) -> ScimResult<(Group, Vec<User>)> {
    let g = state.roster.get_group(ctx, id).await?;
    if if_match.is_some_and(|v| v != g.version) {
        return Err(CoreError::PreconditionFailed.into());
    }
    let members = state.roster.all_members(ctx, id).await?;
    Ok((g, members))
}

pub async fn replace_group(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    id: Uuid,
    body: &Value,
    if_match: Option<i64>,
) -> ScimResult<Reply> {
    let doc = super::patch::canonical_doc(&GROUP_TYPE, body)?;
    let (g, members) = load(state, ctx, id, if_match).await?;
    write(state, ctx, base, g, &members, &doc, if_match).await
}

pub async fn patch_group(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    id: Uuid,
    body: &Value,
    if_match: Option<i64>,
) -> ScimResult<Reply> {
    let ops = super::patch::parse_body(body)?;
    let (g, members) = load(state, ctx, id, if_match).await?;
    let Value::Object(mut doc) = full(&g, Some(&members), base) else {
        unreachable!("a group is an object");
    };
    super::patch::apply(&GROUP_TYPE, &mut doc, &ops)?;
    write(state, ctx, base, g, &members, &doc, if_match).await
}

pub async fn delete_group(
    state: &AppState,
    ctx: &Ctx,
    id: Uuid,
    if_match: Option<i64>,
) -> ScimResult<()> {
    state.roster.delete_group(ctx, id, if_match).await?;
    Ok(())
}

fn projection(uri: &Uri) -> ScimResult<Projection> {
    let p = super::list::query_params(uri)?;
    Ok(Projection::parse(
        &GROUP_TYPE,
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
    let id = parse_id(&id, "group")?;
    let g = state.roster.get_group(&s.ctx, id).await?;
    if super::not_modified(&headers, g.version) {
        return Ok(super::not_modified_response(g.version));
    }
    let body = render(&state, &s.ctx, &s.base, &g, &projection(&uri)?).await?;
    Ok(Reply {
        status: StatusCode::OK,
        body,
        version: Some(g.version),
        location: Some(format!("{}/Groups/{}", s.base, g.id)),
    }
    .into_response())
}

pub async fn post(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    headers: HeaderMap,
    body: FaceBytes,
) -> Result<Response, ScimError> {
    let body = json_body(&headers, &body)?;
    Ok(create_group(&state, &s.ctx, &s.base, &body)
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
    let id = parse_id(&id, "group")?;
    let body = json_body(&headers, &body)?;
    let m = super::if_match(&headers)?;
    Ok(replace_group(&state, &s.ctx, &s.base, id, &body, m)
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
    let id = parse_id(&id, "group")?;
    let body = json_body(&headers, &body)?;
    let m = super::if_match(&headers)?;
    Ok(patch_group(&state, &s.ctx, &s.base, id, &body, m)
        .await?
        .into_response())
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ScimError> {
    let id = parse_id(&id, "group")?;
    let m = super::if_match(&headers)?;
    delete_group(&state, &s.ctx, id, m).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
