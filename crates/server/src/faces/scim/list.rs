//! Queries (RFC 7644 §3.4.2/§3.4.3): `GET /Users?filter=...`,
//! `POST /Users/.search`, the same for Groups, and `POST /.search` over
//! both. Users are filtered, sorted and paged by the store
//! (`Roster::list_users_counted`); groups, which are few and have no store
//! query, are filtered and paged here over `all_groups`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use roster_core::access::Group;
use roster_core::service::Ctx;
use roster_core::user::{UserQuery, UserSort};
use scim_v2::filter::Filter;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ScimError, ScimResult};
use super::schema::{GROUP_TYPE, Projection, ROSTER_URN, ResourceType, Target, USER_TYPE};
use super::{MAX_RESULTS, ScimCaller, json_body, scim_json};
use crate::extract::FaceBytes;
use crate::state::AppState;

pub const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const DEFAULT_COUNT: u32 = 100;

/// Query-string parameters of a GET.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    pub filter: Option<String>,
    #[serde(rename = "sortBy")]
    pub sort_by: Option<String>,
    #[serde(rename = "sortOrder")]
    pub sort_order: Option<String>,
    #[serde(rename = "startIndex")]
    pub start_index: Option<String>,
    pub count: Option<String>,
    pub attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
}

pub fn query_params(uri: &Uri) -> ScimResult<Params> {
    Query::<Params>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|e| ScimError::invalid_value(format!("the query string cannot be read: {e}")))
}

/// A query, from either the query string or a SearchRequest.
#[derive(Debug, Default)]
pub struct Search {
    pub filter: Option<Filter>,
    pub sort_by: Option<String>,
    pub descending: bool,
    /// 0-based offset.
    pub offset: u64,
    /// 1-based, as given (normalised).
    pub start_index: u64,
    pub count: u32,
    pub attributes: Option<String>,
    pub excluded: Option<String>,
}

fn number(raw: Option<&Value>, name: &str) -> ScimResult<Option<i64>> {
    match raw {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| ScimError::invalid_value(format!("{name} must be an integer"))),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ScimError::invalid_value(format!("{name} must be an integer"))),
        Some(_) => Err(ScimError::invalid_value(format!(
            "{name} must be an integer"
        ))),
    }
}

impl Search {
    fn build(
        filter: Option<&str>,
        sort_by: Option<String>,
        sort_order: Option<&str>,
        start_index: Option<i64>,
        count: Option<i64>,
        attributes: Option<String>,
        excluded: Option<String>,
    ) -> ScimResult<Self> {
        let filter = match filter.map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => Some(super::filter::parse(f)?),
            None => None,
        };
        let descending = match sort_order.map(str::to_ascii_lowercase).as_deref() {
            None | Some("ascending") => false,
            Some("descending") => true,
            Some(_) => {
                return Err(ScimError::invalid_value(
                    "sortOrder must be ascending or descending",
                ));
            }
        };
        // RFC 7644 §3.4.2.4: below 1 is 1; a negative count is 0.
        let start_index = start_index.unwrap_or(1).max(1) as u64;
        let count = count
            .unwrap_or(DEFAULT_COUNT as i64)
            .clamp(0, MAX_RESULTS as i64) as u32;
        Ok(Search {
            filter,
            sort_by: sort_by.filter(|s| !s.trim().is_empty()),
            descending,
            offset: start_index - 1,
            start_index,
            count,
            attributes,
            excluded,
        })
    }

    pub fn from_params(p: Params) -> ScimResult<Self> {
        Self::build(
            p.filter.as_deref(),
            p.sort_by,
            p.sort_order.as_deref(),
            number(p.start_index.map(Value::from).as_ref(), "startIndex")?,
            number(p.count.map(Value::from).as_ref(), "count")?,
            p.attributes,
            p.excluded_attributes,
        )
    }

    /// A SearchRequest body (RFC 7644 §3.4.3).
    pub fn from_body(body: &Value) -> ScimResult<Self> {
        let Value::Object(m) = body else {
            return Err(ScimError::invalid_syntax(
                "the body must be a SearchRequest object",
            ));
        };
        let get = |name: &str| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let text = |name: &str| -> ScimResult<Option<String>> {
            match get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!("{name} must be a string"))),
            }
        };
        let list = |name: &str| -> ScimResult<Option<String>> {
            match get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(items)) => Ok(Some(
                    items
                        .iter()
                        .map(|i| {
                            i.as_str().map(str::to_owned).ok_or_else(|| {
                                ScimError::invalid_value(format!("{name} must list strings"))
                            })
                        })
                        .collect::<ScimResult<Vec<_>>>()?
                        .join(","),
                )),
                Some(_) => Err(ScimError::invalid_value(format!("{name} must be a list"))),
            }
        };
        Self::build(
            text("filter")?.as_deref(),
            text("sortBy")?,
            text("sortOrder")?.as_deref(),
            number(get("startIndex"), "startIndex")?,
            number(get("count"), "count")?,
            list("attributes")?,
            list("excludedAttributes")?,
        )
    }

    fn projection(&self, rt: &ResourceType) -> Projection {
        Projection::parse(rt, self.attributes.as_deref(), self.excluded.as_deref())
    }
}

