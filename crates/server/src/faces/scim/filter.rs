//! SCIM filters (RFC 7644 §3.4.2.2), parsed by the scim_v2 crate.
//!
//! User filters are translated into the core's [`UserFilter`], which the
//! store compiles into its query with bound values: users are never read
//! wholesale to be filtered here. Group filters (and PATCH value-path
//! filters over one resource's values) are evaluated on the JSON
//! representation by [`eval`] (roster has few groups and no group query).

use roster_core::user_filter::{Cmp, FieldKind, FilterValue, UserField, UserFilter};
use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, ValFilter};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::error::{ScimError, ScimResult, ScimType};
use super::schema::{self, Attr, ENTERPRISE_URN, ROSTER_URN, Resolved, ResourceType, Target, Type};
use super::user::ENTERPRISE_KEYS;

/// Parses a filter; any failure (syntax, depth or term limits) is
/// `invalidFilter`.
pub fn parse(text: &str) -> ScimResult<Filter> {
    text.parse::<Filter>()
        .map_err(|e| ScimError::invalid_filter(format!("the filter cannot be parsed: {e}")))
}

fn resolve(rt: &ResourceType, path: &AttrPath) -> ScimResult<Resolved> {
    match schema::resolve(
        rt,
        path.uri.as_deref(),
        &path.name,
        path.sub_attr.as_deref(),
    ) {
        Some(Target::Attr(r)) => {
            if r.names_password() {
                return Err(ScimError::bad(
                    ScimType::Sensitive,
                    "password cannot be used in a filter",
                ));
            }
            Ok(r)
        }
        Some(Target::Extension(_)) | None => Err(ScimError::invalid_filter(format!(
            "{path} is not an attribute of {}",
            rt.name
        ))),
    }
}

// ---- users: filter → UserFilter

/// What a user attribute is in the store's terms.
enum Mapped {
    Field(UserField),
    /// A value every user with `present` has (the email's type `work`).
    Constant(Value, Option<UserField>),
    /// `name`: present when either name part is.
    Name,
}

fn map_user(r: &Resolved) -> ScimResult<Mapped> {
    use UserField as F;
    let dotted = r.dotted();
    let field = match dotted.as_str() {
        "id" => F::Id,
        "externalId" => F::ExternalId,
        "userName" => F::Username,
        "name.givenName" => F::FirstName,
        "name.familyName" => F::LastName,
        "name" | "name.formatted" => return Ok(Mapped::Name),
        "displayName" => F::DisplayName,
        "emails" | "emails.value" => F::Email,
        "emails.type" => return Ok(Mapped::Constant(Value::from("work"), Some(F::Email))),
        "emails.primary" => return Ok(Mapped::Constant(Value::Bool(true), Some(F::Email))),
        "phoneNumbers" | "phoneNumbers.value" => F::Phone,
        "phoneNumbers.type" => return Ok(Mapped::Constant(Value::from("work"), Some(F::Phone))),
        "phoneNumbers.primary" => {
            return Ok(Mapped::Constant(Value::Bool(true), Some(F::Phone)));
        }
        "title" => F::JobTitle,
        "timezone" => F::Timezone,
        "locale" => F::Locale,
        "active" => F::Active,
        "meta.created" => F::CreatedAt,
        "meta.lastModified" => F::UpdatedAt,
        "meta.resourceType" => return Ok(Mapped::Constant(Value::from("User"), None)),
        _ => {
            let roster = format!("{ROSTER_URN}:");
            let enterprise = format!("{ENTERPRISE_URN}:");
            if let Some(name) = dotted.strip_prefix(&roster) {
                match name {
                    "seq" => F::Seq,
                    "containerId" => F::ContainerId,
                    "mfaRequired" => F::MfaRequired,
                    "samlSsoOnly" => F::SamlSsoOnly,
                    "emailVerified" => F::EmailVerified,
                    "securityLevel" => F::SecurityLevel,
                    "distinguishedName" => F::DistinguishedName,
                    "lastLoginAt" => F::LastLoginAt,
                    _ => return Err(not_filterable(&dotted)),
                }
            } else if let Some(name) = dotted.strip_prefix(&enterprise)
                && let Some((_, key)) = ENTERPRISE_KEYS.iter().find(|(n, _)| *n == name)
            {
                F::Attribute((*key).to_string())
            } else {
                return Err(not_filterable(&dotted));
            }
        }
    };
    Ok(Mapped::Field(field))
}

