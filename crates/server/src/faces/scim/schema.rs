//! The one attribute model of this face. `/Schemas`, `/ResourceTypes` and
//! `/ServiceProviderConfig` are generated from it, and the same model
//! resolves filter and PATCH paths, decides `attributes` /
//! `excludedAttributes` projection (`returned`), mutability checks and
//! case rules, so discovery always says what the endpoints accept.
//!
//! Only attributes roster has a place for are published. Derived values
//! that a client cannot set and that carry nothing beyond what another
//! attribute says (the single email's `primary`, `name.formatted`, a
//! member's `display`) are `readOnly` and `returned: request`.

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Integer,
    DateTime,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
}

#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub ty: Type,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub description: &'static str,
    pub canonical: &'static [&'static str],
    pub ref_types: &'static [&'static str],
    pub sub: &'static [Attr],
    /// Computed from other attributes (`name.formatted`, the single
    /// email's `primary`, a member's `display`): read-only, returned on
    /// request, and a PATCH that writes it is ignored rather than refused,
    /// as identity providers send them with every change (Entra's default
    /// mapping writes `name.formatted`).
    pub derived: bool,
}

const fn attr(name: &'static str, ty: Type, description: &'static str) -> Attr {
    Attr {
        name,
        ty,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        description,
        canonical: &[],
        ref_types: &[],
        sub: &[],
        derived: false,
    }
}

const fn string(name: &'static str, description: &'static str) -> Attr {
    attr(name, Type::String, description)
}

impl Attr {
    const fn multi(self) -> Self {
        Attr {
            multi: true,
            ..self
        }
    }
    const fn required(self) -> Self {
        Attr {
            required: true,
            ..self
        }
    }
    const fn exact(self) -> Self {
        Attr {
            case_exact: true,
            ..self
        }
    }
    const fn ro(self) -> Self {
        Attr {
            mutability: Mutability::ReadOnly,
            ..self
        }
    }
    const fn immutable(self) -> Self {
        Attr {
            mutability: Mutability::Immutable,
            ..self
        }
    }
    const fn write_only(self) -> Self {
        Attr {
            mutability: Mutability::WriteOnly,
            returned: Returned::Never,
            ..self
        }
    }
    const fn returned(self, returned: Returned) -> Self {
        Attr { returned, ..self }
    }
    const fn unique(self) -> Self {
        Attr {
            uniqueness: Uniqueness::Server,
            ..self
        }
    }
    const fn canonical(self, canonical: &'static [&'static str]) -> Self {
        Attr { canonical, ..self }
    }
    const fn refs(self, ref_types: &'static [&'static str]) -> Self {
        Attr { ref_types, ..self }
    }
    const fn sub(self, sub: &'static [Attr]) -> Self {
        Attr { sub, ..self }
    }
    const fn derived(self) -> Self {
        Attr {
            derived: true,
            mutability: Mutability::ReadOnly,
            returned: Returned::Request,
            ..self
        }
    }

    pub fn sub_attr(&self, name: &str) -> Option<&'static Attr> {
        self.sub.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "type": match self.ty {
                Type::String => "string",
                Type::Boolean => "boolean",
                Type::Integer => "integer",
                Type::DateTime => "dateTime",
                Type::Reference => "reference",
                Type::Complex => "complex",
            },
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "mutability": match self.mutability {
                Mutability::ReadOnly => "readOnly",
                Mutability::ReadWrite => "readWrite",
                Mutability::Immutable => "immutable",
                Mutability::WriteOnly => "writeOnly",
            },
            "returned": match self.returned {
                Returned::Always => "always",
                Returned::Never => "never",
                Returned::Default => "default",
                Returned::Request => "request",
            },
        });
        if matches!(self.ty, Type::String | Type::Reference) {
            v["caseExact"] = json!(self.case_exact);
            v["uniqueness"] = json!(match self.uniqueness {
                Uniqueness::None => "none",
                Uniqueness::Server => "server",
            });
        }
        if !self.canonical.is_empty() {
            v["canonicalValues"] = json!(self.canonical);
        }
        if self.ty == Type::Reference {
            v["referenceTypes"] = json!(self.ref_types);
        }
        if self.ty == Type::Complex {
            v["subAttributes"] = Value::Array(self.sub.iter().map(Attr::to_json).collect());
        }
        v
    }
}

