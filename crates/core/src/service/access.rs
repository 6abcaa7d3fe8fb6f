//! Containers, roles, groups, role assignments and API keys.

use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Ctx, Roster, from_store, unconditionally};
use crate::Secret;
use crate::access::{self, ApiKeyInfo, Assignment, Container, Group, Holder, Membership, Role};
use crate::access::{GroupRef, NewContainer, NewGroup, NewRole, ROOT_CONTAINER_ID, RoleRef};
use crate::audit::AuditEvent;
use crate::auth;
use crate::authz::{self, Grant, Privilege, Scope, Target};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::store::{StoreError, Write};
use crate::user::{Page, User};

pub struct ContainerInput {
    pub name: String,
    /// Free text; "" for none.
    pub description: String,
    pub parent_id: Option<Uuid>,
    /// A preserved integer id (migrations from other products).
    pub seq: Option<i64>,
}

/// A change to a container; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ContainerChange {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Moves the container (and everything below it).
    pub parent_id: Option<Uuid>,
}

/// A change to a role's privilege list, by privilege name.
pub enum PrivilegeChange {
    Add(Vec<String>),
    Set(Vec<String>),
    Remove(Vec<String>),
}

#[derive(Clone)]
pub struct RoleInput {
    pub name: String,
    pub description: String,
    pub privileges: Vec<String>,
    pub seq: Option<i64>,
}

pub struct GroupInput {
    pub name: String,
    pub description: String,
    pub seq: Option<i64>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// A partial group update; attributes merge key by key (null removes).
#[derive(Default, Clone)]
pub struct GroupChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

fn validate_group(
    name: &str,
    description: &str,
    attributes: &serde_json::Map<String, serde_json::Value>,
) -> CoreResult<()> {
    let mut e = crate::validation::Errors::default();
    access::validate_name(&mut e, "name", name);
    e.text("description", Some(description), access::DESCRIPTION_MAX);
    e.attributes("attributes", attributes);
    e.into_result().map_err(invalid)
}

pub struct NewKey {
    pub name: String,
    /// Whose key; the caller's own when absent.
    pub user_id: Option<Uuid>,
    pub role_id: Option<Uuid>,
    pub expires_at: Option<OffsetDateTime>,
}

/// One grant a user holds, with where it comes from.
#[derive(Debug, Clone, Serialize)]
pub struct EffectiveGrant {
    pub privilege: &'static str,
    pub all_objects: bool,
    pub container_ids: Vec<Uuid>,
    pub role_id: Uuid,
    pub role: String,
    pub assignment_id: Uuid,
    /// `direct`, or the group it comes through.
    pub via: String,
}

/// Whether an assignment already has exactly this scope.
fn same_scope(a: &Assignment, all_objects: bool, containers: &[Uuid]) -> bool {
    let mut wanted = containers.to_vec();
    wanted.sort();
    wanted.dedup();
    a.all_objects == all_objects && (all_objects || a.container_ids == wanted)
}

/// Each id once, in the order first given.
fn unique(ids: &[Uuid]) -> Vec<Uuid> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

fn invalid(errors: Vec<FieldError>) -> CoreError {
    CoreError::Invalid(errors)
}

impl Roster {
    // ---- containers

    pub async fn create_container(
        &self,
        ctx: &Ctx,
        input: ContainerInput,
    ) -> CoreResult<Container> {
        access::validate_named(&input.name, &input.description).map_err(invalid)?;
        access::validate_seq(input.seq).map_err(|e| invalid(vec![e]))?;
        let parent = input.parent_id.unwrap_or(ROOT_CONTAINER_ID);
        let chain = match self.chain(parent).await {
            Err(CoreError::NotFound(_)) => {
                return Err(CoreError::invalid(
                    "parent_id",
                    "exists",
                    "no such container",
                ));
            }
            other => other?,
        };
        authz::authorize(&ctx.who, Privilege::ContainersWrite, Target::In(&chain))?;
        if input.seq.is_some() {
            // Choosing ids is for installation-wide administrators.
            authz::authorize(&ctx.who, Privilege::ContainersWrite, Target::Global)?;
        }
        let id = Uuid::now_v7();
        let event = ctx
            .event("container.create")
            .target("container", id, Some(parent))
            .details(json!({ "name": input.name }));
        self.store
            .insert_container(
                NewContainer {
                    id,
                    seq: input.seq,
                    name: input.name,
                    description: input.description,
                    parent_id: parent,
                    now: OffsetDateTime::now_utc(),
                },
                event,
            )
            .await
            .map_err(from_store("container"))
    }

    pub async fn get_container(&self, ctx: &Ctx, id: Uuid) -> CoreResult<Container> {
        let c = self
            .store
            .container(id)
            .await
            .map_err(from_store("container"))?
            .ok_or(CoreError::NotFound("container"))?;
        let chain = self.chain(id).await?;
        authz::authorize(&ctx.who, Privilege::ContainersRead, Target::In(&chain))?;
        Ok(c)
    }

    pub async fn container_by_seq(&self, ctx: &Ctx, seq: i64) -> CoreResult<Container> {
        let c = self
            .store
            .container_by_seq(seq)
            .await
            .map_err(from_store("container"))?
            .ok_or(CoreError::NotFound("container"))?;
        self.get_container(ctx, c.id).await
    }

    /// The containers the caller may read.
    pub async fn list_containers(&self, ctx: &Ctx) -> CoreResult<Vec<Container>> {
        let all = self
            .store
            .list_containers()
            .await
            .map_err(from_store("container"))?;
        match authz::scope_of(&ctx.who, Privilege::ContainersRead) {
            None => Ok(all),
            Some(roots) if roots.is_empty() => Err(CoreError::Forbidden),
            Some(roots) => {
                let mut out = Vec::new();
                for c in all {
                    let chain = self.chain(c.id).await?;
                    if chain.iter().any(|id| roots.contains(id)) {
                        out.push(c);
                    }
                }
                Ok(out)
            }
        }
    }

    pub async fn update_container(
        &self,
        ctx: &Ctx,
        id: Uuid,
        change: ContainerChange,
        if_match: Option<i64>,
    ) -> CoreResult<Container> {
        unconditionally(if_match, || {
            self.update_container_once(ctx, id, change.clone(), if_match)
        })
        .await
    }

