//! User services.

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::access::NewKey;
use super::{Ctx, Roster, from_store};
use crate::Secret;
use crate::access::Holder;
use crate::access::{ApiKeyInfo, GroupRef};
use crate::audit::{AuditEvent, Origin, Outcome};
use crate::authz::{self, Privilege, Target};
use crate::error::{CoreError, CoreResult, FieldError};
use crate::store::{StoreError, Write};
use crate::user::{
    CreateUser, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, Page, Patch, RoleGrant, User, UserDraft,
    UserPatch, UserQuery, UserRules, username_key,
};
use crate::user::{IdempotencyWrite, Inserted, NewUserAccess, NewUserRecord};

/// The profile part of [`Roster::update_user_and_access`].
pub struct UserChange<'a> {
    pub patch: UserPatch,
    /// Move the user to this container.
    pub move_to: Option<Uuid>,
    /// Write only on this version (412 otherwise).
    pub if_match: Option<i64>,
    pub rules: &'a UserRules,
}

/// What a dialect's user update also changes about the user's access.
#[derive(Debug, Default)]
pub struct AccessChange {
    /// Replace every role assignment with these.
    pub set_roles: Option<Vec<RoleGrant>>,
    /// Assign these roles (re-scoping any the user has).
    pub assign: Vec<RoleGrant>,
    /// Join these groups.
    pub join: Vec<GroupRef>,
    /// Replace the containers the user belongs to besides its home.
    pub sites: Option<Vec<Uuid>>,
}

/// How a face names a user: roster's id, its integer id, or (exactly,
/// without case) its username or email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserKey {
    Id(Uuid),
    Seq(i64),
    Username(String),
    Email(String),
}

/// A checked new user, ready to be written.
struct NewUserPlan {
    rec: NewUserRecord,
    with: NewUserAccess,
    event: AuditEvent,
    /// Holds the username against a concurrent create until written.
    _claim: Option<super::claims::Claim>,
}

/// Result of a create: the user, and whether it is a replay of an earlier
/// request with the same idempotency key.
pub struct Created {
    pub user: User,
    pub replayed: bool,
}

impl Roster {
    pub async fn create_user(&self, ctx: &Ctx, mut input: CreateUser) -> CoreResult<Created> {
        let container = self.home_for_new_user(ctx, &input).await?;
        let idempotency = input.idempotency.take();
        if let Some(idem) = &idempotency
            && let Some(hit) = self
                .store
                .idempotent_result(ctx.who.user_id, &idem.key)
                .await
                .map_err(from_store("user"))?
        {
            return if crate::auth::hashes_equal(&hit.request_hash, &idem.request_hash) {
                Ok(Created {
                    user: hit.user,
                    replayed: true,
                })
            } else {
                Err(CoreError::IdempotencyMismatch)
            };
        }
        let NewUserPlan {
            rec,
            with,
            event,
            _claim,
        } = self.plan_new_user(ctx, input, container).await?;
        let idempotency = idempotency.map(|i| IdempotencyWrite {
            scope: ctx.who.user_id,
            key: i.key,
            request_hash: i.request_hash,
        });
        match self
            .store
            .insert_user(rec, with, idempotency, event)
            .await
            .map_err(from_store("user"))?
        {
            Inserted::Created(user) => {
                tracing::info!(user_id = %user.id, actor = %ctx.who.user_id, "user created");
                Ok(Created {
                    user,
                    replayed: false,
                })
            }
            Inserted::Replayed(user) => Ok(Created {
                user,
                replayed: true,
            }),
            Inserted::Mismatch => Err(CoreError::IdempotencyMismatch),
        }
    }