fn list_response(total: u64, start_index: u64, resources: Vec<Value>) -> Response {
    scim_json(
        StatusCode::OK,
        json!({
            "schemas": [LIST_URN],
            "totalResults": total,
            "itemsPerPage": resources.len(),
            "startIndex": start_index,
            "Resources": resources,
        }),
    )
}

// ---- users

fn user_sort(by: &str) -> ScimResult<UserSort> {
    let unsupported = || ScimError::invalid_value(format!("cannot sort Users by {by}"));
    let Some(Target::Attr(r)) = super::schema::resolve_text(&USER_TYPE, by) else {
        return Err(unsupported());
    };
    Ok(match r.dotted().as_str() {
        "userName" => UserSort::Username,
        "name.givenName" => UserSort::FirstName,
        "name.familyName" => UserSort::LastName,
        "emails" | "emails.value" => UserSort::Email,
        "meta.created" | "id" => UserSort::CreatedAt,
        d if d == format!("{ROSTER_URN}:seq") => UserSort::Seq,
        _ => return Err(unsupported()),
    })
}

/// One page of users, and the total.
async fn user_page(
    state: &AppState,
    ctx: &Ctx,
    search: &Search,
    filter: Option<roster_core::user_filter::UserFilter>,
    offset: u64,
    count: u32,
) -> ScimResult<(Vec<roster_core::user::User>, u64)> {
    let sort = match &search.sort_by {
        Some(by) => vec![(user_sort(by)?, search.descending)],
        None => Vec::new(),
    };
    let (items, total) = state
        .roster
        .list_users_counted(
            ctx,
            UserQuery {
                filter,
                offset: Some(offset),
                // `count=0` asks for the total only; the store needs a limit.
                limit: count.max(1),
                sort,
                ..Default::default()
            },
        )
        .await?;
    let items = if count == 0 { Vec::new() } else { items };
    Ok((items, total))
}

async fn render_users(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    users: &[roster_core::user::User],
    proj: &Projection,
) -> ScimResult<Vec<Value>> {
    let mut out = Vec::with_capacity(users.len());
    for u in users {
        out.push(super::user::render(state, ctx, base, u, proj).await?);
    }
    Ok(out)
}

async fn users(state: &AppState, s: &ScimCaller, search: Search) -> ScimResult<Response> {
    let filter = match &search.filter {
        Some(f) => Some(super::filter::to_user_filter(&USER_TYPE, f)?),
        None => None,
    };
    let (items, total) =
        user_page(state, &s.ctx, &search, filter, search.offset, search.count).await?;
    let proj = search.projection(&USER_TYPE);
    let resources = render_users(state, &s.ctx, &s.base, &items, &proj).await?;
    Ok(list_response(total, search.start_index, resources))
}

pub async fn list_users(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    uri: Uri,
) -> Result<Response, ScimError> {
    let search = Search::from_params(query_params(&uri)?)?;
    users(&state, &s, search).await
}

pub async fn search_users(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    headers: HeaderMap,
    body: FaceBytes,
) -> Result<Response, ScimError> {
    let search = Search::from_body(&json_body(&headers, &body)?)?;
    users(&state, &s, search).await
}

// ---- groups (in memory: see the module comment)

/// Every group the filter matches, sorted, with its full representation
/// (members loaded only when the filter or the projection needs them).
async fn matching_groups(
    state: &AppState,
    ctx: &Ctx,
    base: &str,
    search: &Search,
    proj: &Projection,
) -> ScimResult<Vec<(Group, Value)>> {
    let members_attr = super::schema::GROUP.attr("members").expect("members");
    let needs_members = proj.wants(None, members_attr)
        || search
            .filter
            .as_ref()
            .is_some_and(|f| f.to_string().to_ascii_lowercase().contains("members"));
    let mut out = Vec::new();
    for g in state.roster.all_groups(ctx).await? {
        let members = if needs_members {
            Some(state.roster.all_members(ctx, g.id).await?)
        } else {
            None
        };
        let doc = super::group::full(&g, members.as_deref(), base);
        if let Some(f) = &search.filter {
            let Value::Object(m) = &doc else { continue };
            if !super::filter::eval(&GROUP_TYPE, f, m)? {
                continue;
            }
        }
        out.push((g, doc));
    }
    if let Some(by) = &search.sort_by {
        let key = group_sort_key(by)?;
        out.sort_by_key(|a| key(&a.0));
        if search.descending {
            out.reverse();
        }
    }
    Ok(out)
}