fn not_filterable(name: &str) -> ScimError {
    ScimError::invalid_filter(format!("{name} cannot be used in a filter"))
}

fn cmp(op: &CompareOp) -> Cmp {
    match op {
        CompareOp::Eq => Cmp::Eq,
        CompareOp::Ne => Cmp::Ne,
        CompareOp::Co => Cmp::Co,
        CompareOp::Sw => Cmp::Sw,
        CompareOp::Ew => Cmp::Ew,
        CompareOp::Gt => Cmp::Gt,
        CompareOp::Ge => Cmp::Ge,
        CompareOp::Lt => Cmp::Lt,
        CompareOp::Le => Cmp::Le,
    }
}

fn is_ordering(op: &CompareOp) -> bool {
    matches!(
        op,
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
    )
}

fn is_text_op(op: &CompareOp) -> bool {
    matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew)
}

/// One comparison on one user field, the value checked against the
/// field's kind.
fn user_compare(
    field: UserField,
    op: &CompareOp,
    value: &CompValue,
    name: &str,
) -> ScimResult<UserFilter> {
    let bad = |what: &str| ScimError::invalid_filter(format!("{name} {op} needs {what}"));
    if matches!(value, CompValue::Null) {
        return match op {
            CompareOp::Eq => Ok(UserFilter::Not(Box::new(UserFilter::Present(field)))),
            CompareOp::Ne => Ok(UserFilter::Present(field)),
            _ => Err(bad("a non-null value")),
        };
    }
    let v = match field.kind() {
        FieldKind::Text => match value {
            CompValue::Str(s) => FilterValue::Text(s.clone()),
            _ => return Err(bad("a string")),
        },
        FieldKind::Bool => {
            if is_ordering(op) || is_text_op(op) {
                return Err(bad("eq or ne (a boolean)"));
            }
            match value {
                CompValue::True => FilterValue::Bool(true),
                CompValue::False => FilterValue::Bool(false),
                CompValue::Str(s) if s.eq_ignore_ascii_case("true") => FilterValue::Bool(true),
                CompValue::Str(s) if s.eq_ignore_ascii_case("false") => FilterValue::Bool(false),
                _ => return Err(bad("a boolean")),
            }
        }
        FieldKind::Int => {
            if is_text_op(op) {
                return Err(bad("a comparison, not a text match (an integer)"));
            }
            match value {
                CompValue::Number(n) => {
                    FilterValue::Int(n.as_i64().ok_or_else(|| bad("an integer"))?)
                }
                CompValue::Str(s) => {
                    FilterValue::Int(s.trim().parse().map_err(|_| bad("an integer"))?)
                }
                _ => return Err(bad("an integer")),
            }
        }
        FieldKind::Time => {
            if is_text_op(op) {
                return Err(bad("a comparison, not a text match (a dateTime)"));
            }
            match value {
                CompValue::Str(s) => FilterValue::Time(
                    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| bad("an RFC 3339 dateTime"))?,
                ),
                _ => return Err(bad("a dateTime string")),
            }
        }
        FieldKind::Uuid => {
            if is_ordering(op) || is_text_op(op) {
                return Err(bad("eq or ne (an id)"));
            }
            let CompValue::Str(s) = value else {
                return Err(bad("a string"));
            };
            match uuid::Uuid::parse_str(s) {
                Ok(u) => FilterValue::Uuid(u),
                // No resource has such an id.
                Err(_) => {
                    return Ok(if matches!(op, CompareOp::Eq) {
                        UserFilter::Nothing
                    } else {
                        UserFilter::All
                    });
                }
            }
        }
        FieldKind::Json => match value {
            CompValue::Str(s) => FilterValue::Text(s.clone()),
            CompValue::True => FilterValue::Bool(true),
            CompValue::False => FilterValue::Bool(false),
            CompValue::Number(n) => FilterValue::Int(n.as_i64().ok_or_else(|| bad("an integer"))?),
            CompValue::Null => FilterValue::Null,
        },
    };
    Ok(UserFilter::Compare(field, cmp(op), v))
}

