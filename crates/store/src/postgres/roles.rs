//! SQL for roles, role assignments and the grants they add up to, on
//! PostgreSQL.

use roster_core::access::{Assignment, BuiltinRole, Holder, NewRole, Role, RoleRef, name_key};
use roster_core::authz::{Grant, Privilege, Scope};
use roster_core::store::{StoreError, StoreResult};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::tree::next_seq;
use super::{Conn, PgResult, err, micros_precision, not_found_or_stale, renamed};

const COLUMNS: &str =
    "id, seq, name, description, privileges, system, created_at, updated_at, version";

pub(crate) fn privileges_json(p: &[Privilege]) -> Value {
    Value::Array(
        p.iter()
            .map(|p| Value::String(p.as_str().to_string()))
            .collect(),
    )
}

pub(crate) fn parse_privileges(v: &Value) -> Vec<Privilege> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().and_then(Privilege::parse))
                .collect()
        })
        .unwrap_or_default()
}

fn role(r: &Row) -> PgResult<Role> {
    Ok(Role {
        id: r.try_get(0)?,
        seq: r.try_get(1)?,
        name: r.try_get(2)?,
        description: r.try_get(3)?,
        privileges: parse_privileges(&r.try_get::<_, Value>(4)?),
        system: r.try_get(5)?,
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
        version: r.try_get(8)?,
    })
}

pub async fn ensure_builtin(c: &Conn, roles: &[BuiltinRole]) -> StoreResult<()> {
    // Every node runs this at start; the lock (the one `next_seq` takes for
    // roles) makes them take turns with each other and with role creates.
    c.execute("SELECT pg_advisory_xact_lock(hashtext('roles'))", &[])
        .await
        .map_err(err)?;
    let epoch = OffsetDateTime::UNIX_EPOCH;
    for b in roles {
        c.execute(
            "INSERT INTO roles (id, seq, name, name_key, description, privileges, system, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, true, $7, $7)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key,
                 description = excluded.description, privileges = excluded.privileges, system = true",
            &[
                &b.id,
                &b.seq,
                &b.name,
                &name_key(b.name),
                &b.description,
                &privileges_json(b.privileges),
                &epoch,
            ],
        )
        .await
        .map_err(err)?;
    }
    Ok(())
}

pub async fn insert(c: &Conn, r: &NewRole) -> StoreResult<Role> {
    let seq = match r.seq {
        Some(s) => s,
        None => next_seq(c, "roles").await?,
    };
    c.execute(
        "INSERT INTO roles (id, seq, name, name_key, description, privileges, system, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, false, $7, $7)",
        &[
            &r.id,
            &seq,
            &r.name,
            &name_key(&r.name),
            &r.description,
            &privileges_json(&r.privileges),
            &micros_precision(r.now),
        ],
    )
    .await
    .map_err(err)?;
    get(c, &RoleRef::Id(r.id))
        .await?
        .ok_or(StoreError::NotFound)
}

pub async fn get(c: &Conn, r: &RoleRef) -> StoreResult<Option<Role>> {
    let row = match r {
        RoleRef::Id(id) => {
            let stmt = c
                .prepare_cached(&format!("SELECT {COLUMNS} FROM roles WHERE id = $1"))
                .await
                .map_err(err)?;
            c.query_opt(&stmt, &[id]).await
        }
        RoleRef::Seq(seq) => {
            let stmt = c
                .prepare_cached(&format!("SELECT {COLUMNS} FROM roles WHERE seq = $1"))
                .await
                .map_err(err)?;
            c.query_opt(&stmt, &[seq]).await
        }
        RoleRef::Name(name) => {
            let stmt = c
                .prepare_cached(&format!("SELECT {COLUMNS} FROM roles WHERE name_key = $1"))
                .await
                .map_err(err)?;
            c.query_opt(&stmt, &[&name_key(name)]).await
        }
    }
    .map_err(err)?;
    row.as_ref().map(role).transpose().map_err(err)
}

pub async fn all(c: &Conn) -> StoreResult<Vec<Role>> {
    let stmt = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM roles ORDER BY seq"))
        .await
        .map_err(err)?;
    let rows = c.query(&stmt, &[]).await.map_err(err)?;
    rows.iter().map(role).collect::<PgResult<_>>().map_err(err)
}

