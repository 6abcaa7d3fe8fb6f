//! `POST /Bulk` (RFC 7644 §3.7). Each operation is the same single core
//! call its own request would make. `bulkId:x` in a later operation's path
//! or data (a group's members) names what the operation with `bulkId` x
//! created; an operation whose references are not resolved yet waits for
//! them, and references that can never resolve (unknown or circular)
//! fail that operation. `failOnErrors` stops processing after that many
//! errors. Limits: [`BULK_MAX_OPERATIONS`] operations (413 `tooMany`) and
//! the server's body limit (413).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::error::{ScimError, ScimResult, ScimType};
use super::{BULK_MAX_OPERATIONS, Reply, ScimCaller, json_body, scim_json};
use crate::extract::FaceBytes;
use crate::state::AppState;

pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

struct BulkOp {
    method: String,
    bulk_id: Option<String>,
    version: Option<String>,
    path: String,
    data: Option<Value>,
}

fn field<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn parse(body: &Value) -> ScimResult<(Vec<BulkOp>, Option<usize>)> {
    let Value::Object(m) = body else {
        return Err(ScimError::invalid_syntax(
            "the body must be a BulkRequest object",
        ));
    };
    let fail_on_errors = match field(m, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) if n >= 1 => Some(n as usize),
            _ => {
                return Err(ScimError::invalid_value(
                    "failOnErrors must be a positive integer",
                ));
            }
        },
        Some(_) => return Err(ScimError::invalid_value("failOnErrors must be an integer")),
    };
    let ops = field(m, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("Operations must be a list"))?;
    if ops.len() > BULK_MAX_OPERATIONS {
        return Err(ScimError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some(ScimType::TooMany),
            format!("the number of operations exceeds the maxOperations ({BULK_MAX_OPERATIONS})"),
        ));
    }
    let mut out = Vec::new();
    for op in ops {
        let Value::Object(o) = op else {
            return Err(ScimError::invalid_syntax(
                "each operation must be an object",
            ));
        };
        let text = |name: &str| field(o, name).and_then(Value::as_str).map(str::to_owned);
        out.push(BulkOp {
            method: text("method")
                .ok_or_else(|| ScimError::invalid_syntax("each operation needs a method"))?
                .to_ascii_uppercase(),
            bulk_id: text("bulkId"),
            version: text("version"),
            path: text("path")
                .ok_or_else(|| ScimError::invalid_syntax("each operation needs a path"))?,
            data: field(o, "data").cloned(),
        });
    }
    Ok((out, fail_on_errors))
}

/// The bulkIds a string or document refers to.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix("bulkId:") {
                out.push(id.to_string());
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, out)),
        Value::Object(m) => m.values().for_each(|i| references(i, out)),
        _ => {}
    }
}

fn op_references(op: &BulkOp) -> Vec<String> {
    let mut out = Vec::new();
    for seg in op.path.split('/') {
        if let Some(id) = seg.strip_prefix("bulkId:") {
            out.push(id.to_string());
        }
    }
    if let Some(d) = &op.data {
        references(d, &mut out);
    }
    out
}

fn substitute(v: &mut Value, ids: &HashMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix("bulkId:")
                && let Some(real) = ids.get(id)
            {
                *s = real.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, ids)),
        Value::Object(m) => m.values_mut().for_each(|i| substitute(i, ids)),
        _ => {}
    }
}

async fn run(
    state: &AppState,
    s: &ScimCaller,
    op: &BulkOp,
    ids: &HashMap<String, String>,
) -> ScimResult<Reply> {
    let path: Vec<String> = op
        .path
        .trim_matches('/')
        .split('/')
        .map(|seg| match seg.strip_prefix("bulkId:") {
            Some(b) => ids.get(b).cloned().unwrap_or_else(|| seg.to_string()),
            None => seg.to_string(),
        })
        .collect();
    let mut data = op.data.clone().unwrap_or(Value::Null);
    substitute(&mut data, ids);
    let if_match = match &op.version {
        None => None,
        Some(v) => {
            let t = v.trim();
            let t = t.strip_prefix("W/").unwrap_or(t).trim_matches('"');
            if t == "*" {
                None
            } else {
                Some(
                    t.parse::<i64>()
                        .map_err(|_| ScimError::from(roster_core::CoreError::PreconditionFailed))?,
                )
            }
        }
    };
    let (ctx, base) = (&s.ctx, s.base.as_str());
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    let gone = |status| Reply {
        status,
        body: Value::Null,
        version: None,
        location: None,
    };
    match (op.method.as_str(), segs.as_slice()) {
        ("POST", ["Users"]) => super::user::create_user(state, ctx, base, &data).await,
        ("POST", ["Groups"]) => super::group::create_group(state, ctx, base, &data).await,
        ("PUT", ["Users", id]) => {
            let id = super::parse_id(id, "user")?;
            super::user::replace_user(state, ctx, base, id, &data, if_match).await
        }
        ("PATCH", ["Users", id]) => {
            let id = super::parse_id(id, "user")?;
            super::user::patch_user(state, ctx, base, id, &data, if_match).await
        }
        ("DELETE", ["Users", id]) => {
            let id = super::parse_id(id, "user")?;
            super::user::delete_user(state, ctx, id, if_match).await?;
            Ok(gone(StatusCode::NO_CONTENT))
        }
        ("PUT", ["Groups", id]) => {
            let id = super::parse_id(id, "group")?;
            super::group::replace_group(state, ctx, base, id, &data, if_match).await
        }
        ("PATCH", ["Groups", id]) => {
            let id = super::parse_id(id, "group")?;
            super::group::patch_group(state, ctx, base, id, &data, if_match).await
        }
        ("DELETE", ["Groups", id]) => {
            let id = super::parse_id(id, "group")?;
            super::group::delete_group(state, ctx, id, if_match).await?;
            Ok(gone(StatusCode::NO_CONTENT))
        }
        ("POST" | "PUT" | "PATCH" | "DELETE", _) => Err(ScimError::invalid_path(format!(
            "{} {} is not an operation Bulk can run",
            op.method, op.path
        ))),
        _ => Err(ScimError::invalid_syntax(format!(
            "method {} is not one of POST, PUT, PATCH, DELETE",
            op.method
        ))),
    }
}