    async fn update_container_once(
        &self,
        ctx: &Ctx,
        id: Uuid,
        change: ContainerChange,
        if_match: Option<i64>,
    ) -> CoreResult<Container> {
        let ContainerChange {
            name,
            description,
            parent_id,
        } = change;
        let current = self.get_container(ctx, id).await?;
        let chain = self.fresh_chain(id).await?;
        authz::authorize(&ctx.who, Privilege::ContainersWrite, Target::In(&chain))?;
        if id == ROOT_CONTAINER_ID && parent_id.is_some() {
            return Err(CoreError::invalid(
                "parent_id",
                "root",
                "the root container has no parent",
            ));
        }
        if let Some(p) = parent_id {
            let target = match self.fresh_chain(p).await {
                Err(CoreError::NotFound(_)) => {
                    return Err(CoreError::invalid(
                        "parent_id",
                        "exists",
                        "no such container",
                    ));
                }
                other => other?,
            };
            authz::authorize(&ctx.who, Privilege::ContainersWrite, Target::In(&target))?;
            self.check_move(ctx, &chain, &target).await?;
        }
        let name = name.unwrap_or(current.name);
        let description = description.unwrap_or(current.description);
        access::validate_named(&name, &description).map_err(invalid)?;
        let event = ctx
            .event("container.update")
            .target("container", id, Some(id));
        let updated = self
            .store
            .update_container(
                id,
                if_match.unwrap_or(current.version),
                name,
                description,
                parent_id,
                OffsetDateTime::now_utc(),
                event,
            )
            .await
            .map_err(from_store("container"))?;
        if parent_id.is_some() {
            self.forget_chains().await;
        }
        Ok(updated)
    }

    /// Moving a container under another parent changes who holds what over
    /// it: grants scoped to the new ancestors start to cover it, grants
    /// scoped to the old ones stop. Each is a conferral or a revocation over
    /// the moved container, checked as such (`chain`: the container and its
    /// ancestors now; `new_parent`: the new parent and its ancestors).
    async fn check_move(&self, ctx: &Ctx, chain: &[Uuid], new_parent: &[Uuid]) -> CoreResult<()> {
        let old_ancestors = &chain[1..];
        let changed = old_ancestors
            .iter()
            .filter(|c| !new_parent.contains(c))
            .chain(new_parent.iter().filter(|c| !old_ancestors.contains(c)));
        let here = authz::ResolvedScope::Chains(vec![chain.to_vec()]);
        for c in changed {
            for a in self
                .store
                .assignments_in(*c)
                .await
                .map_err(from_store("assignment"))?
            {
                let role = self.find_role(RoleRef::Id(a.role_id)).await?;
                authz::may_confer(&ctx.who, &role.privileges, &here)?;
            }
        }
        Ok(())
    }

    pub async fn delete_container(&self, ctx: &Ctx, id: Uuid) -> CoreResult<()> {
        self.delete_containers(ctx, &[id]).await
    }

    /// Deletes containers in one transaction (Aria's bulk scope delete):
    /// each is checked as its own delete would be, and if any is refused,
    /// missing or still in use, none is deleted.
    pub async fn delete_containers(&self, ctx: &Ctx, ids: &[Uuid]) -> CoreResult<()> {
        let mut writes = Vec::with_capacity(ids.len());
        for id in ids {
            writes.push(self.plan_delete_container(ctx, *id).await?);
        }
        self.store
            .write_all(writes)
            .await
            .map_err(from_store("container"))?;
        self.forget_chains().await;
        Ok(())
    }

    async fn plan_delete_container(&self, ctx: &Ctx, id: Uuid) -> CoreResult<(Write, AuditEvent)> {
        if id == ROOT_CONTAINER_ID {
            return Err(CoreError::Conflict(FieldError::new(
                "id",
                "root",
                "the root container cannot be deleted",
            )));
        }
        self.get_container(ctx, id).await?;
        let chain = self.chain(id).await?;
        authz::authorize(&ctx.who, Privilege::ContainersWrite, Target::In(&chain))?;
        let event = ctx
            .event("container.delete")
            .target("container", id, Some(id));
        Ok((Write::DeleteContainer(id), event))
    }

    // ---- roles