pub async fn update(
    c: &Conn,
    id: Uuid,
    expected_version: i64,
    name: &str,
    description: &str,
    privileges: &[Privilege],
    now: OffsetDateTime,
) -> StoreResult<Role> {
    let n = c
        .execute(
            "UPDATE roles SET name = $3, name_key = $4, description = $5, privileges = $6,
                 updated_at = $7, version = version + 1
             WHERE id = $1 AND version = $2 AND NOT system",
            &[
                &id,
                &expected_version,
                &name,
                &name_key(name),
                &description,
                &privileges_json(privileges),
                &now,
            ],
        )
        .await
        .map_err(err)?;
    if n == 0 {
        return match get(c, &RoleRef::Id(id)).await? {
            Some(r) if r.system => Err(StoreError::InUse("built-in roles cannot be changed")),
            found => Err(not_found_or_stale(found.is_some())),
        };
    }
    get(c, &RoleRef::Id(id)).await?.ok_or(StoreError::NotFound)
}

pub async fn delete(c: &Conn, id: Uuid) -> StoreResult<()> {
    match get(c, &RoleRef::Id(id)).await? {
        None => Err(StoreError::NotFound),
        Some(r) if r.system => Err(StoreError::InUse("built-in roles cannot be deleted")),
        Some(_) => {
            c.execute("DELETE FROM roles WHERE id = $1", &[&id])
                .await
                .map_err(err)?;
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

pub async fn assign(
    c: &Conn,
    holder: Holder,
    role_id: Uuid,
    all_objects: bool,
    containers: &[Uuid],
    now: OffsetDateTime,
) -> StoreResult<Assignment> {
    let (user_id, group_id) = holder_ids(holder);
    // One statement: two nodes assigning the same role to the same holder
    // meet in the unique index and the later one updates the earlier row.
    let row = c
        .query_one(
            "INSERT INTO role_assignments (id, user_id, group_id, role_id, all_objects, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (coalesce(user_id, group_id), role_id)
                DO UPDATE SET all_objects = excluded.all_objects
             RETURNING id",
            &[
                &Uuid::now_v7(),
                &user_id,
                &group_id,
                &role_id,
                &all_objects,
                &micros_precision(now),
            ],
        )
        .await
        .map_err(renamed("role_id"))?;
    let id: Uuid = row.try_get(0).map_err(err)?;
    c.execute(
        "DELETE FROM role_assignment_scopes WHERE assignment_id = $1",
        &[&id],
    )
    .await
    .map_err(err)?;
    if !containers.is_empty() {
        c.execute(
            "INSERT INTO role_assignment_scopes (assignment_id, container_id)
             SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING",
            &[&id, &containers.to_vec()],
        )
        .await
        .map_err(renamed("container_ids"))?;
    }
    by_id(c, id).await?.ok_or(StoreError::NotFound)
}

const ASSIGNMENT_COLUMNS: &str = "a.id, a.user_id, a.group_id, a.role_id, r.name, a.all_objects, a.created_at, \
    ARRAY(SELECT s.container_id FROM role_assignment_scopes s WHERE s.assignment_id = a.id ORDER BY s.container_id)";

fn assignment(r: &Row) -> PgResult<Assignment> {
    let user: Option<Uuid> = r.try_get(1)?;
    let group: Option<Uuid> = r.try_get(2)?;
    let holder = match (user, group) {
        (Some(u), _) => Holder::User(u),
        (None, Some(g)) => Holder::Group(g),
        (None, None) => Holder::User(Uuid::nil()),
    };
    let mut container_ids: Vec<Uuid> = r.try_get(7)?;
    container_ids.sort();
    Ok(Assignment {
        id: r.try_get(0)?,
        holder,
        role_id: r.try_get(3)?,
        role_name: r.try_get(4)?,
        all_objects: r.try_get(5)?,
        container_ids,
        created_at: r.try_get(6)?,
    })
}

async fn assignments(c: &Conn, filter: &str, arg: &Uuid) -> StoreResult<Vec<Assignment>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM role_assignments a JOIN roles r ON r.id = a.role_id
             WHERE {filter} ORDER BY r.seq, a.id"
        ))
        .await
        .map_err(err)?;
    let rows = c.query(&stmt, &[arg]).await.map_err(err)?;
    rows.iter()
        .map(assignment)
        .collect::<PgResult<_>>()
        .map_err(err)
}

