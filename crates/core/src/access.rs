//! The access model's objects: containers, roles, groups, role assignments
//! and API keys, with their rules.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::authz::Privilege;
use crate::error::FieldError;
use crate::validation::Errors;

pub const NAME_MAX: usize = 255;
pub const DESCRIPTION_MAX: usize = 4096;

/// A node of the container tree (D3 sites, DigiCert divisions, Aria scopes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    pub id: Uuid,
    pub seq: i64,
    pub name: String,
    /// Free text ("" when none); at most `DESCRIPTION_MAX` characters.
    #[serde(default)]
    pub description: String,
    pub parent_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Role {
    pub id: Uuid,
    pub seq: i64,
    pub name: String,
    pub description: String,
    pub privileges: Vec<Privilege>,
    /// Built in: cannot be changed or deleted.
    pub system: bool,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: Uuid,
    pub seq: i64,
    pub name: String,
    pub description: String,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

/// A user's membership of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub group: Group,
    pub access_level: Option<String>,
    pub since: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Who holds an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Holder {
    User(Uuid),
    Group(Uuid),
}

/// A role granted to a user or group over every object or some containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub id: Uuid,
    pub holder: Holder,
    pub role_id: Uuid,
    pub role_name: String,
    pub all_objects: bool,
    pub container_ids: Vec<Uuid>,
    pub created_at: OffsetDateTime,
}

/// An API key as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyInfo {
    pub id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub prefix: String,
    pub role_id: Option<Uuid>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
}

/// The lower-cased form under which names are unique.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

pub fn validate_name(e: &mut Errors, field: &str, name: &str) {
    e.required_text(field, name, NAME_MAX);
    if !name.is_empty() && name.trim() != name {
        e.push(
            field,
            "no_surrounding_whitespace",
            "must not start or end with whitespace",
        );
    }
}

pub fn validate_named(name: &str, description: &str) -> Result<(), Vec<FieldError>> {
    let mut e = Errors::default();
    validate_name(&mut e, "name", name);
    e.text("description", Some(description), DESCRIPTION_MAX);
    e.into_result()
}

pub fn validate_seq(seq: Option<i64>) -> Result<(), FieldError> {
    match seq {
        Some(s) if s < 1 => Err(FieldError::new(
            "seq",
            "range",
            "must be a positive integer",
        )),
        _ => Ok(()),
    }
}

/// A role the installation always has, with a fixed id and `seq`, so the
/// dialects can name them as their products do.
pub struct BuiltinRole {
    pub id: Uuid,
    pub seq: i64,
    pub name: &'static str,
    pub description: &'static str,
    pub privileges: &'static [Privilege],
}

use Privilege::*;

const READ_ALL: &[Privilege] = &[UsersRead, GroupsRead, RolesRead, ContainersRead, AuditRead];
const USER_MANAGER: &[Privilege] = &[
    UsersRead,
    UsersWrite,
    UsersCredentials,
    GroupsRead,
    ContainersRead,
    RolesRead,
];
const POWER_USER: &[Privilege] = &[
    UsersRead,
    UsersWrite,
    UsersCredentials,
    GroupsRead,
    GroupsWrite,
    RolesRead,
    ContainersRead,
];

const fn builtin_id(n: u128) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0100 + n)
}

pub const ADMINISTRATOR_ROLE_ID: Uuid = builtin_id(1);