type GroupKey = fn(&Group) -> String;

fn group_sort_key(by: &str) -> ScimResult<GroupKey> {
    let unsupported = || ScimError::invalid_value(format!("cannot sort Groups by {by}"));
    let Some(Target::Attr(r)) = super::schema::resolve_text(&GROUP_TYPE, by) else {
        return Err(unsupported());
    };
    Ok(match r.dotted().as_str() {
        "displayName" => |g: &Group| g.name.to_lowercase(),
        "externalId" => |g: &Group| {
            g.attributes
                .get(super::group::EXTERNAL_ID_KEY)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        },
        "id" | "meta.created" => |g: &Group| format!("{:020}", g.seq),
        "meta.lastModified" => |g: &Group| super::user::time_text(g.updated_at),
        _ => return Err(unsupported()),
    })
}

async fn groups(state: &AppState, s: &ScimCaller, search: Search) -> ScimResult<Response> {
    let proj = search.projection(&GROUP_TYPE);
    let all = matching_groups(state, &s.ctx, &s.base, &search, &proj).await?;
    let total = all.len() as u64;
    let resources = all
        .into_iter()
        .skip(search.offset as usize)
        .take(search.count as usize)
        .map(|(_, doc)| proj.apply(&GROUP_TYPE, &doc))
        .collect();
    Ok(list_response(total, search.start_index, resources))
}

pub async fn list_groups(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    uri: Uri,
) -> Result<Response, ScimError> {
    let search = Search::from_params(query_params(&uri)?)?;
    groups(&state, &s, search).await
}

pub async fn search_groups(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    headers: HeaderMap,
    body: FaceBytes,
) -> Result<Response, ScimError> {
    let search = Search::from_body(&json_body(&headers, &body)?)?;
    groups(&state, &s, search).await
}

// ---- both (`POST /.search`)

/// Users first, then groups. A filter naming an attribute only one of
/// them has matches none of the other; one neither has is refused.
pub async fn search_all(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    headers: HeaderMap,
    body: FaceBytes,
) -> Result<Response, ScimError> {
    let search = Search::from_body(&json_body(&headers, &body)?)?;
    let user_filter = match &search.filter {
        Some(f) => super::filter::to_user_filter(&USER_TYPE, f).map(Some),
        None => Ok(None),
    };
    let group_ok = match &search.filter {
        Some(f) => super::filter::eval(&GROUP_TYPE, f, &serde_json::Map::new()).map(|_| ()),
        None => Ok(()),
    };
    if let (Err(e), Err(_)) = (&user_filter, &group_ok) {
        return Err(ScimError::new(e.status, e.scim_type, e.detail.clone()));
    }
    // A sort key only one type has orders that type; the other keeps its order.
    let user_search = Search {
        sort_by: search.sort_by.clone().filter(|b| user_sort(b).is_ok()),
        ..Default::default()
    };
    let group_search = Search {
        filter: search.filter.clone(),
        sort_by: search.sort_by.clone().filter(|b| group_sort_key(b).is_ok()),
        descending: search.descending,
        ..Default::default()
    };
    let user_search = Search {
        descending: search.descending,
        ..user_search
    };
    let (mut resources, user_total) = match user_filter {
        Ok(filter) => {
            let (items, total) = user_page(
                &state,
                &s.ctx,
                &user_search,
                filter,
                search.offset,
                search.count,
            )
            .await?;
            let proj = search.projection(&USER_TYPE);
            (
                render_users(&state, &s.ctx, &s.base, &items, &proj).await?,
                total,
            )
        }
        Err(_) => (Vec::new(), 0),
    };
    let proj = search.projection(&GROUP_TYPE);
    let groups = if group_ok.is_ok() {
        matching_groups(&state, &s.ctx, &s.base, &group_search, &proj).await?
    } else {
        Vec::new()
    };
    let total = user_total + groups.len() as u64;
    let room = (search.count as usize).saturating_sub(resources.len());
    let skip = search.offset.saturating_sub(user_total) as usize;
    resources.extend(
        groups
            .into_iter()
            .skip(skip)
            .take(room)
            .map(|(_, doc)| proj.apply(&GROUP_TYPE, &doc)),
    );
    Ok(list_response(total, search.start_index, resources))
}
