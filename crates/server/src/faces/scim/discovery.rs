//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas`, generated
//! from the attribute model in `schema.rs`. Any authenticated caller may
//! read them (RFC 7644 §4 lets a provider ask for authentication; roster
//! asks for it everywhere, so a scanner learns nothing without a key).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::Value;

use super::error::{ScimError, ScimResult};
use super::list::{LIST_URN, query_params};
use super::schema::{self, RESOURCE_TYPES, SCHEMAS};
use super::{BULK_MAX_OPERATIONS, MAX_RESULTS, ScimCaller, scim_json};
use crate::extract::Path;
use crate::state::AppState;

fn listed(items: Vec<Value>) -> Value {
    serde_json::json!({
        "schemas": [LIST_URN],
        "totalResults": items.len(),
        "itemsPerPage": items.len(),
        "startIndex": 1,
        "Resources": items,
    })
}

/// Discovery endpoints take no filter (RFC 7644 §4).
fn no_filter(uri: &Uri) -> ScimResult<()> {
    if query_params(uri)?.filter.is_some() {
        return Err(ScimError::new(
            StatusCode::FORBIDDEN,
            None,
            "discovery endpoints do not take a filter",
        ));
    }
    Ok(())
}

pub async fn service_provider_config(State(state): State<Arc<AppState>>, s: ScimCaller) -> Response {
    scim_json(
        StatusCode::OK,
        schema::service_provider_config(
            &s.base,
            BULK_MAX_OPERATIONS,
            state.http.body_limit,
            MAX_RESULTS,
        ),
    )
}

pub async fn resource_types(s: ScimCaller, uri: Uri) -> Result<Response, ScimError> {
    no_filter(&uri)?;
    Ok(scim_json(
        StatusCode::OK,
        listed(RESOURCE_TYPES.iter().map(|r| r.to_json(&s.base)).collect()),
    ))
}

pub async fn resource_type(s: ScimCaller, Path(id): Path<String>) -> Result<Response, ScimError> {
    let rt = RESOURCE_TYPES
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::not_found(format!("no resource type {id}")))?;
    Ok(scim_json(StatusCode::OK, rt.to_json(&s.base)))
}

pub async fn schemas(s: ScimCaller, uri: Uri) -> Result<Response, ScimError> {
    no_filter(&uri)?;
    Ok(scim_json(
        StatusCode::OK,
        listed(SCHEMAS.iter().map(|x| x.to_json(&s.base)).collect()),
    ))
}

pub async fn schema(s: ScimCaller, Path(id): Path<String>) -> Result<Response, ScimError> {
    let sc = SCHEMAS
        .iter()
        .find(|x| x.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::not_found(format!("no schema {id}")))?;
    Ok(scim_json(StatusCode::OK, sc.to_json(&s.base)))
}
