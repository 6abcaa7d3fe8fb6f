//! PatchOp (RFC 7644 §3.5.2) on a resource's JSON document, and the
//! canonical form of client documents (attribute names matched without
//! case, as RFC 7643 §2.1 has it).
//!
//! A PATCH is applied to the current representation in memory; the
//! result is then parsed and written with ONE core call, so either every
//! operation takes effect or none does. Paths are parsed by scim_v2.

use scim_v2::filter::{AttrExp, CompValue, CompareOp, PatchPath, ValFilter};
use serde_json::{Map, Value};

use super::error::{ScimError, ScimResult, ScimType};
use super::filter::{check_val, eval_val};
use super::schema::{self, Attr, Mutability, Resolved, ResourceType, Schema, Target, Type};

pub const PATCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// Parses a PATCH path; any failure is `invalidPath`.
pub fn parse_path(text: &str) -> ScimResult<PatchPath> {
    text.parse::<PatchPath>()
        .map_err(|e| ScimError::invalid_path(format!("the path cannot be parsed: {e}")))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone)]
pub struct Op {
    pub kind: OpKind,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// Reads a PatchOp body. Operation names are matched without case
/// (Entra sends `"Replace"`).
pub fn parse_body(body: &Value) -> ScimResult<Vec<Op>> {
    let Value::Object(m) = body else {
        return Err(ScimError::invalid_syntax(
            "the body must be a PatchOp object",
        ));
    };
    if let Some(schemas) = m.get("schemas") {
        let ok = schemas.as_array().is_some_and(|s| {
            s.iter().any(|u| {
                u.as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(PATCH_URN))
            })
        });
        if !ok {
            return Err(ScimError::invalid_syntax(format!(
                "schemas must contain {PATCH_URN}"
            )));
        }
    }
    let ops = m
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .map(|(_, v)| v)
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("Operations must be a list"))?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("Operations must not be empty"));
    }
    ops.iter()
        .map(|o| {
            let Value::Object(o) = o else {
                return Err(ScimError::invalid_syntax(
                    "each operation must be an object",
                ));
            };
            let get = |name: &str| {
                o.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            };
            let kind = match get("op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => OpKind::Add,
                Some("remove") => OpKind::Remove,
                Some("replace") => OpKind::Replace,
                _ => {
                    return Err(ScimError::invalid_syntax(
                        "op must be add, remove or replace",
                    ));
                }
            };
            let path = match get("path") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.trim().is_empty() => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(ScimError::invalid_path("path must be a string")),
            };
            Ok(Op {
                kind,
                path,
                value: get("value").cloned(),
            })
        })
        .collect()
}

// ---- canonical documents

/// A value with its sub-attribute names in canonical case (unknown
/// sub-attributes dropped).
fn canon_value(attr: &'static Attr, v: Value) -> Value {
    if attr.ty != Type::Complex {
        return v;
    }
    let one = |v: Value| match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, sv) in m {
                if let Some(sub) = attr.sub_attr(&k) {
                    out.insert(sub.name.to_string(), sv);
                }
            }
            Value::Object(out)
        }
        other => other,
    };
    match v {
        Value::Array(items) => Value::Array(items.into_iter().map(one).collect()),
        other => one(other),
    }
}

fn container<'a>(
    doc: &'a mut Map<String, Value>,
    ext: Option<&'static Schema>,
) -> &'a mut Map<String, Value> {
    match ext {
        None => doc,
        Some(e) => {
            let slot = doc
                .entry(e.id.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            slot.as_object_mut().expect("just made an object")
        }
    }
}

/// A client's resource document with attribute names made canonical and
/// unknown attributes left out (RFC 7644 §3.3: ignored). Fully qualified
/// keys (`urn:...:User:department`, `name.givenName`) are placed where they
/// belong.
pub fn canonical_doc(rt: &ResourceType, body: &Value) -> ScimResult<Map<String, Value>> {
    let Value::Object(m) = body else {
        return Err(ScimError::invalid_syntax("the body must be a JSON object"));
    };
    let mut out = Map::new();
    for (k, v) in m {
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        put_canonical(rt, &mut out, k, v.clone())?;
    }
    Ok(out)
}

fn put_canonical(
    rt: &ResourceType,
    out: &mut Map<String, Value>,
    key: &str,
    v: Value,
) -> ScimResult<()> {
    if let Some(schema) = rt.schema(key) {
        let Value::Object(inner) = v else {
            return Err(ScimError::invalid_value(format!("{key} must be an object")));
        };
        let ext = (!std::ptr::eq(schema, rt.core)).then_some(schema);
        for (ik, iv) in inner {
            let full = format!("{}:{ik}", schema.id);
            match schema::resolve_text(rt, &full) {
                Some(Target::Attr(r)) if ext.is_none() || r.ext.is_some() => {
                    place(out, &r, iv);
                }
                _ => {}
            }
        }
        if let Some(e) = ext {
            container(out, Some(e));
        }
        return Ok(());
    }
    if let Some(Target::Attr(r)) = schema::resolve_text(rt, key) {
        place(out, &r, v);
    }
    Ok(())
}