#[derive(Debug)]
pub struct Schema {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attrs: &'static [Attr],
}

impl Schema {
    pub fn attr(&self, name: &str) -> Option<&'static Attr> {
        self.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attrs.iter().map(Attr::to_json).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "Schema",
                "location": format!("{base}/Schemas/{}", self.id),
            },
        })
    }
}

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const ROSTER_URN: &str = "urn:roster:params:scim:schemas:extension:roster:2.0:User";

const MULTI_TYPE: &[&str] = &["work"];
/// Suggested locales (RFC 5646 tags); any tag of at most 35 characters is taken.
const LOCALES: &[&str] = &[
    "en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "it-IT", "nl-NL", "pt-BR", "ja-JP", "zh-CN",
];
const TIMEZONES: &[&str] = &[
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
];

pub static USER: Schema = Schema {
    id: USER_URN,
    name: "User",
    description: "User Account",
    attrs: &[
        string(
            "userName",
            "Unique identifier for the User, used to sign in. Unique without regard to case.",
        )
        .required()
        .unique(),
        attr("name", Type::Complex, "The components of the user's name.").sub(&[
            string("givenName", "Given (first) name."),
            string("familyName", "Family (last) name."),
            string(
                "formatted",
                "Given and family name joined; derived (writes are ignored), returned on request.",
            )
            .derived(),
        ]),
        string("displayName", "The name of the User, suitable for display."),
        attr(
            "emails",
            Type::Complex,
            "Email address. roster keeps one, of type work; the first (or primary) given is kept.",
        )
        .multi()
        .sub(&[
            string("value", "The email address."),
            string("type", "Always work.").canonical(MULTI_TYPE),
            attr(
                "primary",
                Type::Boolean,
                "Always true: roster keeps one email. Derived (writes are ignored); returned on request.",
            )
            .derived(),
        ]),
        attr(
            "phoneNumbers",
            Type::Complex,
            "Phone number. roster keeps one, of type work.",
        )
        .multi()
        .sub(&[
            string("value", "The phone number."),
            string("type", "Always work.").canonical(MULTI_TYPE),
            attr(
                "primary",
                Type::Boolean,
                "Always true: roster keeps one phone number. Derived (writes are ignored); returned on request.",
            )
            .derived(),
        ]),
        string("title", "The user's title, such as Vice President."),
        string("timezone", "The user's time zone (IANA name).").canonical(TIMEZONES),
        string(
            "locale",
            "Default location, an RFC 5646 tag of at most 35 characters.",
        )
        .canonical(LOCALES),
        attr(
            "active",
            Type::Boolean,
            "Whether the user may sign in. Every user has a value; a create without one makes an active user.",
        )
        .required(),
        string("password", "Sets the user's password; never returned.").write_only(),
        attr(
            "groups",
            Type::Complex,
            "Groups the user belongs to directly.",
        )
        .multi()
        .ro()
        .sub(&[
            string("value", "The group's id.").ro().exact(),
            attr("$ref", Type::Reference, "The URI of the group.")
                .ro()
                .exact()
                .refs(&["Group"]),
            string("display", "The group's displayName.").ro(),
            string("type", "Always direct.").ro().canonical(&["direct"]),
        ]),
    ],
};

pub static ENTERPRISE: Schema = Schema {
    id: ENTERPRISE_URN,
    name: "EnterpriseUser",
    description: "Enterprise User (the attributes roster keeps, in the user's custom attributes)",
    attrs: &[
        string(
            "employeeNumber",
            "Numeric or alphanumeric identifier assigned to a person.",
        ),
        string("costCenter", "Name of a cost center."),
        string("organization", "Name of an organization."),
        string("division", "Name of a division."),
        string("department", "Name of a department."),
    ],
};