/// The catalogue: DigiCert access roles keep their ids 1-5; Aria's and
/// AttackForge's roles follow. Privileges are roster's reading of each
/// product's role; see docs/ARCHITECTURE.md.
pub const BUILTIN_ROLES: &[BuiltinRole] = &[
    BuiltinRole {
        id: builtin_id(1),
        seq: 1,
        name: "Administrator",
        description: "Every privilege on every object",
        privileges: &Privilege::ALL,
    },
    BuiltinRole {
        id: builtin_id(2),
        seq: 2,
        name: "Limited User",
        description: "DigiCert: own account only",
        privileges: &[],
    },
    BuiltinRole {
        id: builtin_id(3),
        seq: 3,
        name: "Finance Manager",
        description: "DigiCert: finance; own account only",
        privileges: &[],
    },
    BuiltinRole {
        id: builtin_id(4),
        seq: 4,
        name: "Manager",
        description: "DigiCert: manages users in its containers",
        privileges: USER_MANAGER,
    },
    BuiltinRole {
        id: builtin_id(5),
        seq: 5,
        name: "Standard User",
        description: "DigiCert: reads users in its containers",
        privileges: &[UsersRead, ContainersRead],
    },
    BuiltinRole {
        id: builtin_id(6),
        seq: 6,
        name: "PowerUser",
        description: "Aria Operations: manages users and groups",
        privileges: POWER_USER,
    },
    BuiltinRole {
        id: builtin_id(7),
        seq: 7,
        name: "PowerUserMinusRemediation",
        description: "Aria Operations: PowerUser without remediation",
        privileges: POWER_USER,
    },
    BuiltinRole {
        id: builtin_id(8),
        seq: 8,
        name: "ContentAdmin",
        description: "Aria Operations: content administration",
        privileges: &[RolesRead, ContainersRead, GroupsRead],
    },
    BuiltinRole {
        id: builtin_id(9),
        seq: 9,
        name: "GeneralUser-1",
        description: "Aria Operations: general user",
        privileges: &[UsersRead, ContainersRead],
    },
    BuiltinRole {
        id: builtin_id(10),
        seq: 10,
        name: "GeneralUser-2",
        description: "Aria Operations: general user",
        privileges: &[UsersRead, ContainersRead],
    },
    BuiltinRole {
        id: builtin_id(11),
        seq: 11,
        name: "GeneralUser-3",
        description: "Aria Operations: general user",
        privileges: &[UsersRead, ContainersRead],
    },
    BuiltinRole {
        id: builtin_id(12),
        seq: 12,
        name: "GeneralUser-4",
        description: "Aria Operations: general user",
        privileges: &[UsersRead, ContainersRead],
    },
    BuiltinRole {
        id: builtin_id(13),
        seq: 13,
        name: "ReadOnly",
        description: "Read everything, change nothing",
        privileges: READ_ALL,
    },
    BuiltinRole {
        id: builtin_id(14),
        seq: 14,
        name: "admin",
        description: "AttackForge: administrator",
        privileges: &Privilege::ALL,
    },
    BuiltinRole {
        id: builtin_id(15),
        seq: 15,
        name: "librarymod",
        description: "AttackForge: library moderator",
        privileges: &[UsersRead],
    },
    BuiltinRole {
        id: builtin_id(16),
        seq: 16,
        name: "client",
        description: "AttackForge: client",
        privileges: &[],
    },
    BuiltinRole {
        id: builtin_id(17),
        seq: 17,
        name: "consultant",
        description: "AttackForge: consultant",
        privileges: &[UsersRead],
    },
    BuiltinRole {
        id: builtin_id(18),
        seq: 18,
        name: "projectoperator",
        description: "AttackForge: project operator",
        privileges: &[UsersRead, GroupsRead],
    },
];

/// The container every installation starts with; home of the bootstrap admin.
pub const ROOT_CONTAINER_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001);

#[derive(Debug, Clone)]
pub struct NewContainer {
    pub id: Uuid,
    pub seq: Option<i64>,
    pub name: String,
    pub description: String,
    pub parent_id: Uuid,
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewRole {
    pub id: Uuid,
    pub seq: Option<i64>,
    pub name: String,
    pub description: String,
    pub privileges: Vec<Privilege>,
    pub now: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct NewGroup {
    pub id: Uuid,
    pub seq: Option<i64>,
    pub name: String,
    pub description: String,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub now: OffsetDateTime,
}

/// How a group is named by a caller.
#[derive(Debug, Clone, Copy)]
pub enum GroupRef {
    Id(Uuid),
    Seq(i64),
}

/// How a role is named by a caller.
#[derive(Debug, Clone)]
pub enum RoleRef {
    Id(Uuid),
    Seq(i64),
    Name(String),
}