fn user_attr_exp(
    rt: &ResourceType,
    e: &AttrExp,
    within: Option<&Resolved>,
) -> ScimResult<UserFilter> {
    let path = match e {
        AttrExp::Present(p) | AttrExp::Comparison(p, _, _) => p,
    };
    let r = match within {
        // Inside `emails[...]`: names are the value's sub-attributes.
        Some(parent) => {
            if path.uri.is_some() || path.sub_attr.is_some() {
                return Err(ScimError::invalid_filter(format!(
                    "{path} inside {}[...] must name a sub-attribute",
                    parent.attr.name
                )));
            }
            let sub = parent.attr.sub_attr(&path.name).ok_or_else(|| {
                ScimError::invalid_filter(format!(
                    "{} has no sub-attribute {}",
                    parent.attr.name, path.name
                ))
            })?;
            Resolved {
                sub: Some(sub),
                ..*parent
            }
        }
        None => resolve(rt, path)?,
    };
    let name = r.dotted();
    match (map_user(&r)?, e) {
        (Mapped::Field(f), AttrExp::Present(_)) => Ok(UserFilter::Present(f)),
        (Mapped::Field(f), AttrExp::Comparison(_, op, v)) => user_compare(f, op, v, &name),
        (Mapped::Name, AttrExp::Present(_)) => Ok(UserFilter::Or(vec![
            UserFilter::Present(UserField::FirstName),
            UserFilter::Present(UserField::LastName),
        ])),
        (Mapped::Name, AttrExp::Comparison(..)) => Err(ScimError::invalid_filter(format!(
            "{name} can only be tested with pr; filter on name.givenName or name.familyName"
        ))),
        (Mapped::Constant(_, present), AttrExp::Present(_)) => Ok(match present {
            Some(f) => UserFilter::Present(f),
            None => UserFilter::All,
        }),
        (Mapped::Constant(c, present), AttrExp::Comparison(_, op, v)) => {
            let holds = compare_value(&c, op, v, r.leaf())?;
            Ok(match (holds, present) {
                (false, _) => UserFilter::Nothing,
                (true, Some(f)) => UserFilter::Present(f),
                (true, None) => UserFilter::All,
            })
        }
    }
}

/// Translates a user filter for the store.
pub fn to_user_filter(rt: &ResourceType, f: &Filter) -> ScimResult<UserFilter> {
    Ok(match f {
        Filter::Attr(e) => user_attr_exp(rt, e, None)?,
        Filter::Not(inner) => UserFilter::Not(Box::new(to_user_filter(rt, inner)?)),
        Filter::And(items) => UserFilter::And(
            items
                .iter()
                .map(|i| to_user_filter(rt, i))
                .collect::<ScimResult<_>>()?,
        ),
        Filter::Or(items) => UserFilter::Or(
            items
                .iter()
                .map(|i| to_user_filter(rt, i))
                .collect::<ScimResult<_>>()?,
        ),
        Filter::ValuePath(vp) => {
            let r = resolve(rt, &vp.attr)?;
            if r.sub.is_some() || r.attr.ty != Type::Complex {
                return Err(ScimError::invalid_filter(format!(
                    "{} is not a complex attribute",
                    vp.attr
                )));
            }
            if r.ext.is_some_and(|e| e.id == ROSTER_URN) && r.attr.name == "attributes" {
                return custom_attribute_filter(&vp.filter);
            }
            // roster keeps one value of each multi-valued attribute, so a
            // condition on "some value" is a condition on that value.
            user_val_filter(rt, &vp.filter, &r)?
        }
    })
}

fn user_val_filter(rt: &ResourceType, f: &ValFilter, parent: &Resolved) -> ScimResult<UserFilter> {
    Ok(match f {
        ValFilter::Attr(e) => user_attr_exp(rt, e, Some(parent))?,
        ValFilter::Not(inner) => UserFilter::Not(Box::new(user_val_filter(rt, inner, parent)?)),
        ValFilter::And(items) => UserFilter::And(
            items
                .iter()
                .map(|i| user_val_filter(rt, i, parent))
                .collect::<ScimResult<_>>()?,
        ),
        ValFilter::Or(items) => UserFilter::Or(
            items
                .iter()
                .map(|i| user_val_filter(rt, i, parent))
                .collect::<ScimResult<_>>()?,
        ),
    })
}