pub async fn by_id(c: &Conn, id: Uuid) -> StoreResult<Option<Assignment>> {
    Ok(assignments(c, "a.id = $1", &id).await?.into_iter().next())
}

pub async fn of(c: &Conn, holder: Holder) -> StoreResult<Vec<Assignment>> {
    match holder {
        Holder::User(u) => assignments(c, "a.user_id = $1", &u).await,
        Holder::Group(g) => assignments(c, "a.group_id = $1", &g).await,
    }
}

pub async fn of_role(c: &Conn, role: Uuid) -> StoreResult<Vec<Assignment>> {
    assignments(c, "a.role_id = $1", &role).await
}

pub async fn scoped_to(c: &Conn, container: Uuid) -> StoreResult<Vec<Assignment>> {
    assignments(
        c,
        "a.id IN (SELECT assignment_id FROM role_assignment_scopes WHERE container_id = $1)",
        &container,
    )
    .await
}

pub async fn unassign(c: &Conn, id: Uuid) -> StoreResult<()> {
    let n = c
        .execute("DELETE FROM role_assignments WHERE id = $1", &[&id])
        .await
        .map_err(err)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Direct assignments and those of every group the user is in.
pub async fn grants_of(c: &Conn, user: Uuid) -> StoreResult<Vec<Grant>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {ASSIGNMENT_COLUMNS}, r.privileges, g.id, g.name
             FROM role_assignments a JOIN roles r ON r.id = a.role_id
             LEFT JOIN groups g ON g.id = a.group_id
             WHERE a.user_id = $1
                OR a.group_id IN (SELECT group_id FROM group_members WHERE user_id = $1)
             ORDER BY r.seq, a.id"
        ))
        .await
        .map_err(err)?;
    let rows = c.query(&stmt, &[&user]).await.map_err(err)?;
    rows.iter()
        .map(|r| {
            let a = assignment(r)?;
            let group: Option<Uuid> = r.try_get(9)?;
            let group_name: Option<String> = r.try_get(10)?;
            Ok(Grant {
                assignment_id: a.id,
                role_id: a.role_id,
                role_name: a.role_name,
                privileges: parse_privileges(&r.try_get::<_, Value>(8)?),
                scope: if a.all_objects {
                    Scope::All
                } else {
                    Scope::Containers(a.container_ids)
                },
                via_group: group.zip(group_name),
            })
        })
        .collect::<PgResult<_>>()
        .map_err(err)
}

/// Removes every assignment of a holder.
pub async fn clear(c: &Conn, holder: Holder) -> StoreResult<()> {
    let (sql, id) = match holder {
        Holder::User(u) => ("DELETE FROM role_assignments WHERE user_id = $1", u),
        Holder::Group(g) => ("DELETE FROM role_assignments WHERE group_id = $1", g),
    };
    c.execute(sql, &[&id]).await.map_err(err)?;
    Ok(())
}

pub async fn set_container_users(c: &Conn, container: Uuid, users: &[Uuid]) -> StoreResult<()> {
    let users = users.to_vec();
    c.execute(
        "DELETE FROM role_assignment_scopes WHERE container_id = $1 AND assignment_id IN (
             SELECT id FROM role_assignments WHERE user_id IS NOT NULL
                AND NOT (user_id = ANY($2::uuid[])))",
        &[&container, &users],
    )
    .await
    .map_err(err)?;
    c.execute(
        "INSERT INTO role_assignment_scopes (assignment_id, container_id)
         SELECT id, $1 FROM role_assignments
         WHERE NOT all_objects AND user_id = ANY($2::uuid[])
         ON CONFLICT DO NOTHING",
        &[&container, &users],
    )
    .await
    .map_err(renamed("container_id"))?;
    Ok(())
}
