//! SQL for roles, role assignments and the grants they add up to.

use roster_core::access::{Assignment, BuiltinRole, Holder, NewRole, Role, RoleRef, name_key};
use roster_core::authz::{Grant, Privilege, Scope};
use roster_core::store::{StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;
use uuid::Uuid;

use super::tree::next_seq;
use super::users::{from_micros, map_write_error, micros};

const COLUMNS: &str =
    "id, seq, name, description, privileges, system, created_at, updated_at, version";

pub(crate) fn privileges_json(p: &[Privilege]) -> String {
    serde_json::to_string(&p.iter().map(|p| p.as_str()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into())
}

pub(crate) fn parse_privileges(text: &str) -> Vec<Privilege> {
    serde_json::from_str::<Vec<String>>(text)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| Privilege::parse(s))
        .collect()
}

fn role(r: &Row<'_>) -> rusqlite::Result<Role> {
    let privileges: String = r.get(4)?;
    Ok(Role {
        id: r.get(0)?,
        seq: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        privileges: parse_privileges(&privileges),
        system: r.get(5)?,
        created_at: from_micros(r.get(6)?),
        updated_at: from_micros(r.get(7)?),
        version: r.get(8)?,
    })
}

pub fn ensure_builtin(conn: &Connection, roles: &[BuiltinRole]) -> StoreResult<()> {
    for b in roles {
        conn.execute(
            "INSERT INTO roles (id, seq, name, name_key, description, privileges, system, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, 0, 0)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key,
                 description = excluded.description, privileges = excluded.privileges, system = 1",
            params![b.id, b.seq, b.name, name_key(b.name), b.description, privileges_json(b.privileges)],
        )
        .map_err(map_write_error)?;
    }
    Ok(())
}

pub fn insert(conn: &Connection, r: &NewRole) -> StoreResult<Role> {
    let seq = match r.seq {
        Some(s) => s,
        None => next_seq(conn, "roles")?,
    };
    conn.execute(
        "INSERT INTO roles (id, seq, name, name_key, description, privileges, system, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7)",
        params![r.id, seq, r.name, name_key(&r.name), r.description, privileges_json(&r.privileges), micros(r.now)],
    )
    .map_err(map_write_error)?;
    get(conn, &RoleRef::Id(r.id))
        .map_err(map_write_error)?
        .ok_or(StoreError::NotFound)
}

pub fn get(conn: &Connection, r: &RoleRef) -> rusqlite::Result<Option<Role>> {
    match r {
        RoleRef::Id(id) => conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM roles WHERE id = ?1"))?
            .query_row([id], role)
            .optional(),
        RoleRef::Seq(seq) => conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM roles WHERE seq = ?1"))?
            .query_row([seq], role)
            .optional(),
        RoleRef::Name(name) => conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM roles WHERE name_key = ?1"))?
            .query_row([name_key(name)], role)
            .optional(),
    }
}

pub fn all(conn: &Connection) -> rusqlite::Result<Vec<Role>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM roles ORDER BY seq"))?
        .query_map([], role)?
        .collect()
}

pub fn update(
    conn: &Connection,
    id: Uuid,
    expected_version: i64,
    name: &str,
    description: &str,
    privileges: &[Privilege],
    now: OffsetDateTime,
) -> StoreResult<Role> {
    let n = conn
        .execute(
            "UPDATE roles SET name = ?3, name_key = ?4, description = ?5, privileges = ?6,
                 updated_at = ?7, version = version + 1
             WHERE id = ?1 AND version = ?2 AND system = 0",
            params![
                id,
                expected_version,
                name,
                name_key(name),
                description,
                privileges_json(privileges),
                micros(now)
            ],
        )
        .map_err(map_write_error)?;
    if n == 0 {
        return match get(conn, &RoleRef::Id(id)).map_err(map_write_error)? {
            Some(r) if r.system => Err(StoreError::InUse("built-in roles cannot be changed")),
            Some(_) => Err(StoreError::VersionMismatch),
            None => Err(StoreError::NotFound),
        };
    }
    get(conn, &RoleRef::Id(id))
        .map_err(map_write_error)?
        .ok_or(StoreError::NotFound)
}