/// `attributes[name eq "k"]`, `attributes[name eq "k" and value OP v]`:
/// the custom attribute `k` (present, or compared).
fn custom_attribute_filter(f: &ValFilter) -> ScimResult<UserFilter> {
    let unsupported = || {
        ScimError::invalid_filter(
            "custom attributes are filtered as attributes[name eq \"key\"] or attributes[name eq \"key\" and value OP value]",
        )
    };
    let terms: Vec<&AttrExp> = match f {
        ValFilter::Attr(e) => vec![e],
        ValFilter::And(items) => items
            .iter()
            .map(|i| match i {
                ValFilter::Attr(e) => Ok(e),
                _ => Err(unsupported()),
            })
            .collect::<ScimResult<_>>()?,
        _ => return Err(unsupported()),
    };
    let mut key = None;
    let mut rest = Vec::new();
    for t in terms {
        match t {
            AttrExp::Comparison(p, CompareOp::Eq, CompValue::Str(k))
                if p.name.eq_ignore_ascii_case("name") && p.sub_attr.is_none() && key.is_none() =>
            {
                key = Some(k.clone())
            }
            AttrExp::Present(p) | AttrExp::Comparison(p, _, _)
                if p.name.eq_ignore_ascii_case("value") && p.sub_attr.is_none() =>
            {
                rest.push(t)
            }
            _ => return Err(unsupported()),
        }
    }
    let key = key.ok_or_else(unsupported)?;
    let field = UserField::Attribute(key.clone());
    let mut all = vec![UserFilter::Present(field.clone())];
    for t in rest {
        match t {
            AttrExp::Present(_) => {}
            AttrExp::Comparison(_, op, v) => all.push(user_compare(
                field.clone(),
                op,
                v,
                &format!("attributes[{key}]"),
            )?),
        }
    }
    Ok(if all.len() == 1 {
        all.pop().unwrap_or(UserFilter::All)
    } else {
        UserFilter::And(all)
    })
}

// ---- evaluation on JSON (groups, PATCH value paths)

/// Whether a JSON value is "present" (RFC 7644: not null, not empty).
fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(present),
        Value::Object(m) => m.values().any(present),
        _ => true,
    }
}

/// Compares one stored value with a filter value under the attribute's
/// type and case rules.
pub fn compare_value(
    actual: &Value,
    op: &CompareOp,
    expected: &CompValue,
    attr: &Attr,
) -> ScimResult<bool> {
    let bad = |what: &str| ScimError::invalid_filter(format!("{} {op} needs {what}", attr.name));
    if matches!(expected, CompValue::Null) {
        return match op {
            CompareOp::Eq => Ok(!present(actual)),
            CompareOp::Ne => Ok(present(actual)),
            _ => Err(bad("a non-null value")),
        };
    }
    match attr.ty {
        Type::Boolean => {
            if is_ordering(op) || is_text_op(op) {
                return Err(bad("eq or ne (a boolean)"));
            }
            let want = match expected {
                CompValue::True => true,
                CompValue::False => false,
                CompValue::Str(s) if s.eq_ignore_ascii_case("true") => true,
                CompValue::Str(s) if s.eq_ignore_ascii_case("false") => false,
                _ => return Err(bad("a boolean")),
            };
            let Some(have) = super::user::as_bool(actual) else {
                return Ok(matches!(op, CompareOp::Ne));
            };
            Ok((have == want) == matches!(op, CompareOp::Eq))
        }
        Type::Integer => {
            if is_text_op(op) {
                return Err(bad("a comparison, not a text match"));
            }
            let want = match expected {
                CompValue::Number(n) => n.as_f64().ok_or_else(|| bad("a number"))?,
                _ => return Err(bad("a number")),
            };
            let Some(have) = actual.as_f64() else {
                return Ok(matches!(op, CompareOp::Ne));
            };
            Ok(ordered(have.partial_cmp(&want), op))
        }
        Type::DateTime => {
            if is_text_op(op) {
                return Err(bad("a comparison, not a text match"));
            }
            let CompValue::Str(s) = expected else {
                return Err(bad("a dateTime string"));
            };
            let want =
                OffsetDateTime::parse(s, &Rfc3339).map_err(|_| bad("an RFC 3339 dateTime"))?;
            let Some(have) = actual
                .as_str()
                .and_then(|a| OffsetDateTime::parse(a, &Rfc3339).ok())
            else {
                return Ok(matches!(op, CompareOp::Ne));
            };
            Ok(ordered(Some(have.cmp(&want)), op))
        }
        Type::String | Type::Reference | Type::Complex => {
            let CompValue::Str(want) = expected else {
                return Err(bad("a string"));
            };
            let Some(have) = actual.as_str() else {
                return Ok(matches!(op, CompareOp::Ne));
            };
            let (have, want) = if attr.case_exact {
                (have.to_string(), want.clone())
            } else {
                (have.to_lowercase(), want.to_lowercase())
            };
            Ok(match op {
                CompareOp::Co => have.contains(&want),
                CompareOp::Sw => have.starts_with(&want),
                CompareOp::Ew => have.ends_with(&want),
                _ => ordered(Some(have.cmp(&want)), op),
            })
        }
    }
}