pub async fn bulk(
    State(state): State<Arc<AppState>>,
    s: ScimCaller,
    headers: HeaderMap,
    body: FaceBytes,
) -> Result<Response, ScimError> {
    let body = json_body(&headers, &body)?;
    let (ops, fail_on_errors) = parse(&body)?;
    let mut seen = std::collections::HashSet::new();
    for op in &ops {
        if let Some(b) = &op.bulk_id
            && !seen.insert(b.clone())
        {
            return Err(ScimError::invalid_value(format!(
                "bulkId {b} is used twice"
            )));
        }
    }
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut results: Vec<Option<Value>> = vec![None; ops.len()];
    let mut failed_ids = std::collections::HashSet::new();
    let mut errors = 0usize;
    let mut pending: Vec<usize> = (0..ops.len()).collect();
    'passes: while !pending.is_empty() {
        let mut progressed = false;
        let mut still = Vec::new();
        for &i in &pending {
            let op = &ops[i];
            let refs = op_references(op);
            let unresolvable = refs
                .iter()
                .find(|r| !seen.contains(*r) || failed_ids.contains(*r))
                .cloned();
            let waiting = refs.iter().any(|r| !ids.contains_key(r));
            let outcome = if op.method == "POST" && op.bulk_id.is_none() {
                Some(Err(ScimError::invalid_syntax(
                    "a POST operation needs a bulkId",
                )))
            } else if let Some(r) = unresolvable {
                Some(Err(ScimError::new(
                    StatusCode::CONFLICT,
                    Some(ScimType::InvalidValue),
                    format!("bulkId {r} names no operation that succeeded"),
                )))
            } else if waiting {
                None
            } else {
                Some(run(&state, &s, op, &ids).await)
            };
            let Some(outcome) = outcome else {
                still.push(i);
                continue;
            };
            progressed = true;
            let mut entry = json!({ "method": op.method });
            if let Some(b) = &op.bulk_id {
                entry["bulkId"] = json!(b);
            }
            match outcome {
                Ok(reply) => {
                    if let (Some(b), Some(id)) =
                        (&op.bulk_id, reply.body.get("id").and_then(Value::as_str))
                    {
                        ids.insert(b.clone(), id.to_string());
                    }
                    entry["status"] = json!(reply.status.as_u16().to_string());
                    if let Some(l) = &reply.location {
                        entry["location"] = json!(l);
                    }
                    if let Some(v) = reply.version {
                        entry["version"] = json!(super::user::version_tag(v));
                    }
                }
                Err(e) => {
                    if let Some(b) = &op.bulk_id {
                        failed_ids.insert(b.clone());
                    }
                    errors += 1;
                    entry["status"] = json!(e.status.as_u16().to_string());
                    entry["response"] = e.body();
                }
            }
            if op.method != "POST" {
                entry["location"] = entry.get("location").cloned().unwrap_or_else(|| {
                    json!(format!("{}/{}", s.base, op.path.trim_start_matches('/')))
                });
            }
            results[i] = Some(entry);
            if fail_on_errors.is_some_and(|n| errors >= n) {
                break 'passes;
            }
        }
        pending = still;
        if !progressed {
            // Circular references: none of the rest can ever run.
            for i in pending.drain(..) {
                let op = &ops[i];
                let e = ScimError::new(
                    StatusCode::CONFLICT,
                    Some(ScimType::InvalidValue),
                    "circular bulkId references",
                );
                let mut entry = json!({
                    "method": op.method,
                    "status": "409",
                    "response": e.body(),
                });
                if let Some(b) = &op.bulk_id {
                    entry["bulkId"] = json!(b);
                }
                results[i] = Some(entry);
            }
        }
    }
    Ok(scim_json(
        StatusCode::OK,
        json!({
            "schemas": [BULK_RESPONSE_URN],
            "Operations": results.into_iter().flatten().collect::<Vec<_>>(),
        }),
    ))
}