    fn parse_privileges(names: &[String]) -> CoreResult<Vec<Privilege>> {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (i, n) in names.iter().enumerate() {
            match Privilege::parse(n) {
                Some(p) if !out.contains(&p) => out.push(p),
                Some(_) => {}
                None => errors.push(FieldError::new(
                    format!("privileges[{i}]"),
                    "privilege",
                    format!("{n:?} is not a privilege; see GET /privileges"),
                )),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(invalid(errors))
        }
    }

    pub async fn create_role(&self, ctx: &Ctx, input: RoleInput) -> CoreResult<Role> {
        authz::authorize(&ctx.who, Privilege::RolesWrite, Target::Global)?;
        access::validate_named(&input.name, &input.description).map_err(invalid)?;
        access::validate_seq(input.seq).map_err(|e| invalid(vec![e]))?;
        let privileges = Self::parse_privileges(&input.privileges)?;
        let id = Uuid::now_v7();
        let event = ctx
            .event("role.create")
            .target("role", id, None)
            .details(json!({ "name": input.name, "privileges": input.privileges }));
        self.store
            .insert_role(
                NewRole {
                    id,
                    seq: input.seq,
                    name: input.name,
                    description: input.description,
                    privileges,
                    now: OffsetDateTime::now_utc(),
                },
                event,
            )
            .await
            .map_err(from_store("role"))
    }

    pub async fn get_role(&self, ctx: &Ctx, r: RoleRef) -> CoreResult<Role> {
        authz::authorize(&ctx.who, Privilege::RolesRead, Target::Global)?;
        self.find_role(r).await
    }

    pub(super) async fn find_role(&self, r: RoleRef) -> CoreResult<Role> {
        self.store
            .role(r)
            .await
            .map_err(from_store("role"))?
            .ok_or(CoreError::NotFound("role"))
    }

    pub async fn list_roles(&self, ctx: &Ctx) -> CoreResult<Vec<Role>> {
        authz::authorize(&ctx.who, Privilege::RolesRead, Target::Global)?;
        self.store.list_roles().await.map_err(from_store("role"))
    }

    pub async fn update_role(
        &self,
        ctx: &Ctx,
        id: Uuid,
        input: RoleInput,
        if_match: Option<i64>,
    ) -> CoreResult<Role> {
        unconditionally(if_match, || {
            self.update_role_once(ctx, id, input.clone(), if_match)
        })
        .await
    }

    async fn update_role_once(
        &self,
        ctx: &Ctx,
        id: Uuid,
        input: RoleInput,
        if_match: Option<i64>,
    ) -> CoreResult<Role> {
        authz::authorize(&ctx.who, Privilege::RolesWrite, Target::Global)?;
        let current = self.find_role(RoleRef::Id(id)).await?;
        if current.system {
            return Err(CoreError::Conflict(FieldError::new(
                "id",
                "system",
                "built-in roles cannot be changed",
            )));
        }
        access::validate_named(&input.name, &input.description).map_err(invalid)?;
        let privileges = Self::parse_privileges(&input.privileges)?;
        // Every holder of the role gains (or loses) the difference over
        // their scope: the caller must be able to confer it there.
        let changed: Vec<Privilege> = Privilege::ALL
            .into_iter()
            .filter(|p| privileges.contains(p) != current.privileges.contains(p))
            .collect();
        if !changed.is_empty() {
            for a in self
                .store
                .assignments_of_role(id)
                .await
                .map_err(from_store("assignment"))?
            {
                self.check_confer(ctx, &changed, a.all_objects, &a.container_ids)
                    .await?;
            }
        }
        let event = ctx
            .event("role.update")
            .target("role", id, None)
            .details(json!({ "name": input.name, "privileges": input.privileges }));
        let role = self
            .store
            .update_role(
                id,
                if_match.unwrap_or(current.version),
                input.name,
                input.description,
                privileges,
                OffsetDateTime::now_utc(),
                event,
            )
            .await
            .map_err(from_store("role"))?;
        self.forget_everyone().await;
        Ok(role)
    }

    /// Adds, replaces or removes privileges of a role (Aria's role
    /// privilege calls): read, change and write on the version read, again
    /// if another change landed in between, so none is lost. With
    /// `if_match`, only on that version (412 otherwise), once.
    pub async fn change_role_privileges(
        &self,
        ctx: &Ctx,
        id: Uuid,
        change: PrivilegeChange,
        if_match: Option<i64>,
    ) -> CoreResult<Role> {
        // Each round lets at least one of the racing changes through.
        for _attempt in 0..32 {
            let current = self.find_role(RoleRef::Id(id)).await?;
            if if_match.is_some_and(|v| v != current.version) {
                return Err(CoreError::PreconditionFailed);
            }
            let mut names: Vec<String> = current
                .privileges
                .iter()
                .map(|p| p.as_str().to_string())
                .collect();
            match &change {
                PrivilegeChange::Add(more) => names.extend(more.iter().cloned()),
                PrivilegeChange::Set(all) => names = all.clone(),
                PrivilegeChange::Remove(gone) => names.retain(|n| !gone.contains(n)),
            }
            let input = RoleInput {
                name: current.name,
                description: current.description,
                privileges: names,
                seq: None,
            };
            match self
                .update_role_once(ctx, id, input, Some(current.version))
                .await
            {
                Err(CoreError::PreconditionFailed) if if_match.is_none() => continue,
                other => return other,
            }
        }
        Err(CoreError::PreconditionFailed)
    }

    pub async fn delete_role(&self, ctx: &Ctx, id: Uuid) -> CoreResult<()> {
        authz::authorize(&ctx.who, Privilege::RolesWrite, Target::Global)?;
        // Deleting a role takes it from everyone who holds it.
        for a in self
            .store
            .assignments_of_role(id)
            .await
            .map_err(from_store("assignment"))?
        {
            self.check_revocable(ctx, &a).await?;
        }
        let event = ctx.event("role.delete").target("role", id, None);
        self.store
            .delete_role(id, event)
            .await
            .map_err(from_store("role"))?;
        self.forget_everyone().await;
        Ok(())
    }

    // ---- groups

    pub async fn create_group(&self, ctx: &Ctx, input: GroupInput) -> CoreResult<Group> {
        let (group, event) = self.plan_create_group(ctx, input)?;
        self.store
            .insert_group(group, event)
            .await
            .map_err(from_store("group"))
    }

    fn plan_create_group(
        &self,
        ctx: &Ctx,
        input: GroupInput,
    ) -> CoreResult<(NewGroup, AuditEvent)> {
        let GroupInput {
            name,
            description,
            seq,
            attributes,
        } = input;
        authz::authorize(&ctx.who, Privilege::GroupsWrite, Target::Global)?;
        validate_group(&name, &description, &attributes)?;
        access::validate_seq(seq).map_err(|e| invalid(vec![e]))?;
        let id = Uuid::now_v7();
        let event = ctx
            .event("group.create")
            .target("group", id, None)
            .details(json!({ "name": name }));
        let group = NewGroup {
            id,
            seq,
            name,
            description,
            attributes,
            now: OffsetDateTime::now_utc(),
        };
        Ok((group, event))
    }

    /// Creates a group with members and role assignments in one
    /// transaction (Aria's user groups), each part checked as its own
    /// request would be: nothing is written if any is refused.
    pub async fn create_group_with(
        &self,
        ctx: &Ctx,
        input: GroupInput,
        members: Vec<Uuid>,
        grants: Vec<crate::user::RoleGrant>,
    ) -> CoreResult<Group> {
        let (group, event) = self.plan_create_group(ctx, input)?;
        let id = group.id;
        let mut writes = vec![(Write::InsertGroup(group), event)];
        writes.extend(self.plan_grants(ctx, Holder::Group(id), grants).await?);
        for user in members {
            // A new member receives what the group is given here, which
            // the grants above were checked for.
            self.user_to_change(ctx, user, Privilege::UsersRead).await?;
            writes.push(self.member_write(ctx, id, user, true));
        }
        self.store
            .write_all(writes)
            .await
            .map_err(from_store("group"))?;
        self.find_group(GroupRef::Id(id)).await
    }

    /// Changes a group and, in the same transaction, its members (when
    /// given: exactly these, among the members the caller may read) and
    /// role assignments. With `if_match`, only on that version (412
    /// otherwise); without, a concurrent change is read again and this one
    /// applied over it.
    pub async fn update_group_with(
        &self,
        ctx: &Ctx,
        id: Uuid,
        change: GroupChange,
        members: Option<Vec<Uuid>>,
        grants: Vec<crate::user::RoleGrant>,
        if_match: Option<i64>,
    ) -> CoreResult<Group> {
        unconditionally(if_match, || {
            self.update_group_with_once(
                ctx,
                id,
                change.clone(),
                members.clone(),
                grants.clone(),
                if_match,
            )
        })
        .await
    }

    async fn update_group_with_once(
        &self,
        ctx: &Ctx,
        id: Uuid,
        change: GroupChange,
        members: Option<Vec<Uuid>>,
        grants: Vec<crate::user::RoleGrant>,
        if_match: Option<i64>,
    ) -> CoreResult<Group> {
        let (update, event) = self.plan_update_group(ctx, id, change, if_match).await?;
        let mut writes = vec![(update, event)];
        writes.extend(self.plan_grants(ctx, Holder::Group(id), grants).await?);
        if let Some(wanted) = members {
            let current = self.all_members(ctx, id).await?;
            let changing = wanted.iter().any(|u| !current.iter().any(|c| c.id == *u))
                || current.iter().any(|c| !wanted.contains(&c.id));
            if changing {
                // Joining or leaving gives or takes what the group holds.
                self.check_group_conferral(ctx, id).await?;
            }
            for u in wanted
                .iter()
                .filter(|u| !current.iter().any(|c| c.id == **u))
            {
                self.user_to_change(ctx, *u, Privilege::UsersRead).await?;
                writes.push(self.member_write(ctx, id, *u, true));
            }
            for c in current.iter().filter(|c| !wanted.contains(&c.id)) {
                self.user_to_change(ctx, c.id, Privilege::UsersRead).await?;
                writes.push(self.member_write(ctx, id, c.id, false));
            }
        }
        self.store
            .write_all(writes)
            .await
            .map_err(from_store("group"))?;
        self.forget_everyone().await;
        self.find_group(GroupRef::Id(id)).await
    }

    /// Checks assigning each of `grants` to `holder` and turns them into
    /// writes with their events.
    pub(super) async fn plan_grants(
        &self,
        ctx: &Ctx,
        holder: Holder,
        grants: Vec<crate::user::RoleGrant>,
    ) -> CoreResult<Vec<(Write, AuditEvent)>> {
        let mut writes = Vec::new();
        for g in grants {
            let (role, event) = self
                .plan_assign(ctx, holder, g.role, g.all_objects, &g.containers)
                .await?;
            writes.push((
                Write::Assign {
                    holder,
                    role: role.id,
                    all_objects: g.all_objects,
                    containers: g.containers,
                },
                event,
            ));
        }
        Ok(writes)
    }

    pub(super) fn member_write(
        &self,
        ctx: &Ctx,
        group: Uuid,
        user: Uuid,
        add: bool,
    ) -> (Write, AuditEvent) {
        let (action, write) = if add {
            (
                "group.member.add",
                Write::AddMember {
                    group,
                    user,
                    access_level: None,
                },
            )
        } else {
            ("group.member.remove", Write::RemoveMember { group, user })
        };
        let event = ctx
            .event(action)
            .target("group", group, None)
            .details(json!({ "user_id": user }));
        (write, event)
    }

    pub async fn get_group(&self, ctx: &Ctx, id: Uuid) -> CoreResult<Group> {
        authz::authorize(&ctx.who, Privilege::GroupsRead, Target::Global)?;
        self.store
            .group(id)
            .await
            .map_err(from_store("group"))?
            .ok_or(CoreError::NotFound("group"))
    }

    pub async fn list_groups(
        &self,
        ctx: &Ctx,
        after_seq: i64,
        limit: u32,
    ) -> CoreResult<Page<Group>> {
        authz::authorize(&ctx.who, Privilege::GroupsRead, Target::Global)?;
        let items = self
            .store
            .list_groups(after_seq, limit + 1)
            .await
            .map_err(from_store("group"))?;
        Ok(Page::from_overfetch(items, limit as usize, |g| g.seq))
    }

    /// Every group, for faces whose APIs answer with whole lists.
    pub async fn all_groups(&self, ctx: &Ctx) -> CoreResult<Vec<Group>> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self.list_groups(ctx, after, 1000).await?;
            out.extend(page.items);
            match page.next {
                Some(n) => after = n,
                None => return Ok(out),
            }
        }
    }