fn ordered(o: Option<std::cmp::Ordering>, op: &CompareOp) -> bool {
    use std::cmp::Ordering::*;
    match (o, op) {
        (None, CompareOp::Ne) => true,
        (None, _) => false,
        (Some(o), CompareOp::Eq) => o == Equal,
        (Some(o), CompareOp::Ne) => o != Equal,
        (Some(o), CompareOp::Gt) => o == Greater,
        (Some(o), CompareOp::Ge) => o != Less,
        (Some(o), CompareOp::Lt) => o == Less,
        (Some(o), CompareOp::Le) => o != Greater,
        (Some(_), _) => false,
    }
}

/// The values a resolved path reaches in a document (multi-valued
/// attributes and complex ones without a sub-attribute give their
/// elements' `value`).
fn values_at<'a>(doc: &'a Map<String, Value>, r: &Resolved) -> (Vec<&'a Value>, &'static Attr) {
    let container = match r.ext {
        Some(e) => doc.get(e.id).and_then(Value::as_object),
        None => Some(doc),
    };
    let Some(v) = container.and_then(|c| c.get(r.attr.name)) else {
        return (Vec::new(), r.leaf());
    };
    let elems: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    if r.attr.ty != Type::Complex {
        return (elems, r.attr);
    }
    let sub = match r.sub {
        Some(s) => s,
        None => match r.attr.sub_attr("value") {
            Some(s) => s,
            None => return (Vec::new(), r.attr),
        },
    };
    (
        elems.into_iter().filter_map(|e| e.get(sub.name)).collect(),
        sub,
    )
}

fn eval_exp(e: &AttrExp, values: &[&Value], attr: &Attr) -> ScimResult<bool> {
    match e {
        AttrExp::Present(_) => Ok(values.iter().any(|v| present(v))),
        AttrExp::Comparison(_, op, expected) => {
            if values.is_empty() {
                // Validates the value's type even with nothing to compare.
                compare_value(&Value::Null, op, expected, attr)?;
                return Ok(match op {
                    CompareOp::Ne => !matches!(expected, CompValue::Null),
                    CompareOp::Eq => matches!(expected, CompValue::Null),
                    _ => false,
                });
            }
            if matches!(op, CompareOp::Ne) {
                let mut any_eq = false;
                for v in values {
                    any_eq |= compare_value(v, &CompareOp::Eq, expected, attr)?;
                }
                return Ok(!any_eq);
            }
            let mut any = false;
            for v in values {
                any |= compare_value(v, op, expected, attr)?;
            }
            Ok(any)
        }
    }
}