pub static ROSTER: Schema = Schema {
    id: ROSTER_URN,
    name: "RosterUser",
    description: "roster's own user attributes",
    attrs: &[
        // roster's read-only state is returned on request (naming it or the
        // extension in `attributes`): a replace of the extension can then
        // be answered with exactly what was replaced.
        attr("seq", Type::Integer, "roster's integer id of the user.")
            .ro()
            .returned(Returned::Request),
        string("containerId", "The container the user is homed in.")
            .ro()
            .exact()
            .returned(Returned::Request),
        attr(
            "mfaRequired",
            Type::Boolean,
            "Whether the user must sign in with a second factor (false when left out).",
        )
        .required(),
        attr(
            "mfaEnrolled",
            Type::Boolean,
            "Whether the user has a second factor.",
        )
        .ro()
        .returned(Returned::Request),
        attr("locked", Type::Boolean, "Whether sign-in is locked out.")
            .ro()
            .returned(Returned::Request),
        attr(
            "emailVerified",
            Type::Boolean,
            "Whether the user proved the current email address theirs (by the mailed link).",
        )
        .ro()
        .returned(Returned::Request),
        attr(
            "samlSsoOnly",
            Type::Boolean,
            "Whether the user signs in with SSO only (false when left out).",
        )
        .required(),
        attr(
            "securityLevel",
            Type::Integer,
            "A security level between 0 and 2147483647.",
        ),
        string("distinguishedName", "The user's LDAP distinguished name."),
        attr("lastLoginAt", Type::DateTime, "When the user last signed in.")
            .ro()
            .returned(Returned::Request),
        attr(
            "attributes",
            Type::Complex,
            "Custom attributes: a name and its value (JSON values other than strings are shown as JSON text).",
        )
        .multi()
        .sub(&[
            string("name", "The attribute's name.").exact(),
            string("value", "The attribute's value.").exact(),
        ]),
    ],
};

pub static GROUP: Schema = Schema {
    id: GROUP_URN,
    name: "Group",
    description: "Group",
    attrs: &[
        string(
            "displayName",
            "A name for the group, unique without regard to case.",
        )
        .required()
        .unique(),
        attr("members", Type::Complex, "The users in the group.")
            .multi()
            .sub(&[
                string("value", "The member's id.").immutable().exact(),
                attr("$ref", Type::Reference, "The URI of the member.")
                    .immutable()
                    .exact()
                    .refs(&["User"]),
                string("type", "Always User.")
                    .immutable()
                    .canonical(&["User"]),
                string(
                    "display",
                    "The member's userName; derived (writes are ignored), returned on request.",
                )
                .derived(),
            ]),
    ],
};

/// Attributes every resource has (RFC 7643 §3.1); not part of a published
/// schema, but resolved, filtered and projected like the rest.
pub static COMMON: Schema = Schema {
    id: "",
    name: "common",
    description: "",
    attrs: &[
        string("id", "The resource's id.")
            .ro()
            .exact()
            .returned(Returned::Always)
            .unique(),
        string(
            "externalId",
            "The provisioning client's id for the resource.",
        )
        .exact(),
        attr("meta", Type::Complex, "Resource metadata.")
            .ro()
            .sub(&[
                string("resourceType", "").ro().exact(),
                attr("created", Type::DateTime, "").ro(),
                attr("lastModified", Type::DateTime, "").ro(),
                attr("location", Type::Reference, "").ro().exact(),
                string("version", "").ro().exact(),
            ]),
    ],
};

/// A resource type and the schemas it is made of.
pub struct ResourceType {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub core: &'static Schema,
    /// Each extension, and whether every resource has it.
    pub extensions: &'static [(&'static Schema, bool)],
}

pub static USER_TYPE: ResourceType = ResourceType {
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    core: &USER,
    // Every user has roster's own attributes (seq, containerId, ...).
    extensions: &[(&ENTERPRISE, false), (&ROSTER, true)],
};

pub static GROUP_TYPE: ResourceType = ResourceType {
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    core: &GROUP,
    extensions: &[],
};

pub static RESOURCE_TYPES: &[&ResourceType] = &[&USER_TYPE, &GROUP_TYPE];
pub static SCHEMAS: &[&Schema] = &[&USER, &GROUP, &ENTERPRISE, &ROSTER];