fn place(out: &mut Map<String, Value>, r: &Resolved, v: Value) {
    let c = container(out, r.ext);
    match r.sub {
        None => {
            c.insert(r.attr.name.to_string(), canon_value(r.attr, v));
        }
        Some(sub) => {
            let parent = c
                .entry(r.attr.name.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(p) = parent {
                p.insert(sub.name.to_string(), v);
            }
        }
    }
}

// ---- applying operations

/// Applies the operations in order to `doc` (a full representation).
pub fn apply(rt: &ResourceType, doc: &mut Map<String, Value>, ops: &[Op]) -> ScimResult<()> {
    for op in ops {
        apply_one(rt, doc, op)?;
    }
    Ok(())
}

fn apply_one(rt: &ResourceType, doc: &mut Map<String, Value>, op: &Op) -> ScimResult<()> {
    let Some(path) = &op.path else {
        if op.kind == OpKind::Remove {
            return Err(ScimError::bad(ScimType::NoTarget, "remove needs a path"));
        }
        let Some(Value::Object(m)) = &op.value else {
            return Err(ScimError::invalid_value(
                "without a path, value must be an object of attributes",
            ));
        };
        for (k, v) in m {
            if k.eq_ignore_ascii_case("schemas") {
                continue;
            }
            let sub = Op {
                kind: op.kind,
                path: Some(k.clone()),
                value: Some(v.clone()),
            };
            apply_one(rt, doc, &sub)?;
        }
        return Ok(());
    };
    // A whole extension (`urn:...:enterprise:2.0:User`).
    if let Some(ext) = rt.schema(path.trim())
        && !std::ptr::eq(ext, rt.core)
    {
        return match op.kind {
            OpKind::Remove => {
                doc.remove(ext.id);
                Ok(())
            }
            _ => {
                let Some(Value::Object(m)) = &op.value else {
                    return Err(ScimError::invalid_value(format!(
                        "{} needs an object",
                        ext.id
                    )));
                };
                for (k, v) in m {
                    if k.eq_ignore_ascii_case("schemas") {
                        continue;
                    }
                    let sub = Op {
                        kind: op.kind,
                        path: Some(format!("{}:{k}", ext.id)),
                        value: Some(v.clone()),
                    };
                    apply_one(rt, doc, &sub)?;
                }
                Ok(())
            }
        };
    }
    match parse_path(path)? {
        PatchPath::Attr(a) => {
            let r = match schema::resolve(rt, a.uri.as_deref(), &a.name, a.sub_attr.as_deref()) {
                Some(Target::Attr(r)) => r,
                Some(Target::Extension(ext)) => {
                    let sub = Op {
                        path: Some(ext.id.to_string()),
                        ..op.clone()
                    };
                    return apply_one(rt, doc, &sub);
                }
                None => return ignored(path, "roster keeps no such attribute"),
            };
            if r.derived() {
                return ignored(path, "derived from other attributes");
            }
            // Okta renames a group with `replace {id, displayName}`: a
            // read-only attribute given the value it has is not a change.
            if r.read_only() && op.kind != OpKind::Remove && op.value.is_some()
                && current(doc, &r) == op.value.as_ref()
            {
                return ignored(path, "writes the value it has");
            }
            check_mutable(&r, op.kind)?;
            apply_attr(doc, &r, op)
        }
        PatchPath::Value(vp) => {
            let r = match schema::resolve(
                rt,
                vp.attr.uri.as_deref(),
                &vp.attr.name,
                vp.attr.sub_attr.as_deref(),
            ) {
                Some(Target::Attr(r))
                    if r.sub.is_none() && r.attr.ty == Type::Complex && r.attr.multi =>
                {
                    r
                }
                None => return ignored(path, "roster keeps no such attribute"),
                _ => {
                    return Err(ScimError::invalid_path(format!(
                        "{} is not a multi-valued complex attribute of {}",
                        vp.attr, rt.name
                    )));
                }
            };
            let sub = match &vp.sub_attr {
                None => None,
                Some(s) => Some(r.attr.sub_attr(s).ok_or_else(|| {
                    ScimError::invalid_path(format!("{} has no sub-attribute {s}", r.attr.name))
                })?),
            };
            let r = Resolved { sub, ..r };
            if r.derived() {
                return ignored(path, "derived from other attributes");
            }
            check_mutable(&r, op.kind)?;
            check_val(r.attr, &vp.filter).map_err(as_path_error)?;
            apply_filtered(doc, &r, &vp.filter, op)
        }
    }
}

fn as_path_error(e: ScimError) -> ScimError {
    if e.scim_type == Some(ScimType::InvalidFilter) {
        ScimError::invalid_path(e.detail)
    } else {
        e
    }
}

/// An operation on an attribute roster does not keep (Entra's and Okta's
/// default mappings send `preferredLanguage`, `addresses`, the enterprise
/// `manager`, …) or on a derived one is skipped, as a create or replace
/// skips such attributes: the rest of the PATCH still applies.
fn ignored(path: &str, why: &str) -> ScimResult<()> {
    tracing::debug!(path, why, "PATCH operation ignored");
    Ok(())
}

/// The value `r` names in `doc`, if it has one.
fn current<'a>(doc: &'a Map<String, Value>, r: &Resolved) -> Option<&'a Value> {
    let c = match r.ext {
        Some(e) => doc.get(e.id)?.as_object()?,
        None => doc,
    };
    let v = c.get(r.attr.name)?;
    match r.sub {
        None => Some(v),
        Some(sub) => v.as_object()?.get(sub.name),
    }
}