/// Evaluates a filter on a resource's full representation.
pub fn eval(rt: &ResourceType, f: &Filter, doc: &Map<String, Value>) -> ScimResult<bool> {
    match f {
        Filter::Attr(e) => {
            let path = match e {
                AttrExp::Present(p) | AttrExp::Comparison(p, _, _) => p,
            };
            let r = resolve(rt, path)?;
            let (values, attr) = values_at(doc, &r);
            eval_exp(e, &values, attr)
        }
        Filter::Not(inner) => Ok(!eval(rt, inner, doc)?),
        Filter::And(items) => {
            let mut all = true;
            for i in items.iter() {
                all &= eval(rt, i, doc)?;
            }
            Ok(all)
        }
        Filter::Or(items) => {
            let mut any = false;
            for i in items.iter() {
                any |= eval(rt, i, doc)?;
            }
            Ok(any)
        }
        Filter::ValuePath(vp) => {
            let r = resolve(rt, &vp.attr)?;
            if r.sub.is_some() || r.attr.ty != Type::Complex {
                return Err(ScimError::invalid_filter(format!(
                    "{} is not a complex attribute",
                    vp.attr
                )));
            }
            let container = match r.ext {
                Some(e) => doc.get(e.id).and_then(Value::as_object),
                None => Some(doc),
            };
            let elems: Vec<&Value> = match container.and_then(|c| c.get(r.attr.name)) {
                Some(Value::Array(items)) => items.iter().collect(),
                Some(v) => vec![v],
                None => Vec::new(),
            };
            let mut any = false;
            for e in elems {
                // Validate the whole filter even after a match.
                any |= eval_val(r.attr, &vp.filter, e)?;
            }
            if !any {
                check_val(r.attr, &vp.filter)?;
            }
            Ok(any)
        }
    }
}

/// Evaluates a value filter (`emails[type eq "work"]`'s inside) on one
/// element of a complex attribute.
pub fn eval_val(parent: &'static Attr, f: &ValFilter, elem: &Value) -> ScimResult<bool> {
    match f {
        ValFilter::Attr(e) => {
            let path = match e {
                AttrExp::Present(p) | AttrExp::Comparison(p, _, _) => p,
            };
            let sub = sub_of(parent, path)?;
            let values: Vec<&Value> = elem.get(sub.name).into_iter().collect();
            eval_exp(e, &values, sub)
        }
        ValFilter::Not(inner) => Ok(!eval_val(parent, inner, elem)?),
        ValFilter::And(items) => {
            let mut all = true;
            for i in items.iter() {
                all &= eval_val(parent, i, elem)?;
            }
            Ok(all)
        }
        ValFilter::Or(items) => {
            let mut any = false;
            for i in items.iter() {
                any |= eval_val(parent, i, elem)?;
            }
            Ok(any)
        }
    }
}

/// Checks every name and value type of a value filter (on no element).
pub fn check_val(parent: &'static Attr, f: &ValFilter) -> ScimResult<()> {
    eval_val(parent, f, &Value::Object(Map::new())).map(|_| ())
}