impl ResourceType {
    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.core.id,
            "schemaExtensions": self.extensions.iter().map(|(s, required)| json!({
                "schema": s.id, "required": required,
            })).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base}/ResourceTypes/{}", self.name),
            },
        })
    }

    /// The schema a URN names (the core schema or an extension).
    pub fn schema(&self, urn: &str) -> Option<&'static Schema> {
        std::iter::once(self.core)
            .chain(self.extensions.iter().map(|(s, _)| *s))
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }
}

/// An attribute a path names.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// `None` for the common attributes and the core schema: their keys
    /// are top-level. `Some` for an extension: its attributes live under
    /// the extension's URN.
    pub ext: Option<&'static Schema>,
    pub attr: &'static Attr,
    pub sub: Option<&'static Attr>,
}

impl Resolved {
    /// The attribute the path ends at.
    pub fn leaf(&self) -> &'static Attr {
        self.sub.unwrap_or(self.attr)
    }

    /// Whether the path (or the attribute above it) is read-only.
    /// Whether the attribute written is computed from others (see
    /// [`Attr::derived`]).
    pub fn derived(&self) -> bool {
        self.leaf().derived
    }

    pub fn read_only(&self) -> bool {
        self.attr.mutability == Mutability::ReadOnly
            || self.leaf().mutability == Mutability::ReadOnly
    }

    pub fn names_password(&self) -> bool {
        self.ext.is_none() && self.attr.name == "password"
    }

    /// A stable dotted name (`emails.value`, `urn:...:department`).
    pub fn dotted(&self) -> String {
        let mut s = String::new();
        if let Some(e) = self.ext {
            s.push_str(e.id);
            s.push(':');
        }
        s.push_str(self.attr.name);
        if let Some(sub) = self.sub {
            s.push('.');
            s.push_str(sub.name);
        }
        s
    }
}

/// What a path names: an attribute, or a whole extension.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Attr(Resolved),
    Extension(&'static Schema),
}

/// Resolves `[uri:]name[.sub]` (the pieces the scim_v2 parser produced)
/// against a resource type. `None` when the resource type has no such
/// attribute.
pub fn resolve(
    rt: &ResourceType,
    uri: Option<&str>,
    name: &str,
    sub: Option<&str>,
) -> Option<Target> {
    // `urn:...:enterprise:2.0:User` alone parses as uri `...:2.0`, name `User`.
    if let Some(u) = uri
        && sub.is_none()
        && let Some(ext) = rt.schema(&format!("{u}:{name}"))
        && !std::ptr::eq(ext, rt.core)
    {
        return Some(Target::Extension(ext));
    }
    let (ext, attr) = match uri {
        None => match rt.core.attr(name) {
            Some(a) => (None, a),
            None => (None, COMMON.attr(name)?),
        },
        Some(u) => {
            let schema = rt.schema(u)?;
            if std::ptr::eq(schema, rt.core) {
                match schema.attr(name) {
                    Some(a) => (None, a),
                    None => (None, COMMON.attr(name)?),
                }
            } else {
                (Some(schema), schema.attr(name)?)
            }
        }
    };
    let sub = match sub {
        None => None,
        Some(s) => Some(attr.sub_attr(s)?),
    };
    Some(Target::Attr(Resolved { ext, attr, sub }))
}

/// Resolves a textual attribute path (from `attributes`, `sortBy`, a
/// PATCH value's key), parsed by scim_v2's path grammar.
pub fn resolve_text(rt: &ResourceType, path: &str) -> Option<Target> {
    let path = path.trim();
    if let Some(ext) = rt.schema(path)
        && !std::ptr::eq(ext, rt.core)
    {
        return Some(Target::Extension(ext));
    }
    match path.parse::<scim_v2::filter::PatchPath>().ok()? {
        scim_v2::filter::PatchPath::Attr(a) => {
            resolve(rt, a.uri.as_deref(), &a.name, a.sub_attr.as_deref())
        }
        scim_v2::filter::PatchPath::Value(_) => None,
    }
}

// ---- discovery documents