pub fn delete(conn: &Connection, id: Uuid) -> StoreResult<()> {
    match get(conn, &RoleRef::Id(id)).map_err(map_write_error)? {
        None => Err(StoreError::NotFound),
        Some(r) if r.system => Err(StoreError::InUse("built-in roles cannot be deleted")),
        Some(_) => {
            conn.execute("DELETE FROM roles WHERE id = ?1", [id])
                .map_err(map_write_error)?;
            Ok(())
        }
    }
}

// ---- assignments

fn holder_ids(h: Holder) -> (Option<Uuid>, Option<Uuid>) {
    match h {
        Holder::User(u) => (Some(u), None),
        Holder::Group(g) => (None, Some(g)),
    }
}

pub fn assign(
    conn: &Connection,
    holder: Holder,
    role_id: Uuid,
    all_objects: bool,
    containers: &[Uuid],
    now: OffsetDateTime,
) -> StoreResult<Assignment> {
    let (user_id, group_id) = holder_ids(holder);
    let key = user_id.or(group_id);
    let existing: Option<Uuid> = conn
        .query_row(
            "SELECT id FROM role_assignments WHERE ifnull(user_id, group_id) = ?1 AND role_id = ?2",
            params![key, role_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(map_write_error)?;
    let id = match existing {
        Some(id) => {
            conn.execute(
                "UPDATE role_assignments SET all_objects = ?2 WHERE id = ?1",
                params![id, all_objects],
            )
            .map_err(map_write_error)?;
            conn.execute(
                "DELETE FROM role_assignment_scopes WHERE assignment_id = ?1",
                [id],
            )
            .map_err(map_write_error)?;
            id
        }
        None => {
            let id = Uuid::now_v7();
            conn.execute(
                "INSERT INTO role_assignments (id, user_id, group_id, role_id, all_objects, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, user_id, group_id, role_id, all_objects, micros(now)],
            )
            .map_err(|e| match map_write_error(e) {
                StoreError::MissingReference { .. } => StoreError::MissingReference { field: "role_id" },
                other => other,
            })?;
            id
        }
    };
    for c in containers {
        conn.execute(
            "INSERT OR IGNORE INTO role_assignment_scopes (assignment_id, container_id) VALUES (?1, ?2)",
            params![id, c],
        )
        .map_err(|e| match map_write_error(e) {
            StoreError::MissingReference { .. } => StoreError::MissingReference { field: "container_ids" },
            other => other,
        })?;
    }
    by_id(conn, id)
        .map_err(map_write_error)?
        .ok_or(StoreError::NotFound)
}

const ASSIGNMENT_COLUMNS: &str = "a.id, a.user_id, a.group_id, a.role_id, r.name, a.all_objects, a.created_at, \
    (SELECT json_group_array(hex(s.container_id)) FROM role_assignment_scopes s WHERE s.assignment_id = a.id)";

fn hex_uuids(json: &str) -> Vec<Uuid> {
    serde_json::from_str::<Vec<String>>(json)
        .unwrap_or_default()
        .iter()
        .filter_map(|h| Uuid::try_parse(h).ok())
        .collect()
}

fn assignment(r: &Row<'_>) -> rusqlite::Result<Assignment> {
    let user: Option<Uuid> = r.get(1)?;
    let group: Option<Uuid> = r.get(2)?;
    let holder = match (user, group) {
        (Some(u), _) => Holder::User(u),
        (None, Some(g)) => Holder::Group(g),
        (None, None) => Holder::User(Uuid::nil()),
    };
    let scopes: String = r.get(7)?;
    let mut container_ids = hex_uuids(&scopes);
    container_ids.sort();
    Ok(Assignment {
        id: r.get(0)?,
        holder,
        role_id: r.get(3)?,
        role_name: r.get(4)?,
        all_objects: r.get(5)?,
        container_ids,
        created_at: from_micros(r.get(6)?),
    })
}

pub fn by_id(conn: &Connection, id: Uuid) -> rusqlite::Result<Option<Assignment>> {
    conn.prepare_cached(&format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM role_assignments a JOIN roles r ON r.id = a.role_id WHERE a.id = ?1"
    ))?
    .query_row([id], assignment)
    .optional()
}

pub fn of(conn: &Connection, holder: Holder) -> rusqlite::Result<Vec<Assignment>> {
    let (user_id, group_id) = holder_ids(holder);
    conn.prepare_cached(&format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM role_assignments a JOIN roles r ON r.id = a.role_id
         WHERE a.user_id IS ?1 AND a.group_id IS ?2 ORDER BY r.seq"
    ))?
    .query_map(params![user_id, group_id], assignment)?
    .collect()
}