fn sub_of(parent: &'static Attr, path: &AttrPath) -> ScimResult<&'static Attr> {
    if path.uri.is_some() || path.sub_attr.is_some() {
        return Err(ScimError::invalid_filter(format!(
            "{path} inside {}[...] must name a sub-attribute",
            parent.name
        )));
    }
    parent.sub_attr(&path.name).ok_or_else(|| {
        ScimError::invalid_filter(format!(
            "{} has no sub-attribute {}",
            parent.name, path.name
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faces::scim::schema::{GROUP_TYPE, USER_TYPE};
    use proptest::prelude::*;

    fn user(text: &str) -> ScimResult<UserFilter> {
        to_user_filter(&USER_TYPE, &parse(text)?)
    }

    #[test]
    fn translates_operators() {
        assert_eq!(
            user(r#"userName eq "bjensen""#).unwrap(),
            UserFilter::Compare(
                UserField::Username,
                Cmp::Eq,
                FilterValue::Text("bjensen".into())
            )
        );
        assert!(matches!(
            user(r#"emails[type eq "work" and value co "@x"]"#).unwrap(),
            UserFilter::And(_)
        ));
        assert_eq!(
            user(
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "R&D""#
            )
            .unwrap(),
            UserFilter::Compare(
                UserField::Attribute("scim_department".into()),
                Cmp::Eq,
                FilterValue::Text("R&D".into())
            )
        );
        assert_eq!(user(r#"id eq "not-a-uuid""#).unwrap(), UserFilter::Nothing);
        let e = user(r#"nickName eq "x""#).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
        let e = user(r#"password eq "x""#).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::Sensitive));
        let e = user(r#"active gt true"#).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
    }

    #[test]
    fn evaluates_group_filters() {
        let doc = serde_json::json!({
            "displayName": "Admins",
            "members": [{"value": "a"}, {"value": "b"}],
        });
        let doc = doc.as_object().unwrap();
        let t = |f: &str| eval(&GROUP_TYPE, &parse(f).unwrap(), doc).unwrap();
        assert!(t(r#"displayName eq "admins""#));
        assert!(t(r#"members.value eq "b""#));
        assert!(t(r#"members[value eq "a"]"#));
        assert!(!t(r#"members eq "c""#));
        assert!(t(r#"externalId ne "x""#));
        assert!(!t(r#"externalId pr"#));
    }

    fn attr_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("userName".to_string()),
            Just("name.givenName".to_string()),
            Just("emails.value".to_string()),
            Just("active".to_string()),
            Just("meta.created".to_string()),
            Just("title".to_string()),
            Just("nickName".to_string()),
            Just("password".to_string()),
            Just(format!("{ROSTER_URN}:securityLevel")),
            "[a-zA-Z][a-zA-Z0-9]{0,8}".prop_map(|s| s),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z@. ]{0,8}".prop_map(|s| format!("{s:?}")),
            Just("true".to_string()),
            Just("false".to_string()),
            Just("null".to_string()),
            (-5i64..1000).prop_map(|n| n.to_string()),
            Just("\"2024-01-01T00:00:00Z\"".to_string()),
        ]
    }

    fn filter_text() -> impl Strategy<Value = String> {
        let op = prop_oneof![
            Just("eq"),
            Just("ne"),
            Just("co"),
            Just("sw"),
            Just("ew"),
            Just("gt"),
            Just("ge"),
            Just("lt"),
            Just("le")
        ];
        let leaf = prop_oneof![
            (attr_name(), op, value()).prop_map(|(a, o, v)| format!("{a} {o} {v}")),
            attr_name().prop_map(|a| format!("{a} pr")),
            (op_value_path()).prop_map(|s| s),
        ];
        leaf.prop_recursive(4, 16, 3, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or {b}")),
                inner.prop_map(|a| format!("not ({a})")),
            ]
        })
    }

    fn op_value_path() -> impl Strategy<Value = String> {
        (
            prop_oneof![Just("emails"), Just("members"), Just("name")],
            value(),
        )
            .prop_map(|(a, v)| format!("{a}[value eq {v}]"))
    }

    proptest! {
        #[test]
        fn random_text_never_panics(s in "\\PC{0,64}") {
            match parse(&s) {
                Ok(f) => {
                    let _ = to_user_filter(&USER_TYPE, &f);
                    let _ = eval(&GROUP_TYPE, &f, &Map::new());
                }
                Err(e) => prop_assert_eq!(e.scim_type, Some(ScimType::InvalidFilter)),
            }
            if let Err(e) = crate::faces::scim::patch::parse_path(&s) {
                prop_assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
            }
        }

        #[test]
        fn well_formed_filters_translate_or_refuse_cleanly(s in filter_text()) {
            let f = parse(&s);
            prop_assert!(f.is_ok(), "{} did not parse", s);
            let f = f.unwrap();
            match to_user_filter(&USER_TYPE, &f) {
                Ok(_) => {}
                Err(e) => prop_assert!(matches!(
                    e.scim_type,
                    Some(ScimType::InvalidFilter | ScimType::Sensitive)
                ), "{}: {:?}", s, e),
            }
            if let Err(e) = eval(&GROUP_TYPE, &f, &Map::new()) {
                prop_assert!(matches!(
                    e.scim_type,
                    Some(ScimType::InvalidFilter | ScimType::Sensitive)
                ), "{}: {:?}", s, e);
            }
        }

        #[test]
        fn well_formed_paths_resolve_or_refuse_cleanly(a in attr_name(), v in value(), sub in prop::option::of("[a-z]{1,6}")) {
            for p in [a.clone(), format!("emails[type eq {v}]"), format!("members[value eq {v}].{}", sub.clone().unwrap_or("value".into()))] {
                match crate::faces::scim::patch::parse_path(&p) {
                    Ok(_) => {}
                    Err(e) => prop_assert_eq!(e.scim_type, Some(ScimType::InvalidPath), "{}", p),
                }
            }
        }
    }
}