pub fn service_provider_config(
    base: &str,
    max_ops: usize,
    max_payload: usize,
    max_results: u32,
) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "https://datatracker.ietf.org/doc/html/rfc7644",
        "patch": { "supported": true },
        "bulk": { "supported": true, "maxOperations": max_ops, "maxPayloadSize": max_payload },
        "filter": { "supported": true, "maxResults": max_results },
        "changePassword": { "supported": true },
        "sort": { "supported": true },
        "etag": { "supported": true },
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer API key or token",
                "description": "A roster API key, or an access token from POST /api/v1/auth/token, as Authorization: Bearer <credential>.",
                "specUri": "https://datatracker.ietf.org/doc/html/rfc6750",
                "primary": true,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    })
}

// ---- projection (`attributes`, `excludedAttributes`, `returned`)

/// Which attributes a response carries.
#[derive(Debug, Default, Clone)]
pub struct Projection {
    /// `attributes=`: only these (plus `returned: always`).
    pub only: Option<Vec<Resolved>>,
    /// `excludedAttributes=`.
    pub excluded: Vec<Resolved>,
    /// Whole extensions named in `attributes`.
    pub only_ext: Vec<&'static Schema>,
    pub excluded_ext: Vec<&'static Schema>,
}

fn same(a: &Attr, b: &Attr) -> bool {
    std::ptr::eq(a, b)
}