fn check_mutable(r: &Resolved, kind: OpKind) -> ScimResult<()> {
    if r.read_only() {
        return Err(ScimError::mutability(format!(
            "{} is read-only",
            r.dotted()
        )));
    }
    // Members' values are immutable: they are added and removed, not edited.
    if r.sub.is_some_and(|s| s.mutability == Mutability::Immutable) && kind == OpKind::Replace {
        return Err(ScimError::mutability(format!(
            "{} is immutable",
            r.dotted()
        )));
    }
    if r.names_password() && kind == OpKind::Remove {
        return Err(ScimError::mutability(
            "password cannot be removed; set a new one",
        ));
    }
    Ok(())
}

fn needs_value(op: &Op) -> ScimResult<Value> {
    match &op.value {
        Some(v) => Ok(v.clone()),
        None => Err(ScimError::invalid_value(format!(
            "{} needs a value",
            match op.kind {
                OpKind::Add => "add",
                OpKind::Replace => "replace",
                OpKind::Remove => "remove",
            }
        ))),
    }
}

fn as_list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// Whether two elements of a multi-valued attribute are the same value
/// (by `value` when both have one).
fn same_element(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn apply_attr(doc: &mut Map<String, Value>, r: &Resolved, op: &Op) -> ScimResult<()> {
    let attr = r.attr;
    let c = container(doc, r.ext);
    let key = attr.name;
    match (r.sub, op.kind) {
        (None, OpKind::Remove) => {
            match (&op.value, attr.multi) {
                // Entra/Okta: remove these members (a list of {value}).
                (Some(v), true) if !v.is_null() => {
                    let gone = as_list(canon_value(attr, v.clone()));
                    if let Some(Value::Array(items)) = c.get_mut(key) {
                        items.retain(|i| !gone.iter().any(|g| same_element(i, g)));
                        if items.is_empty() {
                            c.remove(key);
                        }
                    }
                }
                _ => {
                    c.remove(key);
                }
            }
        }
        (None, kind) => {
            let v = canon_value(attr, needs_value(op)?);
            if attr.multi {
                let new = as_list(v);
                if kind == OpKind::Replace {
                    if new.is_empty() {
                        c.remove(key);
                    } else {
                        c.insert(key.to_string(), Value::Array(new));
                    }
                } else {
                    let slot = c
                        .entry(key.to_string())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if !slot.is_array() {
                        *slot = Value::Array(Vec::new());
                    }
                    let items = slot.as_array_mut().expect("just made a list");
                    for n in new {
                        if let Some(existing) = items.iter_mut().find(|i| same_element(i, &n)) {
                            merge_into(existing, n);
                        } else {
                            items.push(n);
                        }
                    }
                }
            } else if attr.ty == Type::Complex {
                // RFC 7644 §3.5.2.1/3: sub-attributes given replace, others stay.
                let Value::Object(m) = v else {
                    if v.is_null() {
                        c.remove(key);
                        return Ok(());
                    }
                    return Err(ScimError::invalid_value(format!("{key} must be an object")));
                };
                let slot = c
                    .entry(key.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                let target = slot.as_object_mut().expect("just made an object");
                for (k, sv) in m {
                    target.insert(k, sv);
                }
            } else if v.is_null() {
                c.remove(key);
            } else {
                c.insert(key.to_string(), v);
            }
        }
        (Some(sub), kind) => {
            let value = if kind == OpKind::Remove {
                None
            } else {
                Some(needs_value(op)?)
            };
            if attr.multi {
                // `emails.value`: every element (one, in roster), or a new one.
                let slot = c
                    .entry(key.to_string())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                let items = slot.as_array_mut().expect("just made a list");
                match value {
                    None => {
                        for i in items.iter_mut() {
                            if let Value::Object(m) = i {
                                m.remove(sub.name);
                            }
                        }
                    }
                    Some(v) => {
                        if items.is_empty() {
                            let mut m = Map::new();
                            m.insert(sub.name.to_string(), v);
                            items.push(Value::Object(m));
                        } else {
                            for i in items.iter_mut() {
                                if let Value::Object(m) = i {
                                    m.insert(sub.name.to_string(), v.clone());
                                }
                            }
                        }
                    }
                }
                if items.is_empty() {
                    c.remove(key);
                }
            } else {
                let slot = c
                    .entry(key.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                let parent = slot.as_object_mut().expect("just made an object");
                match value {
                    None | Some(Value::Null) => {
                        parent.remove(sub.name);
                    }
                    Some(v) => {
                        parent.insert(sub.name.to_string(), v);
                    }
                }
                if parent.is_empty() {
                    c.remove(key);
                }
            }
        }
    }
    Ok(())
}

fn merge_into(existing: &mut Value, new: Value) {
    match (existing, new) {
        (Value::Object(e), Value::Object(n)) => {
            for (k, v) in n {
                e.insert(k, v);
            }
        }
        (e, n) => *e = n,
    }
}

/// The element a value filter of plain `eq` terms describes (Entra adds
/// `emails[type eq "work"].value` to a user without an email).
fn element_from_filter(f: &ValFilter) -> Option<Map<String, Value>> {
    let mut m = Map::new();
    let terms: Vec<&ValFilter> = match f {
        ValFilter::And(items) => items.iter().collect(),
        other => vec![other],
    };
    for t in terms {
        let ValFilter::Attr(AttrExp::Comparison(p, CompareOp::Eq, v)) = t else {
            return None;
        };
        let v = match v {
            CompValue::Str(s) => Value::from(s.clone()),
            CompValue::True => Value::Bool(true),
            CompValue::False => Value::Bool(false),
            CompValue::Number(n) => Value::Number(n.clone()),
            CompValue::Null => return None,
        };
        m.insert(p.name.clone(), v);
    }
    Some(m)
}

fn apply_filtered(
    doc: &mut Map<String, Value>,
    r: &Resolved,
    f: &ValFilter,
    op: &Op,
) -> ScimResult<()> {
    let attr = r.attr;
    let c = container(doc, r.ext);
    let mut items = match c.remove(attr.name) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    };
    let mut matched = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if eval_val(attr, f, item).map_err(as_path_error)? {
            matched.push(i);
        }
    }
    match op.kind {
        OpKind::Remove => {
            if let Some(sub) = r.sub {
                for &i in &matched {
                    if let Value::Object(m) = &mut items[i] {
                        m.remove(sub.name);
                    }
                }
            } else {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !matched.contains(&i);
                    i += 1;
                    keep
                });
            }
        }
        kind => {
            let v = needs_value(op)?;
            if matched.is_empty() {
                let creatable = kind == OpKind::Add;
                match (creatable, element_from_filter(f)) {
                    (true, Some(mut m)) => {
                        match r.sub {
                            Some(sub) => {
                                m.insert(sub.name.to_string(), v);
                            }
                            None => {
                                if let Value::Object(vm) = canon_value(attr, v) {
                                    m.extend(vm);
                                }
                            }
                        }
                        items.push(canon_value(attr, Value::Object(m)));
                    }
                    _ => {
                        c.insert(attr.name.to_string(), Value::Array(items));
                        return Err(ScimError::bad(
                            ScimType::NoTarget,
                            format!("no value of {} matches the filter", attr.name),
                        ));
                    }
                }
            } else {
                for &i in &matched {
                    match r.sub {
                        Some(sub) => {
                            if let Value::Object(m) = &mut items[i] {
                                m.insert(sub.name.to_string(), v.clone());
                            }
                        }
                        None => {
                            let new = canon_value(attr, v.clone());
                            if kind == OpKind::Replace {
                                items[i] = new;
                            } else {
                                merge_into(&mut items[i], new);
                            }
                        }
                    }
                }
            }
        }
    }
    if !items.is_empty() {
        c.insert(attr.name.to_string(), Value::Array(items));
    }
    Ok(())
}