    /// Every member of a group.
    pub async fn all_members(&self, ctx: &Ctx, group: Uuid) -> CoreResult<Vec<User>> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self.members(ctx, group, after, 1000).await?;
            out.extend(page.items);
            match page.next {
                Some(n) => after = n,
                None => return Ok(out),
            }
        }
    }

    pub async fn update_group(
        &self,
        ctx: &Ctx,
        id: Uuid,
        change: GroupChange,
        if_match: Option<i64>,
    ) -> CoreResult<Group> {
        unconditionally(if_match, || async {
            let write = self
                .plan_update_group(ctx, id, change.clone(), if_match)
                .await?;
            self.store
                .write_all(vec![write])
                .await
                .map_err(from_store("group"))
        })
        .await?;
        self.find_group(GroupRef::Id(id)).await
    }

    async fn plan_update_group(
        &self,
        ctx: &Ctx,
        id: Uuid,
        change: GroupChange,
        if_match: Option<i64>,
    ) -> CoreResult<(Write, AuditEvent)> {
        let current = self.get_group(ctx, id).await?;
        authz::authorize(&ctx.who, Privilege::GroupsWrite, Target::Global)?;
        let name = change.name.unwrap_or(current.name);
        let description = change.description.unwrap_or(current.description);
        let mut attributes = current.attributes;
        for (k, v) in change.attributes {
            if v.is_null() {
                attributes.remove(&k);
            } else {
                attributes.insert(k, v);
            }
        }
        validate_group(&name, &description, &attributes)?;
        let event = ctx.event("group.update").target("group", id, None);
        let update = Write::UpdateGroup {
            id,
            expected_version: if_match.unwrap_or(current.version),
            name,
            description,
            attributes,
            now: OffsetDateTime::now_utc(),
        };
        Ok((update, event))
    }

    /// Deletes a group; with `if_match`, only that version of it (412
    /// otherwise).
    pub async fn delete_group(&self, ctx: &Ctx, id: Uuid, if_match: Option<i64>) -> CoreResult<()> {
        let write = self.plan_delete_group(ctx, id, if_match).await?;
        self.store
            .write_all(vec![write])
            .await
            .map_err(from_store("group"))?;
        self.forget_everyone().await;
        Ok(())
    }

    /// Deletes several groups in one transaction (Aria's `DELETE
    /// /usergroups?id=…&id=…`): each is checked as its own delete would
    /// be, and if any is refused or missing, none is deleted.
    pub async fn delete_groups(&self, ctx: &Ctx, ids: &[Uuid]) -> CoreResult<()> {
        let mut writes = Vec::with_capacity(ids.len());
        for id in ids {
            writes.push(self.plan_delete_group(ctx, *id, None).await?);
        }
        self.store
            .write_all(writes)
            .await
            .map_err(from_store("group"))?;
        self.forget_everyone().await;
        Ok(())
    }

    async fn plan_delete_group(
        &self,
        ctx: &Ctx,
        id: Uuid,
        if_match: Option<i64>,
    ) -> CoreResult<(Write, AuditEvent)> {
        authz::authorize(&ctx.who, Privilege::GroupsWrite, Target::Global)?;
        // Its members lose what the group gave them.
        self.check_group_conferral(ctx, id).await?;
        let event = ctx.event("group.delete").target("group", id, None);
        Ok((
            Write::DeleteGroup {
                id,
                expected_version: if_match,
            },
            event,
        ))
    }

    /// Adds a member (or changes the access level a face keeps for it).
    pub async fn add_member(
        &self,
        ctx: &Ctx,
        group: Uuid,
        user: Uuid,
        access_level: Option<String>,
    ) -> CoreResult<bool> {
        self.get_group(ctx, group).await?;
        authz::authorize(&ctx.who, Privilege::GroupsWrite, Target::Global)?;
        let member = self.user_to_change(ctx, user, Privilege::UsersRead).await?;
        self.check_group_conferral(ctx, group).await?;
        let event = ctx
            .event("group.member.add")
            .target("group", group, None)
            .details(json!({
                "user_id": user, "username": member.profile.username, "access_level": access_level
            }));
        let added = self
            .store
            .add_member(group, user, access_level, event)
            .await
            .map_err(from_store("group"))?;
        self.forget_user(user).await;
        Ok(added)
    }

    pub async fn remove_member(&self, ctx: &Ctx, group: Uuid, user: Uuid) -> CoreResult<()> {
        authz::authorize(&ctx.who, Privilege::GroupsWrite, Target::Global)?;
        match self.user_to_change(ctx, user, Privilege::UsersRead).await {
            Err(CoreError::NotFound(_)) => return Err(CoreError::NotFound("membership")),
            other => other?,
        };
        self.check_group_conferral(ctx, group).await?;
        let event = ctx
            .event("group.member.remove")
            .target("group", group, None)
            .details(json!({ "user_id": user }));
        self.store
            .remove_member(group, user, event)
            .await
            .map_err(from_store("membership"))?;
        self.forget_user(user).await;
        Ok(())
    }

    /// Adds and removes members in one transaction (SCIM's group PATCH),
    /// each checked as [`Self::add_member`] and [`Self::remove_member`]
    /// check it, and the group's holdings conferrable when membership
    /// changes. Adding a member or removing a non-member is no change (a
    /// user that does not exist is a non-member); a user may not be both
    /// added and removed. A change bumps the group's version once; no
    /// change writes nothing. With `if_match`, only on that version (412
    /// otherwise, even when nothing would change).
    pub async fn change_group_members(
        &self,
        ctx: &Ctx,
        group: Uuid,
        add: Vec<Uuid>,
        remove: Vec<Uuid>,
        if_match: Option<i64>,
    ) -> CoreResult<Group> {
        let removing: std::collections::HashSet<&Uuid> = remove.iter().collect();
        if let Some(u) = add.iter().find(|u| removing.contains(u)) {
            return Err(CoreError::invalid(
                "members",
                "distinct",
                format!("user {u} cannot be both added and removed"),
            ));
        }
        unconditionally(if_match, || {
            self.change_members_once(ctx, group, &add, &remove, if_match)
        })
        .await
    }

    /// Makes exactly `members` the group's members, among the members the
    /// caller may read (those it may not are kept, untouched, as
    /// [`Self::update_group_with`] does): [`Self::change_group_members`]
    /// with the difference.
    pub async fn set_group_members(
        &self,
        ctx: &Ctx,
        group: Uuid,
        members: Vec<Uuid>,
        if_match: Option<i64>,
    ) -> CoreResult<Group> {
        unconditionally(if_match, || async {
            let wanted: std::collections::HashSet<Uuid> = members.iter().copied().collect();
            let visible = self.all_members(ctx, group).await?;
            let remove: Vec<Uuid> = visible
                .iter()
                .map(|u| u.id)
                .filter(|u| !wanted.contains(u))
                .collect();
            self.change_members_once(ctx, group, &members, &remove, if_match)
                .await
        })
        .await
    }

    async fn change_members_once(
        &self,
        ctx: &Ctx,
        id: Uuid,
        add: &[Uuid],
        remove: &[Uuid],
        if_match: Option<i64>,
    ) -> CoreResult<Group> {
        let group = self.get_group(ctx, id).await?;
        authz::authorize(&ctx.who, Privilege::GroupsWrite, Target::Global)?;
        if if_match.is_some_and(|v| v != group.version) {
            return Err(CoreError::PreconditionFailed);
        }
        let current = self.member_ids(id).await?;
        let mut changes = Vec::new();
        for u in unique(add) {
            // As add_member: the user in reach and not above the caller,
            // whether or not it is a member already.
            self.user_to_change(ctx, u, Privilege::UsersRead).await?;
            if !current.contains(&u) {
                changes.push((u, true));
            }
        }
        for u in unique(remove) {
            match self.user_to_change(ctx, u, Privilege::UsersRead).await {
                Err(CoreError::NotFound(_)) => continue,
                other => other?,
            };
            if current.contains(&u) {
                changes.push((u, false));
            }
        }
        if changes.is_empty() {
            return Ok(group);
        }
        // Joining or leaving gives or takes what the group holds.
        self.check_group_conferral(ctx, id).await?;
        let event = ctx.event("group.update").target("group", id, None);
        let bump = Write::UpdateGroup {
            id,
            expected_version: group.version,
            name: group.name,
            description: group.description,
            attributes: group.attributes,
            now: OffsetDateTime::now_utc(),
        };
        let mut writes = vec![(bump, event)];
        writes.extend(
            changes
                .iter()
                .map(|(u, add)| self.member_write(ctx, id, *u, *add)),
        );
        match self.store.write_all(writes).await {
            Ok(()) => {}
            // A member removed since the read (memberships do not move the
            // group's version): read again, as for a version race; a
            // deleted group is then reported as such.
            Err(StoreError::NotFound) => return Err(CoreError::PreconditionFailed),
            Err(e) => return Err(from_store("group")(e)),
        }
        for (u, _) in &changes {
            self.forget_user(*u).await;
        }
        self.find_group(GroupRef::Id(id)).await
    }

    /// Every member's id, whoever may read them.
    async fn member_ids(&self, group: Uuid) -> CoreResult<std::collections::HashSet<Uuid>> {
        let mut out = std::collections::HashSet::new();
        let mut after = 0;
        loop {
            let page = self
                .store
                .members(group, after, 1000)
                .await
                .map_err(from_store("group"))?;
            let Some(last) = page.last() else {
                return Ok(out);
            };
            after = last.seq;
            out.extend(page.iter().map(|u| u.id));
        }
    }

    pub async fn members(
        &self,
        ctx: &Ctx,
        group: Uuid,
        after_seq: i64,
        limit: u32,
    ) -> CoreResult<Page<User>> {
        self.get_group(ctx, group).await?;
        let items = self
            .store
            .members(group, after_seq, limit + 1)
            .await
            .map_err(from_store("group"))?;
        let mut page = Page::from_overfetch(items, limit as usize, |u| u.seq);
        // `groups.read` tells who is in a group only as far as the caller
        // may read users; the rest are counted, not described.
        let mut visible = Vec::with_capacity(page.items.len());
        for u in std::mem::take(&mut page.items) {
            if self.get_user(ctx, u.id).await.is_ok() {
                visible.push(u);
            } else {
                page.hidden += 1;
            }
        }
        page.items = visible;
        Ok(page)
    }

    pub async fn groups_of(&self, ctx: &Ctx, user: Uuid) -> CoreResult<Vec<Membership>> {
        self.get_user(ctx, user).await?;
        self.store.groups_of(user).await.map_err(from_store("user"))
    }

    // ---- role assignments

    /// Grants a role. The caller needs `roles.assign` over the whole scope
    /// and must itself hold every privilege of the role there, so nobody
    /// can hand out more than they have.
    pub async fn assign_role(
        &self,
        ctx: &Ctx,
        holder: Holder,
        role: RoleRef,
        all_objects: bool,
        containers: Vec<Uuid>,
    ) -> CoreResult<Assignment> {
        self.holder_to_change(ctx, holder).await?;
        let (role, event) = self
            .plan_assign(ctx, holder, role, all_objects, &containers)
            .await?;
        let a = self
            .store
            .assign(holder, role.id, all_objects, containers, event)
            .await
            .map_err(from_store("assignment"))?;
        self.forget_holder(holder).await;
        Ok(a)
    }

    /// Checks assigning `role` to a holder the caller may change, and the
    /// event that records it. Assigning a role the holder has replaces that
    /// assignment's scope: the old one must be the caller's to take away.
    pub(super) async fn plan_assign(
        &self,
        ctx: &Ctx,
        holder: Holder,
        role: RoleRef,
        all_objects: bool,
        containers: &[Uuid],
    ) -> CoreResult<(Role, AuditEvent)> {
        let role = self
            .assignable_role(ctx, role, all_objects, containers)
            .await?;
        if let Some(existing) = self
            .store
            .assignments_of(holder)
            .await
            .map_err(from_store("assignment"))?
            .into_iter()
            .find(|a| a.role_id == role.id)
            && !same_scope(&existing, all_objects, containers)
        {
            self.check_revocable(ctx, &existing).await?;
        }
        let (kind, id) = match holder {
            Holder::User(u) => ("user", u),
            Holder::Group(g) => ("group", g),
        };
        let event = ctx
            .event("role.assign")
            .target(kind, id, None)
            .details(json!({
                "role": role.name, "all_objects": all_objects, "container_ids": containers
            }));
        Ok((role, event))
    }

    /// Resolves a role and checks that the caller may grant it over this
    /// scope: `roles.assign` there, and every privilege of the role there,
    /// so nobody can hand out more than they hold.
    pub(super) async fn assignable_role(
        &self,
        ctx: &Ctx,
        role: RoleRef,
        all_objects: bool,
        containers: &[Uuid],
    ) -> CoreResult<Role> {
        let role = match self.find_role(role).await {
            Err(CoreError::NotFound(_)) => {
                return Err(CoreError::invalid("role", "exists", "no such role"));
            }
            other => other?,
        };
        if !all_objects && containers.is_empty() {
            return Err(CoreError::invalid(
                "container_ids",
                "required",
                "name the containers the role applies to, or set all_objects",
            ));
        }
        for c in containers {
            if let Err(CoreError::NotFound(_)) = self.chain(*c).await {
                return Err(CoreError::invalid(
                    "container_ids",
                    "exists",
                    format!("no container {c}"),
                ));
            }
        }
        self.check_confer(ctx, &role.privileges, all_objects, containers)
            .await?;
        Ok(role)
    }

    /// A role the caller itself holds, by name (Aria's "privileges of a
    /// role of the current user").
    pub async fn own_role(&self, ctx: &Ctx, name: &str) -> CoreResult<Role> {
        if !ctx
            .who
            .grants
            .iter()
            .any(|g| g.role_name.eq_ignore_ascii_case(name))
        {
            return Err(CoreError::NotFound("role of the current user"));
        }
        self.find_role(RoleRef::Name(name.to_string())).await
    }

    /// A group by its integer id, if the caller may read groups.
    pub async fn group_by_seq(&self, ctx: &Ctx, seq: i64) -> CoreResult<Group> {
        authz::authorize(&ctx.who, Privilege::GroupsRead, Target::Global)?;
        self.find_group(GroupRef::Seq(seq)).await
    }

    /// Resolves a group named by id or integer id.
    pub(super) async fn find_group(&self, group: GroupRef) -> CoreResult<Group> {
        let found = match group {
            GroupRef::Id(id) => self.store.group(id).await,
            GroupRef::Seq(seq) => self.store.group_by_seq(seq).await,
        };
        found
            .map_err(from_store("group"))?
            .ok_or(CoreError::NotFound("group"))
    }

    /// Containers with this name that the caller may read.
    pub async fn containers_named(&self, ctx: &Ctx, name: &str) -> CoreResult<Vec<Container>> {
        let found = self
            .store
            .containers_named(name)
            .await
            .map_err(from_store("container"))?;
        let mut out = Vec::new();
        for c in found {
            if self.get_container(ctx, c.id).await.is_ok() {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn forget_holder(&self, holder: Holder) {
        match holder {
            Holder::User(u) => self.forget_user(u).await,
            Holder::Group(_) => self.forget_everyone().await,
        }
    }

    /// Replaces all of a user's role assignments (faces whose users carry a
    /// role list, such as DigiCert's access roles). The caller must be able
    /// to revoke each current one and grant each new one.
    pub async fn set_user_roles(
        &self,
        ctx: &Ctx,
        user: Uuid,
        grants: Vec<crate::user::RoleGrant>,
    ) -> CoreResult<Vec<Assignment>> {
        let (resolved, event) = self.plan_user_roles(ctx, user, grants).await?;
        let holder = Holder::User(user);
        let out = self
            .store
            .replace_assignments(holder, resolved, event)
            .await
            .map_err(from_store("assignment"))?;
        self.forget_user(user).await;
        Ok(out)
    }

    /// Checks replacing a user's role assignments: each new or changed one
    /// conferred, each dropped one taken away; unchanged ones need nothing.
    pub(super) async fn plan_user_roles(
        &self,
        ctx: &Ctx,
        user: Uuid,
        grants: Vec<crate::user::RoleGrant>,
    ) -> CoreResult<(Vec<(Uuid, bool, Vec<Uuid>)>, AuditEvent)> {
        let holder = Holder::User(user);
        self.holder_to_change(ctx, holder).await?;
        let current = self
            .store
            .assignments_of(holder)
            .await
            .map_err(from_store("assignment"))?;
        let mut resolved = Vec::new();
        let mut names = Vec::new();
        for g in grants {
            let role = match self.find_role(g.role.clone()).await {
                Err(CoreError::NotFound(_)) => {
                    return Err(CoreError::invalid("role", "exists", "no such role"));
                }
                other => other?,
            };
            // Kept as it is: nothing is conferred.
            let kept = current
                .iter()
                .any(|a| a.role_id == role.id && same_scope(a, g.all_objects, &g.containers));
            if !kept {
                self.assignable_role(ctx, RoleRef::Id(role.id), g.all_objects, &g.containers)
                    .await?;
            }
            names.push(role.name.clone());
            resolved.push((role.id, g.all_objects, g.containers));
        }
        for a in &current {
            let kept = resolved
                .iter()
                .any(|(r, all, cs)| *r == a.role_id && same_scope(a, *all, cs));
            if !kept {
                self.check_revocable(ctx, a).await?;
            }
        }
        let event = ctx
            .event("role.replace")
            .target("user", user, None)
            .details(json!({ "roles": names }));
        Ok((resolved, event))
    }

    /// Makes `users` the users whose container-scoped roles reach
    /// `container` (DigiCert's container user-assignments): the container
    /// joins the scope of each listed user's scoped assignments and leaves
    /// everyone else's. Each change is a conferral or a revocation, checked
    /// as such, on users the caller is not below.
    pub async fn set_container_users(
        &self,
        ctx: &Ctx,
        container: Uuid,
        users: Vec<Uuid>,
    ) -> CoreResult<()> {
        let chain = self.chain(container).await?;
        authz::authorize(&ctx.who, Privilege::RolesAssign, Target::In(&chain))?;
        for u in &users {
            let holder = Holder::User(*u);
            self.holder_to_change(ctx, holder).await?;
            for a in self
                .store
                .assignments_of(holder)
                .await
                .map_err(from_store("assignment"))?
                .iter()
                .filter(|a| !a.all_objects && !a.container_ids.contains(&container))
            {
                let role = self.find_role(RoleRef::Id(a.role_id)).await?;
                self.check_confer(ctx, &role.privileges, false, &[container])
                    .await?;
            }
        }
        for a in self
            .store
            .assignments_in(container)
            .await
            .map_err(from_store("assignment"))?
        {
            let Holder::User(u) = a.holder else { continue };
            if users.contains(&u) {
                continue;
            }
            self.holder_to_change(ctx, a.holder).await?;
            let role = self.find_role(RoleRef::Id(a.role_id)).await?;
            self.check_confer(ctx, &role.privileges, false, &[container])
                .await?;
        }
        let event = ctx
            .event("container.users.set")
            .target("container", container, Some(container))
            .details(json!({ "user_ids": users }));
        self.store
            .set_container_users(container, users, event)
            .await
            .map_err(from_store("container"))?;
        self.forget_everyone().await;
        Ok(())
    }

    /// A holder whose grants the caller is about to change: a user the
    /// caller may read and is not below, or a group it may read.
    async fn holder_to_change(&self, ctx: &Ctx, holder: Holder) -> CoreResult<()> {
        match holder {
            Holder::User(u) => self
                .user_to_change(ctx, u, Privilege::UsersRead)
                .await
                .map(|_| ()),
            Holder::Group(g) => self.get_group(ctx, g).await.map(|_| ()),
        }
    }

    pub async fn unassign_role(
        &self,
        ctx: &Ctx,
        holder: Holder,
        assignment: Uuid,
    ) -> CoreResult<()> {
        let a = self
            .store
            .assignment(assignment)
            .await
            .map_err(from_store("assignment"))?
            .filter(|a| a.holder == holder)
            .ok_or(CoreError::NotFound("assignment"))?;
        self.holder_to_change(ctx, holder).await?;
        self.check_revocable(ctx, &a).await?;
        let event = ctx
            .event("role.unassign")
            .target("assignment", assignment, None)
            .details(json!({ "role": a.role_name }));
        self.store
            .unassign(assignment, event)
            .await
            .map_err(from_store("assignment"))?;
        self.forget_holder(holder).await;
        Ok(())
    }

    pub async fn assignments_of(&self, ctx: &Ctx, holder: Holder) -> CoreResult<Vec<Assignment>> {
        match holder {
            Holder::User(u) => {
                self.get_user(ctx, u).await?;
            }
            Holder::Group(g) => {
                self.get_group(ctx, g).await?;
            }
        }
        self.store
            .assignments_of(holder)
            .await
            .map_err(from_store("assignment"))
    }

    /// What a user may do where, and which assignment grants it.
    pub async fn effective_permissions(
        &self,
        ctx: &Ctx,
        user: Uuid,
    ) -> CoreResult<Vec<EffectiveGrant>> {
        self.get_user(ctx, user).await?;
        let grants: Vec<Grant> = self
            .store
            .grants_of(user)
            .await
            .map_err(from_store("user"))?;
        let mut out = Vec::new();
        for g in grants {
            for p in &g.privileges {
                let (all_objects, container_ids) = match &g.scope {
                    Scope::All => (true, Vec::new()),
                    Scope::Containers(cs) => (false, cs.clone()),
                };
                out.push(EffectiveGrant {
                    privilege: p.as_str(),
                    all_objects,
                    container_ids,
                    role_id: g.role_id,
                    role: g.role_name.clone(),
                    assignment_id: g.assignment_id,
                    via: g
                        .via_group
                        .as_ref()
                        .map_or_else(|| "direct".to_string(), |(_, name)| format!("group:{name}")),
                });
            }
        }
        out.sort_by(|a, b| a.privilege.cmp(b.privilege).then(a.role.cmp(&b.role)));
        Ok(out)
    }

    // ---- API keys

    /// Creates a key; the secret is in the result once and never again.
    pub async fn create_key(&self, ctx: &Ctx, input: NewKey) -> CoreResult<(ApiKeyInfo, Secret)> {
        let role = self.check_new_key(ctx, &input).await?;
        // Derived, never wider: a restricted caller mints keys at most as
        // restricted as itself, whatever role it names.
        let cap = authz::derived_restriction(&ctx.who, None);
        let owner = input.user_id.unwrap_or(ctx.who.user_id);
        if owner != ctx.who.user_id {
            let user = self
                .user_in_reach(ctx, owner, Privilege::KeysManage)
                .await?;
            // The key carries the owner's power (within its restriction):
            // the caller must hold all of that itself.
            let within =
                authz::derived_restriction(&ctx.who, role.as_ref().map(|r| &r.privileges[..]));
            self.check_not_above(ctx, &user, within.as_deref()).await?;
        }
        let (generated, event) = Self::generate_key(ctx, &input, owner);
        let info = self
            .store
            .insert_key(
                owner,
                generated.record,
                input.role_id,
                cap,
                input.expires_at,
                event,
            )
            .await
            .map_err(from_store("key"))?;
        Ok((info, generated.secret))
    }

    /// The checks on a key's own fields; returns the role restricting it.
    async fn check_new_key(&self, ctx: &Ctx, input: &NewKey) -> CoreResult<Option<Role>> {
        let mut errors = crate::validation::Errors::default();
        access::validate_name(&mut errors, "name", &input.name);
        errors.into_result().map_err(invalid)?;
        if input
            .expires_at
            .is_some_and(|t| t <= OffsetDateTime::now_utc())
        {
            return Err(CoreError::invalid(
                "expires_at",
                "future",
                "must be in the future",
            ));
        }
        if ctx.who.enroll_only {
            return Err(CoreError::Forbidden);
        }
        match input.role_id {
            Some(role) => match self.find_role(RoleRef::Id(role)).await {
                Err(CoreError::NotFound(_)) => {
                    Err(CoreError::invalid("role_id", "exists", "no such role"))
                }
                other => other.map(Some),
            },
            None => Ok(None),
        }
    }

    /// A new key for `owner`, with the event that records it.
    fn generate_key(ctx: &Ctx, input: &NewKey, owner: Uuid) -> (auth::GeneratedKey, AuditEvent) {
        let generated = auth::generate_key(&input.name);
        let event = ctx
            .event("key.create")
            .target("api_key", generated.record.id, None)
            .details(json!({ "owner": owner, "name": input.name, "role_id": input.role_id }));
        (generated, event)
    }

    /// [`Self::create_key`]'s checks and write for a user being created in
    /// the same transaction (`owner`, homed at the end of `chain`, to be
    /// given `access`): `keys.manage` there, and the caller holding all the
    /// new user will hold (within the key's restriction). Returns the
    /// write, its event, the key's id and its secret.
    pub(super) async fn plan_key_for_new_user(
        &self,
        ctx: &Ctx,
        input: NewKey,
        owner: Uuid,
        chain: &[Uuid],
        access: &crate::user::NewUserAccess,
    ) -> CoreResult<(Write, AuditEvent, Uuid, Secret)> {
        let role = self.check_new_key(ctx, &input).await?;
        let cap = authz::derived_restriction(&ctx.who, None);
        if authz::authorize(&ctx.who, Privilege::KeysManage, Target::Global).is_err() {
            authz::authorize(&ctx.who, Privilege::KeysManage, Target::In(chain))?;
        }
        let scope = |all: bool, containers: &[Uuid]| {
            if all {
                Scope::All
            } else {
                Scope::Containers(containers.to_vec())
            }
        };
        let mut grants = Vec::new();
        for (role, all, containers) in &access.assignments {
            let role = self.find_role(RoleRef::Id(*role)).await?;
            grants.push((role.privileges, scope(*all, containers)));
        }
        for group in &access.groups {
            for a in self
                .store
                .assignments_of(Holder::Group(*group))
                .await
                .map_err(from_store("assignment"))?
            {
                let role = self.find_role(RoleRef::Id(a.role_id)).await?;
                grants.push((role.privileges, scope(a.all_objects, &a.container_ids)));
            }
        }
        let within = authz::derived_restriction(&ctx.who, role.as_ref().map(|r| &r.privileges[..]));
        self.check_holds_all(ctx, grants, within.as_deref()).await?;
        let (generated, event) = Self::generate_key(ctx, &input, owner);
        let id = generated.record.id;
        let write = Write::InsertKey {
            user: owner,
            key: generated.record,
            role: input.role_id,
            cap,
            expires_at: input.expires_at,
        };
        Ok((write, event, id, generated.secret))
    }

    /// The caller's keys, or (with `keys.manage`) another user's or everyone's.
    pub async fn list_keys(
        &self,
        ctx: &Ctx,
        user: Option<Uuid>,
        everyone: bool,
    ) -> CoreResult<Vec<ApiKeyInfo>> {
        if everyone {
            authz::authorize(&ctx.who, Privilege::KeysManage, Target::Global)?;
            return self.store.list_keys(None).await.map_err(from_store("key"));
        }
        let owner = user.unwrap_or(ctx.who.user_id);
        if owner != ctx.who.user_id {
            self.user_in_reach(ctx, owner, Privilege::KeysManage)
                .await?;
        }
        self.store
            .list_keys(Some(owner))
            .await
            .map_err(from_store("key"))
    }

    pub async fn get_key(&self, ctx: &Ctx, id: Uuid) -> CoreResult<ApiKeyInfo> {
        let key = self
            .store
            .key(id)
            .await
            .map_err(from_store("key"))?
            .ok_or(CoreError::NotFound("key"))?;
        if key.user_id != ctx.who.user_id {
            self.user_in_reach(ctx, key.user_id, Privilege::KeysManage)
                .await?;
        }
        Ok(key)
    }

    /// Replaces the API key the caller authenticated with: a new key with
    /// the same name and restriction, and the old one revoked.
    pub async fn regenerate_own_key(&self, ctx: &Ctx) -> CoreResult<(ApiKeyInfo, Secret)> {
        let crate::auth::CredentialKind::ApiKey { key_id } = ctx.who.credential else {
            return Err(CoreError::invalid(
                "credential",
                "api_key",
                "authenticate with the API key to regenerate",
            ));
        };
        let old = self.get_key(ctx, key_id).await?;
        let created = self
            .create_key(
                ctx,
                NewKey {
                    name: old.name.clone(),
                    user_id: None,
                    role_id: old.role_id,
                    expires_at: old.expires_at,
                },
            )
            .await?;
        self.revoke_key(ctx, key_id).await?;
        Ok(created)
    }

    pub async fn revoke_key(&self, ctx: &Ctx, id: Uuid) -> CoreResult<()> {
        let key = self.get_key(ctx, id).await?;
        if key.user_id != ctx.who.user_id {
            let owner = self.load_user(key.user_id).await?;
            self.check_not_above(ctx, &owner, None).await?;
        }
        let event = ctx.event("key.revoke").target("api_key", id, None);
        self.store
            .revoke_key(id, OffsetDateTime::now_utc(), event)
            .await
            .map_err(from_store("key"))?;
        self.forget_user(key.user_id).await;
        Ok(())
    }
}