pub fn of_role(conn: &Connection, role: Uuid) -> rusqlite::Result<Vec<Assignment>> {
    conn.prepare_cached(&format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM role_assignments a JOIN roles r ON r.id = a.role_id
         WHERE a.role_id = ?1"
    ))?
    .query_map([role], assignment)?
    .collect()
}

pub fn scoped_to(conn: &Connection, container: Uuid) -> rusqlite::Result<Vec<Assignment>> {
    conn.prepare_cached(&format!(
        "SELECT {ASSIGNMENT_COLUMNS} FROM role_assignments a JOIN roles r ON r.id = a.role_id
         WHERE a.id IN (
            SELECT assignment_id FROM role_assignment_scopes WHERE container_id = ?1)"
    ))?
    .query_map([container], assignment)?
    .collect()
}

pub fn unassign(conn: &Connection, id: Uuid) -> StoreResult<()> {
    let n = conn
        .execute("DELETE FROM role_assignments WHERE id = ?1", [id])
        .map_err(map_write_error)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Direct assignments and those of every group the user is in.
pub fn grants_of(conn: &Connection, user: Uuid) -> rusqlite::Result<Vec<Grant>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ASSIGNMENT_COLUMNS}, r.privileges, g.id, g.name
         FROM role_assignments a JOIN roles r ON r.id = a.role_id
         LEFT JOIN groups g ON g.id = a.group_id
         WHERE a.user_id = ?1
            OR a.group_id IN (SELECT group_id FROM group_members WHERE user_id = ?1)
         ORDER BY r.seq"
    ))?;
    let rows = stmt.query_map([user], |r| {
        let a = assignment(r)?;
        let privileges: String = r.get(8)?;
        let group: Option<Uuid> = r.get(9)?;
        let group_name: Option<String> = r.get(10)?;
        Ok(Grant {
            assignment_id: a.id,
            role_id: a.role_id,
            role_name: a.role_name,
            privileges: parse_privileges(&privileges),
            scope: if a.all_objects {
                Scope::All
            } else {
                Scope::Containers(a.container_ids)
            },
            via_group: group.zip(group_name),
        })
    })?;
    let grants: Vec<Grant> = rows.collect::<rusqlite::Result<_>>()?;
    Ok(grants)
}

/// Removes every assignment of a holder.
pub fn clear(conn: &Connection, holder: Holder) -> StoreResult<()> {
    let (user_id, group_id) = holder_ids(holder);
    conn.execute(
        "DELETE FROM role_assignments WHERE user_id IS ?1 AND group_id IS ?2",
        params![user_id, group_id],
    )
    .map_err(map_write_error)?;
    Ok(())
}

pub fn set_container_users(conn: &Connection, container: Uuid, users: &[Uuid]) -> StoreResult<()> {
    let listed = serde_json::to_string(
        &users
            .iter()
            .map(|u| u.simple().to_string())
            .collect::<Vec<_>>(),
    )
    .map_err(|e| StoreError::Backend(e.to_string()))?;
    // Users are compared as lower-case hex, as json_each hands them back.
    conn.execute(
        "DELETE FROM role_assignment_scopes WHERE container_id = ?1 AND assignment_id IN (
             SELECT id FROM role_assignments WHERE user_id IS NOT NULL
                AND lower(hex(user_id)) NOT IN (SELECT value FROM json_each(?2)))",
        params![container, listed],
    )
    .map_err(map_write_error)?;
    conn.execute(
        "INSERT OR IGNORE INTO role_assignment_scopes (assignment_id, container_id)
         SELECT id, ?1 FROM role_assignments
         WHERE all_objects = 0 AND lower(hex(user_id)) IN (SELECT value FROM json_each(?2))",
        params![container, listed],
    )
    .map_err(|e| match map_write_error(e) {
        StoreError::MissingReference { .. } => StoreError::MissingReference {
            field: "container_id",
        },
        other => other,
    })?;
    Ok(())
}