    /// Where a new user will live, once the caller may place users there.
    async fn home_for_new_user(&self, ctx: &Ctx, input: &CreateUser) -> CoreResult<Uuid> {
        let container = input.container_id.unwrap_or(ctx.who.container_id);
        // A grant over everything needs no walk up the container tree; the
        // insert still refuses a container that does not exist (its
        // foreign key), with the same field and rule.
        if authz::authorize(&ctx.who, Privilege::UsersWrite, Target::Global).is_err() {
            self.may_place_users_in(ctx, container, "container_id")
                .await?;
        }
        Ok(container)
    }

    /// Checks a new user (profile, password, groups, roles) as
    /// [`Self::create_user`] does and prepares its write; the username stays
    /// claimed while the plan is held.
    async fn plan_new_user(
        &self,
        ctx: &Ctx,
        input: CreateUser,
        container: Uuid,
    ) -> CoreResult<NewUserPlan> {
        self.check_new_user(
            &input.profile,
            input.password.as_ref(),
            input.min_password_length,
            input.rules.as_ref(),
        )?;
        let mut with = NewUserAccess {
            sites: self.checked_sites(ctx, &input.sites, container).await?,
            ..Default::default()
        };
        if !input.groups.is_empty() {
            authz::authorize(&ctx.who, Privilege::GroupsWrite, Target::Global)?;
        }
        for (i, g) in input.groups.iter().enumerate() {
            match self.find_group(*g).await {
                Ok(group) => {
                    // The new member receives what the group holds.
                    self.check_group_conferral(ctx, group.id).await?;
                    with.groups.push(group.id);
                }
                Err(CoreError::NotFound(_)) => {
                    return Err(CoreError::invalid(
                        format!("groups[{i}]"),
                        "exists",
                        "no such group",
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        for grant in &input.roles {
            let role = self
                .assignable_role(
                    ctx,
                    grant.role.clone(),
                    grant.all_objects,
                    &grant.containers,
                )
                .await?;
            with.assignments
                .push((role.id, grant.all_objects, grant.containers.clone()));
        }
        // A duplicate is answered before the costly hash (see claims.rs);
        // the claim is held until the insert is done.
        let (claim, password_hash) = match &input.password {
            Some(p) => {
                let claim = self.claim_username(&input.profile.username).await?;
                (Some(claim), Some(self.hasher.hash(p).await?))
            }
            None => (None, None),
        };
        let rec = NewUserRecord {
            id: Uuid::now_v7(),
            profile: input.profile,
            password_hash,
            container_id: container,
            now: OffsetDateTime::now_utc(),
        };
        let event = ctx
            .event("user.create")
            .target("user", rec.id, Some(container))
            .details(json!({ "username": rec.profile.username }));
        Ok(NewUserPlan {
            rec,
            with,
            event,
            _claim: claim,
        })
    }

    /// Creates a user and an API key for it in one transaction (an
    /// "API-only" user): every check [`Self::create_user`] and then
    /// [`Self::create_key`] for that user would make applies, with the new
    /// user's grants (its roles and groups) standing in for the ones the
    /// key check reads from the store. `key.user_id` is ignored, and so is
    /// an idempotency key (the secret could not be replayed).
    pub async fn create_service_user(
        &self,
        ctx: &Ctx,
        mut input: CreateUser,
        key: NewKey,
    ) -> CoreResult<(User, ApiKeyInfo, Secret)> {
        let container = self.home_for_new_user(ctx, &input).await?;
        input.idempotency = None;
        let NewUserPlan {
            rec,
            with,
            event,
            _claim,
        } = self.plan_new_user(ctx, input, container).await?;
        let chain = self.chain(container).await?;
        let (key_write, key_event, key_id, secret) = self
            .plan_key_for_new_user(ctx, key, rec.id, &chain, &with)
            .await?;
        let user_id = rec.id;
        let writes = vec![
            (
                Write::InsertUser {
                    rec: Box::new(rec),
                    access: with,
                },
                event,
            ),
            (key_write, key_event),
        ];
        self.store
            .write_all(writes)
            .await
            .map_err(from_store("user"))?;
        let user = self.load_user(user_id).await?;
        let info = self
            .store
            .key(key_id)
            .await
            .map_err(from_store("key"))?
            .ok_or(CoreError::NotFound("key"))?;
        tracing::info!(user_id = %user.id, actor = %ctx.who.user_id, "service user created");
        Ok((user, info, secret))
    }

    /// Whether the caller may place users in `container` (which must exist).
    async fn may_place_users_in(&self, ctx: &Ctx, container: Uuid, field: &str) -> CoreResult<()> {
        let chain = match self.chain(container).await {
            Err(CoreError::NotFound(_)) => {
                return Err(CoreError::invalid(field, "exists", "no such container"));
            }
            other => other?,
        };
        authz::authorize(&ctx.who, Privilege::UsersWrite, Target::In(&chain))
    }

    /// The containers a user will belong to besides `home`: each must
    /// exist and take users from the caller, as a home container would —
    /// so no caller places a user where it could not create one.
    async fn checked_sites(&self, ctx: &Ctx, sites: &[Uuid], home: Uuid) -> CoreResult<Vec<Uuid>> {
        let mut out: Vec<Uuid> = Vec::with_capacity(sites.len());
        for (i, site) in sites.iter().enumerate() {
            self.may_place_users_in(ctx, *site, &format!("site_ids[{i}]"))
                .await?;
            if *site != home && !out.contains(site) {
                out.push(*site);
            }
        }
        Ok(out)
    }

    fn check_new_user(
        &self,
        profile: &UserDraft,
        password: Option<&Secret>,
        min_password_length: Option<usize>,
        rules: Option<&UserRules>,
    ) -> CoreResult<()> {
        let mut errors = profile
            .validate_with(rules.unwrap_or(&UserRules::default()))
            .err()
            .unwrap_or_default();
        if let Some(p) = password
            && let Err(e) =
                self.policy
                    .at_least(min_password_length)
                    .check("password", p, &profile.username)
        {
            errors.push(e);
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Invalid(errors))
        }
    }

    /// Anyone may read themselves; others need `users.read` on the user's container.
    pub async fn get_user(&self, ctx: &Ctx, id: Uuid) -> CoreResult<User> {
        if id == ctx.who.user_id {
            return self.load_user(id).await;
        }
        self.user_in_reach(ctx, id, Privilege::UsersRead).await
    }

    /// Looks a user up by any of its keys (exact: username and email
    /// without case, by their indexed keys). Authorised as [`Self::get_user`]
    /// (the caller itself always; others with `users.read` on the user's
    /// container), except that a user beyond the caller's reach is
    /// `NotFound`, as one that does not exist: a lookup by name must not
    /// tell which names exist. Emails are not unique: `Email` finds the
    /// matching user the caller may read with the lowest `seq`.
    pub async fn find_user(&self, ctx: &Ctx, key: UserKey) -> CoreResult<User> {
        let mut query = UserQuery {
            limit: 1,
            ..Default::default()
        };
        match &key {
            UserKey::Id(id) => {
                return match self.get_user(ctx, *id).await {
                    Err(CoreError::Forbidden) => Err(CoreError::NotFound("user")),
                    other => other,
                };
            }
            UserKey::Seq(seq) => query.seq = Some(*seq),
            UserKey::Username(name) => query.username = Some(username_key(name)),
            UserKey::Email(email) => query.email = Some(email.to_lowercase()),
        }
        let within = authz::scope_of(&ctx.who, Privilege::UsersRead);
        if within.as_ref().is_none_or(|roots| !roots.is_empty()) {
            let found = self
                .store
                .list_users(&query, within.as_deref())
                .await
                .map_err(from_store("user"))?;
            if let Some(user) = found.into_iter().next() {
                return Ok(user);
            }
        }
        // Beyond the caller's reach, or absent; unless it is the caller.
        let me = self.load_user(ctx.who.user_id).await?;
        let is_me = match &key {
            UserKey::Id(_) => false,
            UserKey::Seq(seq) => me.seq == *seq,
            UserKey::Username(name) => username_key(&me.profile.username) == username_key(name),
            UserKey::Email(email) => me
                .profile
                .email
                .as_deref()
                .is_some_and(|e| e.to_lowercase() == email.to_lowercase()),
        };
        if is_me {
            Ok(me)
        } else {
            Err(CoreError::NotFound("user"))
        }
    }

    /// Lists the users the caller may read.
    pub async fn list_users(&self, ctx: &Ctx, query: UserQuery) -> CoreResult<Page<User>> {
        let (mut query, within) = self.prepare_query(ctx, query)?;
        let limit = query.limit as usize;
        // One extra row tells whether another page follows.
        query.limit += 1;
        let items = self
            .store
            .list_users(&query, within.as_deref())
            .await
            .map_err(from_store("user"))?;
        Ok(Page::from_overfetch(items, limit, |u| u.seq))
    }

    /// Every user matching `query` that the caller may read, in `seq`
    /// order, for faces whose APIs answer with whole lists: read page by
    /// page (keyset paging, so each page costs what the first does), never
    /// cut short. The query's own paging fields are ignored.
    pub async fn all_users(&self, ctx: &Ctx, mut query: UserQuery) -> CoreResult<Vec<User>> {
        let mut out = Vec::new();
        query.limit = LIST_MAX_LIMIT;
        query.offset = None;
        query.after_seq = None;
        loop {
            let page = self.list_users(ctx, query.clone()).await?;
            out.extend(page.items);
            match page.next {
                Some(n) => query.after_seq = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// Offset paging with an exact total, for faces whose clients need it.
    pub async fn list_users_counted(
        &self,
        ctx: &Ctx,
        query: UserQuery,
    ) -> CoreResult<(Vec<User>, u64)> {
        let (mut query, within) = self.prepare_query(ctx, query)?;
        query.offset = Some(query.offset.unwrap_or(0));
        let total = self
            .store
            .count_users(&query, within.as_deref())
            .await
            .map_err(from_store("user"))?;
        let items = self
            .store
            .list_users(&query, within.as_deref())
            .await
            .map_err(from_store("user"))?;
        Ok((items, total))
    }

    /// The caller's readable subtrees, and the query's limits and keys normalised.
    fn prepare_query(
        &self,
        ctx: &Ctx,
        mut query: UserQuery,
    ) -> CoreResult<(UserQuery, Option<Vec<Uuid>>)> {
        let within = authz::scope_of(&ctx.who, Privilege::UsersRead);
        if within.as_ref().is_some_and(Vec::is_empty) {
            return Err(CoreError::Forbidden);
        }
        if query.limit == 0 {
            query.limit = LIST_DEFAULT_LIMIT;
        }
        if query.offset.is_some_and(|o| o > i64::MAX as u64) {
            return Err(CoreError::invalid(
                "offset",
                "range",
                format!("must be between 0 and {}", i64::MAX),
            ));
        }
        if query.limit > LIST_MAX_LIMIT {
            return Err(CoreError::invalid(
                "limit",
                "range",
                format!("must be between 1 and {LIST_MAX_LIMIT}"),
            ));
        }
        // A malformed filter is the client's error, named before a store
        // compiles it.
        if let Some(filter) = &query.filter {
            filter.validate().map_err(|e| CoreError::Invalid(vec![e]))?;
        }
        query.username = query.username.map(|u| username_key(&u));
        query.email = query.email.map(|e| e.to_lowercase());
        query.q = query.q.map(|q| q.to_lowercase()).filter(|q| !q.is_empty());
        query.first_name = query.first_name.map(|n| n.to_lowercase());
        query.last_name = query.last_name.map(|n| n.to_lowercase());
        Ok((query, within))
    }

    /// Applies a merge patch (and a move to another container, if asked).
    /// With `if_match` the write happens only on that version; without it a
    /// concurrent change is re-read and the patch re-applied, so no field
    /// another writer changed is lost.
    pub async fn update_user(
        &self,
        ctx: &Ctx,
        id: Uuid,
        patch: UserPatch,
        move_to: Option<Uuid>,
        if_match: Option<i64>,
    ) -> CoreResult<User> {
        self.update_user_with(ctx, id, patch, move_to, if_match, &UserRules::default())
            .await
    }

    /// [`Self::update_user`] under a face's field limits.
    pub async fn update_user_with(
        &self,
        ctx: &Ctx,
        id: Uuid,
        patch: UserPatch,
        move_to: Option<Uuid>,
        if_match: Option<i64>,
        rules: &UserRules,
    ) -> CoreResult<User> {
        self.update_user_and_access(
            ctx,
            id,
            UserChange {
                patch,
                move_to,
                if_match,
                rules,
            },
            AccessChange::default(),
        )
        .await
    }

    /// Changes a user's profile and, in the same transaction, its roles and
    /// groups (dialects whose update requests carry them). Every part is
    /// checked as if it were its own request; if any is refused, nothing
    /// changes.
    pub async fn update_user_and_access(
        &self,
        ctx: &Ctx,
        id: Uuid,
        change: UserChange<'_>,
        access: AccessChange,
    ) -> CoreResult<User> {
        let UserChange {
            patch,
            move_to,
            if_match,
            rules,
        } = change;
        let current = self.user_to_change(ctx, id, Privilege::UsersWrite).await?;
        // Passwords and sign-in rules are credentials, whichever face or
        // field carries them.
        if patch.password != Patch::Keep
            || patch.mfa_required != Patch::Keep
            || patch.saml_sso_only != Patch::Keep
        {
            self.user_in_reach(ctx, id, Privilege::UsersCredentials)
                .await?;
        }
        if let Some(target) = move_to {
            self.may_place_users_in(ctx, target, "container_id").await?;
        }
        let password_hash = match &patch.password {
            Patch::Set(p) => {
                let username = match &patch.username {
                    Patch::Set(u) => u.as_str(),
                    _ => current.profile.username.as_str(),
                };
                self.policy
                    .check("password", p, username)
                    .map_err(|e| CoreError::Invalid(vec![e]))?;
                Patch::Set(self.hasher.hash(p).await?)
            }
            Patch::Clear => Patch::Clear,
            Patch::Keep => Patch::Keep,
        };
        let home = move_to.unwrap_or(current.container_id);
        let access_writes = self.plan_user_access(ctx, id, home, access).await?;
        let mut current = current;
        for round in 0..super::UNCONDITIONAL_ROUNDS {
            if if_match.is_some_and(|v| v != current.version) {
                return Err(CoreError::PreconditionFailed);
            }
            let mut draft = current.profile.clone();
            patch
                .clone()
                .apply(&mut draft)
                .map_err(CoreError::Invalid)?;
            draft
                .validate_update(rules, draft.username != current.profile.username)
                .map_err(CoreError::Invalid)?;
            let container = move_to.unwrap_or(current.container_id);
            let mut details = json!({ "fields": patch.changed_fields() });
            if draft.active != current.profile.active {
                // Change events tell disabling and enabling apart by this.
                details["active"] = json!(draft.active);
            }
            let event = ctx
                .event("user.update")
                .target("user", id, Some(container))
                .details(details);
            let written = if access_writes.is_empty() {
                self.store
                    .update_user(
                        id,
                        current.version,
                        draft,
                        container,
                        password_hash.clone(),
                        OffsetDateTime::now_utc(),
                        event,
                    )
                    .await
            } else {
                let update = Write::UpdateUser {
                    id,
                    expected_version: current.version,
                    draft: Box::new(draft),
                    container_id: container,
                    password_hash: password_hash.clone(),
                    now: OffsetDateTime::now_utc(),
                };
                let mut writes = vec![(update, event)];
                writes.extend(access_writes.iter().cloned());
                match self.store.write_all(writes).await {
                    Ok(()) => self
                        .store
                        .user_by_id(id)
                        .await
                        .and_then(|u| u.ok_or(StoreError::NotFound)),
                    Err(e) => Err(e),
                }
            };
            match written {
                Ok(user) => {
                    self.forget_user(id).await;
                    tracing::info!(user_id = %id, actor = %ctx.who.user_id, "user updated");
                    self.after_email_change(ctx, &current, &user);
                    return Ok(user);
                }
                Err(StoreError::VersionMismatch) if if_match.is_none() => {
                    super::backoff(round).await;
                    current = self.load_user(id).await?;
                }
                Err(e) => return Err(from_store("user")(e)),
            }
        }
        Err(super::too_contended())
    }

    /// Checks the access part of [`Self::update_user_and_access`] and turns
    /// it into writes, each with its audit event.
    async fn plan_user_access(
        &self,
        ctx: &Ctx,
        id: Uuid,
        home: Uuid,
        access: AccessChange,
    ) -> CoreResult<Vec<(Write, AuditEvent)>> {
        let holder = Holder::User(id);
        let mut writes = Vec::new();
        if let Some(sites) = access.sites {
            let sites = self.checked_sites(ctx, &sites, home).await?;
            let event = ctx
                .event("user.sites")
                .target("user", id, Some(home))
                .details(json!({ "sites": sites }));
            writes.push((Write::SetUserSites { user: id, sites }, event));
        }
        if let Some(grants) = access.set_roles {
            let (assignments, event) = self.plan_user_roles(ctx, id, grants).await?;
            writes.push((
                Write::ReplaceAssignments {
                    holder,
                    assignments,
                },
                event,
            ));
        }
        writes.extend(self.plan_grants(ctx, holder, access.assign).await?);
        if !access.join.is_empty() {
            authz::authorize(&ctx.who, Privilege::GroupsWrite, Target::Global)?;
        }
        for g in access.join {
            let group = self.find_group(g).await?;
            self.check_group_conferral(ctx, group.id).await?;
            writes.push(self.member_write(ctx, group.id, id, true));
        }
        Ok(writes)
    }

    /// Soft delete: the user can no longer authenticate, lists and lookups
    /// leave it out, and its username stays taken until it is purged
    /// ([`Self::purge_user`], or the housekeeping after the purge period).
    pub async fn delete_user(&self, ctx: &Ctx, id: Uuid, if_match: Option<i64>) -> CoreResult<()> {
        self.delete_users(ctx, &[(id, if_match)]).await
    }

    /// Soft-deletes several users in one transaction (Aria's `DELETE
    /// /users?id=…&id=…`): each is checked as its own delete would be, and
    /// if any is refused or missing, none is deleted.
    pub async fn delete_users(&self, ctx: &Ctx, users: &[(Uuid, Option<i64>)]) -> CoreResult<()> {
        let mut writes = Vec::with_capacity(users.len());
        for (id, if_match) in users {
            let user = self
                .user_to_change(ctx, *id, Privilege::UsersDelete)
                .await?;
            self.not_self(ctx, *id)?;
            let event = ctx
                .event("user.delete")
                .target("user", *id, Some(user.container_id))
                .details(json!({ "username": user.profile.username }));
            let at = event.at;
            writes.push((
                Write::DeleteUser {
                    id: *id,
                    expected_version: *if_match,
                    at,
                },
                event,
            ));
        }
        self.store
            .write_all(writes)
            .await
            .map_err(from_store("user"))?;
        for (id, _) in users {
            self.forget_user(*id).await;
            tracing::info!(user_id = %id, actor = %ctx.who.user_id, "user deleted");
        }
        Ok(())
    }

    /// Brings a soft-deleted user back, as it was (tokens issued before the
    /// delete stay refused). Needs what deleting it needed.
    pub async fn restore_user(&self, ctx: &Ctx, id: Uuid) -> CoreResult<User> {
        let user = self.deleted_user_to_change(ctx, id).await?;
        if user.deleted_at.is_none() {
            return Err(CoreError::Conflict(FieldError::new(
                "id",
                "not_deleted",
                "the user is not deleted",
            )));
        }
        let event = ctx
            .event("user.restore")
            .target("user", id, Some(user.container_id))
            .details(json!({ "username": user.profile.username }));
        let restored = self
            .store
            .set_user_deleted(id, Some(user.version), None, event)
            .await
            .map_err(from_store("user"))?;
        self.forget_user(id).await;
        Ok(restored)
    }

    /// Removes a user for good, deleted or not. Needs what deleting it needed.
    pub async fn purge_user(&self, ctx: &Ctx, id: Uuid, if_match: Option<i64>) -> CoreResult<()> {
        let user = self.deleted_user_to_change(ctx, id).await?;
        self.not_self(ctx, id)?;
        let event = ctx
            .event("user.purge")
            .target("user", id, Some(user.container_id))
            .details(json!({ "username": user.profile.username }));
        self.store
            .delete_user(id, if_match, event)
            .await
            .map_err(from_store("user"))?;
        self.forget_user(id).await;
        tracing::info!(user_id = %id, actor = %ctx.who.user_id, "user purged");
        Ok(())
    }

    /// Periodic housekeeping (every node runs it; the work is idempotent):
    /// purges users deleted longer ago than the purge period.
    pub async fn housekeeping(&self) -> CoreResult<()> {
        let days = self.user_purge_after_days;
        if days > 0 {
            let n = self
                .purge_deleted_users(time::Duration::days(days.into()))
                .await?;
            if n > 0 {
                tracing::info!(purged = n, "purged users deleted {days} days ago or more");
            }
        }
        let n = self.purge_delivery_log().await?;
        if n > 0 {
            tracing::info!(
                purged = n,
                "dropped finished webhook deliveries from the log"
            );
        }
        Ok(())
    }

    /// Purges users soft-deleted longer ago than
    /// `older_than`, each with its own `user.purge` event by `system`.
    /// Returns how many went.
    pub async fn purge_deleted_users(&self, older_than: time::Duration) -> CoreResult<u64> {
        let cutoff = OffsetDateTime::now_utc() - older_than;
        let mut purged = 0;
        loop {
            let ids = self
                .store
                .users_deleted_before(cutoff, 100)
                .await
                .map_err(from_store("user"))?;
            if ids.is_empty() {
                return Ok(purged);
            }
            for id in ids {
                let event = AuditEvent::new("user.purge", Outcome::Success, &Origin::default())
                    .actor(None, "system")
                    .target("user", id, None)
                    .details(json!({ "reason": "purge period" }));
                match self.store.delete_user(id, None, event).await {
                    Ok(()) | Err(StoreError::NotFound) => purged += 1,
                    Err(e) => return Err(from_store("user")(e)),
                }
            }
        }
    }

    fn not_self(&self, ctx: &Ctx, id: Uuid) -> CoreResult<()> {
        if id == ctx.who.user_id {
            return Err(CoreError::Conflict(FieldError::new(
                "id",
                "not_self",
                "you cannot delete the user you are signed in as",
            )));
        }
        Ok(())
    }

    /// As `user_to_change` with `users.delete`, for a user that may be
    /// soft-deleted.
    async fn deleted_user_to_change(&self, ctx: &Ctx, id: Uuid) -> CoreResult<User> {
        let user = self.load_user_even_deleted(id).await?;
        if authz::authorize(&ctx.who, Privilege::UsersDelete, Target::Global).is_err() {
            let chain = self.chain(user.container_id).await?;
            authz::authorize(&ctx.who, Privilege::UsersDelete, Target::In(&chain))?;
        }
        self.check_not_above(ctx, &user, None).await?;
        Ok(user)
    }
}