impl Projection {
    /// Parses the two comma-separated lists. Unknown names are ignored, as
    /// RFC 7644 §3.4.2.5 asks nothing else of them.
    pub fn parse(rt: &ResourceType, attributes: Option<&str>, excluded: Option<&str>) -> Self {
        let mut p = Projection::default();
        let split = |s: &str| -> Vec<String> {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        if let Some(a) = attributes.filter(|a| !a.trim().is_empty()) {
            let mut only = Vec::new();
            for name in split(a) {
                match resolve_text(rt, &name) {
                    Some(Target::Attr(r)) => only.push(r),
                    Some(Target::Extension(e)) => p.only_ext.push(e),
                    None => {}
                }
            }
            p.only = Some(only);
        }
        if let Some(e) = excluded {
            for name in split(e) {
                match resolve_text(rt, &name) {
                    Some(Target::Attr(r)) => p.excluded.push(r),
                    Some(Target::Extension(e)) => p.excluded_ext.push(e),
                    None => {}
                }
            }
        }
        p
    }

    /// Whether a response includes `attr` (of extension `ext`) at all; lets
    /// a handler skip loading what will not be shown (group members).
    pub fn wants(&self, ext: Option<&'static Schema>, attr: &'static Attr) -> bool {
        self.keep(ext, attr, None)
    }

    fn keep(
        &self,
        ext: Option<&'static Schema>,
        attr: &'static Attr,
        sub: Option<&'static Attr>,
    ) -> bool {
        let leaf = sub.unwrap_or(attr);
        if attr.returned == Returned::Never || leaf.returned == Returned::Never {
            return false;
        }
        if attr.returned == Returned::Always || (sub.is_some() && leaf.returned == Returned::Always)
        {
            return true;
        }
        let same_ext = |a: Option<&'static Schema>, b: Option<&'static Schema>| match (a, b) {
            (None, None) => true,
            (Some(x), Some(y)) => std::ptr::eq(x, y),
            _ => false,
        };
        let named = |r: &Resolved| {
            same_ext(r.ext, ext)
                && same(r.attr, attr)
                && match (r.sub, sub) {
                    // Naming a parent names every sub-attribute.
                    (None, _) => true,
                    // Naming a sub-attribute keeps its parent (for the sub).
                    (Some(_), None) => true,
                    (Some(x), Some(y)) => same(x, y),
                }
        };
        let requested_by_name = |r: &Resolved| {
            same_ext(r.ext, ext)
                && same(r.attr, attr)
                && match (r.sub, sub) {
                    (_, None) => true,
                    (Some(x), Some(y)) => same(x, y),
                    (None, Some(_)) => false,
                }
        };
        if let Some(only) = &self.only {
            let in_ext = ext.is_some_and(|e| self.only_ext.iter().any(|x| std::ptr::eq(*x, e)));
            if in_ext {
                return leaf.returned != Returned::Request || only.iter().any(requested_by_name);
            }
            if !only.iter().any(named) {
                return false;
            }
            if leaf.returned == Returned::Request && !only.iter().any(requested_by_name) {
                return false;
            }
            return true;
        }
        if leaf.returned == Returned::Request || attr.returned == Returned::Request {
            return false;
        }
        if ext.is_some_and(|e| self.excluded_ext.iter().any(|x| std::ptr::eq(*x, e))) {
            return false;
        }
        !self.excluded.iter().any(|r| {
            same_ext(r.ext, ext)
                && same(r.attr, attr)
                && match (r.sub, sub) {
                    (None, _) => true,
                    (Some(x), Some(y)) => same(x, y),
                    (Some(_), None) => false,
                }
        })
    }

    /// Applies the projection to a full representation.
    pub fn apply(&self, rt: &ResourceType, full: &Value) -> Value {
        let Value::Object(full) = full else {
            return full.clone();
        };
        let mut out = Map::new();
        let mut schemas = vec![json!(rt.core.id)];
        for (key, value) in full {
            if key == "schemas" {
                continue;
            }
            if let Some(ext) = rt.schema(key).filter(|s| !std::ptr::eq(*s, rt.core)) {
                if let Value::Object(inner) = value {
                    let kept = self.project_object(Some(ext), ext.attrs, inner);
                    if !kept.is_empty() {
                        schemas.push(json!(ext.id));
                        out.insert(key.clone(), Value::Object(kept));
                    }
                }
                continue;
            }
            let attr = rt.core.attr(key).or_else(|| COMMON.attr(key));
            if let Some(attr) = attr
                && let Some(v) = self.project_attr(None, attr, value)
            {
                out.insert(key.clone(), v);
            }
        }
        out.insert("schemas".into(), Value::Array(schemas));
        Value::Object(out)
    }

    fn project_object(
        &self,
        ext: Option<&'static Schema>,
        attrs: &'static [Attr],
        inner: &Map<String, Value>,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in inner {
            if let Some(attr) = attrs.iter().find(|a| a.name == key)
                && let Some(v) = self.project_attr(ext, attr, value)
            {
                out.insert(key.clone(), v);
            }
        }
        out
    }

    fn project_attr(
        &self,
        ext: Option<&'static Schema>,
        attr: &'static Attr,
        value: &Value,
    ) -> Option<Value> {
        if !self.keep(ext, attr, None) {
            return None;
        }
        if attr.ty != Type::Complex {
            return Some(value.clone());
        }
        let one = |v: &Value| -> Option<Value> {
            let Value::Object(m) = v else {
                return Some(v.clone());
            };
            let mut out = Map::new();
            for (k, sv) in m {
                if let Some(sub) = attr.sub_attr(k)
                    && self.keep(ext, attr, Some(sub))
                {
                    out.insert(k.clone(), sv.clone());
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        };
        match value {
            Value::Array(items) => {
                let kept: Vec<Value> = items.iter().filter_map(one).collect();
                (!kept.is_empty()).then_some(Value::Array(kept))
            }
            other => one(other),
        }
    }
}

/// Every published (attribute, sub-attribute) path of a resource type, for
/// tests that hold discovery to what the endpoints accept.
#[cfg(test)]
pub fn all_paths(rt: &ResourceType) -> Vec<(String, &'static Attr)> {
    let mut out = Vec::new();
    for schema in std::iter::once(rt.core).chain(rt.extensions.iter().map(|(s, _)| *s)) {
        let prefix = if std::ptr::eq(schema, rt.core) {
            String::new()
        } else {
            format!("{}:", schema.id)
        };
        for a in schema.attrs {
            out.push((format!("{prefix}{}", a.name), a));
            for s in a.sub {
                out.push((format!("{prefix}{}.{}", a.name, s.name), s));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every published attribute resolves by its own name, so filters,
    /// PATCH paths and `attributes` accept what discovery lists.
    #[test]
    fn every_published_path_resolves() {
        for rt in RESOURCE_TYPES {
            for (path, attr) in all_paths(rt) {
                if attr.name == "$ref" {
                    continue; // not an ATTRNAME in RFC 7644's grammar
                }
                match resolve_text(rt, &path) {
                    Some(Target::Attr(r)) => assert!(std::ptr::eq(r.leaf(), attr), "{path}"),
                    other => panic!("{path}: {other:?}"),
                }
            }
        }
    }
}
