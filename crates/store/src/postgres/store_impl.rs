//! `Store` for PostgreSQL: reads on a pooled connection, writes through
//! the node's group-commit writer with their audit events.

use async_trait::async_trait;
use roster_core::access::{
    ADMINISTRATOR_ROLE_ID, ApiKeyInfo, Assignment, BuiltinRole, Container, Group, Holder,
    Membership, NewContainer, NewGroup, NewRole, Role, RoleRef,
};
use roster_core::audit::{AuditEvent, AuditQuery, AuditRecord};
use roster_core::auth::{KeyOwner, KeyRecord};
use roster_core::authz::{Grant, Privilege};
use roster_core::link::{LinkPurpose, LinkRecord};
use roster_core::lockout::LockoutPolicy;
use roster_core::store::*;
use roster_core::transfer::{Cursor, ExportPage, Record, RecordKind};
use roster_core::user::{
    IdempotencyHit, IdempotencyWrite, Inserted, LoginRecord, NewUserAccess, NewUserRecord, Patch,
    User, UserDraft, UserQuery,
};
use time::OffsetDateTime;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::writer::BoxFut;
use super::{
    Conn, PgStore, access, audit, err, groups, links, listen, roles, tree, users, webhooks,
};
use roster_core::webhook::{Attempt, Delivery, NewDelivery, Webhook};

impl PgStore {
    /// Runs `f` in the writer's next batch with `event` appended to the
    /// audit chain in the same transaction.
    async fn audited<T, F>(&self, event: AuditEvent, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c Conn) -> BoxFut<'c, StoreResult<T>> + Send + 'static,
    {
        self.inner.writer.write(vec![event], f).await
    }

    /// A write that carries no audit event of its own.
    async fn quiet<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c Conn) -> BoxFut<'c, StoreResult<T>> + Send + 'static,
    {
        self.inner.writer.write(Vec::new(), f).await
    }
}

/// One write of [`Store::write_all`], with the same statements (and the
/// same error meanings) as the single-write methods.
async fn apply(c: &Conn, write: &Write, at: OffsetDateTime) -> StoreResult<()> {
    match write {
        Write::UpdateUser {
            id,
            expected_version,
            draft,
            container_id,
            password_hash,
            now,
        } => users::update(
            c,
            *id,
            *expected_version,
            draft,
            *container_id,
            password_hash,
            *now,
        )
        .await
        .map(drop),
        Write::ReplaceAssignments {
            holder,
            assignments,
        } => {
            roles::clear(c, *holder).await?;
            for (role, all, containers) in assignments {
                roles::assign(c, *holder, *role, *all, containers, at).await?;
            }
            Ok(())
        }
        Write::Assign {
            holder,
            role,
            all_objects,
            containers,
        } => roles::assign(c, *holder, *role, *all_objects, containers, at)
            .await
            .map(drop),
        Write::InsertGroup(g) => groups::insert(c, g).await.map(drop),
        Write::UpdateGroup {
            id,
            expected_version,
            name,
            description,
            attributes,
            now,
        } => groups::update(
            c,
            *id,
            *expected_version,
            name,
            description,
            attributes,
            *now,
        )
        .await
        .map(drop),
        Write::AddMember {
            group,
            user,
            access_level,
        } => groups::add_member(c, *group, *user, access_level.as_deref())
            .await
            .map(drop),
        Write::RemoveMember { group, user } => groups::remove_member(c, *group, *user).await,
        Write::DeleteGroup {
            id,
            expected_version,
        } => groups::delete(c, *id, *expected_version).await,
        Write::DeleteContainer(id) => tree::delete(c, *id).await,
        Write::DeleteUser {
            id,
            expected_version,
            at,
        } => users::set_deleted(c, *id, *expected_version, Some(*at), *at)
            .await
            .map(drop),
        Write::SetUserSites { user, sites } => users::set_sites(c, *user, sites).await,
        Write::InsertUser { rec, access } => {
            let user = users::insert(c, rec).await.map_err(container_field)?;
            users::set_sites(c, user.id, &access.sites).await?;
            for g in &access.groups {
                groups::add_member(c, *g, user.id, None).await?;
            }
            for (role, all, containers) in &access.assignments {
                roles::assign(c, Holder::User(user.id), *role, *all, containers, rec.now).await?;
            }
            Ok(())
        }
        Write::InsertKey {
            user,
            key,
            role,
            cap,
            expires_at,
        } => access::insert_key(c, *user, key, *role, cap.as_deref(), *expires_at, at)
            .await
            .map(drop),
        Write::IssueLink(rec) => links::issue(c, rec).await,
        Write::RevokeLinks { user, purpose } => links::revoke(c, *user, *purpose).await,
        Write::RedeemLink {
            token_hash,
            purpose,
            now,
            effect,
        } => links::redeem(c, token_hash, *purpose, *now, effect).await,
    }
}

fn container_field(e: StoreError) -> StoreError {
    match e {
        StoreError::MissingReference { .. } => StoreError::MissingReference {
            field: "container_id",
        },
        other => other,
    }
}

#[async_trait]
impl UserStore for PgStore {
    async fn insert_user(
        &self,
        rec: NewUserRecord,
        with: NewUserAccess,
        idempotency: Option<IdempotencyWrite>,
        event: AuditEvent,
    ) -> StoreResult<Inserted> {
        // The audit event is appended only when a user is created: a
        // replay is no change. The job therefore fails on a replay (so its
        // savepoint goes and its event is not appended) and hands the
        // replayed result out through `tx`.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let outcome = self
            .inner
            .writer
            .write(vec![event], move |c| {
                Box::pin(async move {
                    if let Some(w) = &idempotency
                        && let Some(hit) = access::claim_idempotency(c, w).await?
                    {
                        let _ = tx.send(if hit.request_hash == w.request_hash {
                            Inserted::Replayed(hit.user)
                        } else {
                            Inserted::Mismatch
                        });
                        return Err(StoreError::NotFound);
                    }
                    let user = users::insert(c, &rec).await.map_err(container_field)?;
                    users::set_sites(c, user.id, &with.sites).await?;
                    for g in &with.groups {
                        groups::add_member(c, *g, user.id, None).await?;
                    }
                    for (role, all, containers) in &with.assignments {
                        roles::assign(c, Holder::User(user.id), *role, *all, containers, rec.now)
                            .await?;
                    }
                    if let Some(w) = &idempotency {
                        access::save_idempotency(c, w, &user).await?;
                    }
                    Ok(Inserted::Created(user))
                })
            })
            .await;
        match (outcome, rx.await) {
            (Err(StoreError::NotFound), Ok(replayed)) => Ok(replayed),
            (outcome, _) => outcome,
        }
    }

    async fn idempotent_result(
        &self,
        scope: Uuid,
        key: &str,
    ) -> StoreResult<Option<IdempotencyHit>> {
        access::idempotent_result(&*self.conn().await?, scope, key).await
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>> {
        users::by_id(&*self.conn().await?, id).await
    }

    async fn user_for_login(&self, username_key: &str) -> StoreResult<Option<LoginRecord>> {
        users::for_login(&*self.conn().await?, username_key).await
    }

    async fn list_users(&self, q: &UserQuery, within: Option<&[Uuid]>) -> StoreResult<Vec<User>> {
        users::list(&*self.conn().await?, q, within).await
    }

    async fn count_users(&self, q: &UserQuery, within: Option<&[Uuid]>) -> StoreResult<u64> {
        users::count(&*self.conn().await?, q, within).await
    }

    async fn update_user(
        &self,
        id: Uuid,
        expected_version: i64,
        draft: UserDraft,
        container_id: Uuid,
        password_hash: Patch<String>,
        now: OffsetDateTime,
        event: AuditEvent,
    ) -> StoreResult<User> {
        self.audited(event, move |c| {
            Box::pin(async move {
                users::update(
                    c,
                    id,
                    expected_version,
                    &draft,
                    container_id,
                    &password_hash,
                    now,
                )
                .await
                .map_err(container_field)
            })
        })
        .await
    }

    async fn delete_user(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        event: AuditEvent,
    ) -> StoreResult<()> {
        self.audited(event, move |c| {
            Box::pin(async move { users::delete(c, id, expected_version).await })
        })
        .await
    }

    async fn set_user_deleted(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        deleted_at: Option<OffsetDateTime>,
        event: AuditEvent,
    ) -> StoreResult<User> {
        let now = event.at;
        self.audited(event, move |c| {
            Box::pin(
                async move { users::set_deleted(c, id, expected_version, deleted_at, now).await },
            )
        })
        .await
    }

    async fn users_deleted_before(
        &self,
        cutoff: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<Uuid>> {
        users::deleted_before(&*self.conn().await?, cutoff, limit).await
    }

    async fn set_lock(
        &self,
        id: Uuid,
        until: Option<OffsetDateTime>,
        event: AuditEvent,
    ) -> StoreResult<User> {
        let now = event.at;
        self.audited(event, move |c| {
            Box::pin(async move { users::set_lock(c, id, until, now).await })
        })
        .await
    }

    async fn login_succeeded(
        &self,
        id: Uuid,
        at: OffsetDateTime,
        totp_step: Option<i64>,
        source: String,
        event: AuditEvent,
    ) -> StoreResult<()> {
        self.audited(event, move |c| {
            Box::pin(async move {
                users::record_login(c, id, at, totp_step).await?;
                users::clear_throttle(c, id, &source).await
            })
        })
        .await
    }

    async fn login_failed(
        &self,
        account_key: String,
        source: String,
        policy: LockoutPolicy,
        event: AuditEvent,
    ) -> StoreResult<Option<OffsetDateTime>> {
        let now = event.at;
        self.audited(event, move |c| {
            Box::pin(
                async move { users::record_failure(c, &account_key, &source, &policy, now).await },
            )
        })
        .await
    }

    async fn login_throttled(
        &self,
        account_key: &str,
        source: &str,
    ) -> StoreResult<Option<OffsetDateTime>> {
        users::throttled_until(&*self.conn().await?, account_key, source).await
    }

    async fn set_totp(
        &self,
        id: Uuid,
        secret: Option<String>,
        confirmed: bool,
        event: AuditEvent,
    ) -> StoreResult<()> {
        self.audited(event, move |c| {
            Box::pin(async move { users::set_totp(c, id, secret.as_deref(), confirmed).await })
        })
        .await
    }

    async fn pending_totp(&self, id: Uuid) -> StoreResult<Option<String>> {
        users::pending_totp(&*self.conn().await?, id).await
    }
}

#[async_trait]
impl AccessStore for PgStore {
    async fn ensure_builtin_roles(&self, list: &'static [BuiltinRole]) -> StoreResult<()> {
        self.quiet(move |c| Box::pin(async move { roles::ensure_builtin(c, list).await }))
            .await
    }

    async fn write_all(&self, writes: Vec<(Write, AuditEvent)>) -> StoreResult<()> {
        let (writes, events): (Vec<Write>, Vec<AuditEvent>) = writes.into_iter().unzip();
        let ats: Vec<OffsetDateTime> = events.iter().map(|e| e.at).collect();
        self.inner
            .writer
            .write(events, move |c| {
                Box::pin(async move {
                    for (write, at) in writes.iter().zip(ats) {
                        apply(c, write, at).await?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn insert_container(
        &self,
        new: NewContainer,
        event: AuditEvent,
    ) -> StoreResult<Container> {
        self.audited(event, move |c| {
            Box::pin(async move { tree::insert(c, &new).await })
        })
        .await
    }

    async fn container(&self, id: Uuid) -> StoreResult<Option<Container>> {
        tree::by_id(&*self.conn().await?, id).await
    }

    async fn container_by_seq(&self, seq: i64) -> StoreResult<Option<Container>> {
        tree::by_seq(&*self.conn().await?, seq).await
    }

    async fn containers_named(&self, name: &str) -> StoreResult<Vec<Container>> {
        tree::named(&*self.conn().await?, name).await
    }

    async fn container_chain(&self, id: Uuid) -> StoreResult<Vec<Uuid>> {
        tree::chain(&*self.conn().await?, id).await
    }

    async fn list_containers(&self) -> StoreResult<Vec<Container>> {
        tree::all(&*self.conn().await?).await
    }

    async fn update_container(
        &self,
        id: Uuid,
        expected_version: i64,
        name: String,
        description: String,
        parent_id: Option<Uuid>,
        now: OffsetDateTime,
        event: AuditEvent,
    ) -> StoreResult<Container> {
        self.audited(event, move |c| {
            Box::pin(async move {
                tree::update(c, id, expected_version, &name, &description, parent_id, now).await
            })
        })
        .await
    }

    async fn delete_container(&self, id: Uuid, event: AuditEvent) -> StoreResult<()> {
        self.audited(event, move |c| {
            Box::pin(async move { tree::delete(c, id).await })
        })
        .await
    }

    async fn insert_role(&self, r: NewRole, event: AuditEvent) -> StoreResult<Role> {
        self.audited(event, move |c| {
            Box::pin(async move { roles::insert(c, &r).await })
        })
        .await
    }

    async fn role(&self, r: RoleRef) -> StoreResult<Option<Role>> {
        roles::get(&*self.conn().await?, &r).await
    }

    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        roles::all(&*self.conn().await?).await
    }

    async fn update_role(
        &self,
        id: Uuid,
        expected_version: i64,
        name: String,
        description: String,
        privileges: Vec<Privilege>,
        now: OffsetDateTime,
        event: AuditEvent,
    ) -> StoreResult<Role> {
        self.audited(event, move |c| {
            Box::pin(async move {
                roles::update(
                    c,
                    id,
                    expected_version,
                    &name,
                    &description,
                    &privileges,
                    now,
                )
                .await
            })
        })
        .await
    }

    async fn delete_role(&self, id: Uuid, event: AuditEvent) -> StoreResult<()> {
        self.audited(event, move |c| {
            Box::pin(async move { roles::delete(c, id).await })
        })
        .await
    }

    async fn insert_group(&self, g: NewGroup, event: AuditEvent) -> StoreResult<Group> {
        self.audited(event, move |c| {
            Box::pin(async move { groups::insert(c, &g).await })
        })
        .await
    }

    async fn group(&self, id: Uuid) -> StoreResult<Option<Group>> {
        groups::by_id(&*self.conn().await?, id).await
    }

    async fn group_by_seq(&self, seq: i64) -> StoreResult<Option<Group>> {
        groups::by_seq(&*self.conn().await?, seq).await
    }

    async fn list_groups(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<Group>> {
        groups::page(&*self.conn().await?, after_seq, limit).await
    }

    async fn delete_group(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        event: AuditEvent,
    ) -> StoreResult<()> {
        self.audited(event, move |c| {
            Box::pin(async move { groups::delete(c, id, expected_version).await })
        })
        .await
    }

    async fn add_member(
        &self,
        group: Uuid,
        user: Uuid,
        access_level: Option<String>,
        event: AuditEvent,
    ) -> StoreResult<bool> {
        self.audited(event, move |c| {
            Box::pin(
                async move { groups::add_member(c, group, user, access_level.as_deref()).await },
            )
        })
        .await
    }

    async fn remove_member(&self, group: Uuid, user: Uuid, event: AuditEvent) -> StoreResult<()> {
        self.audited(event, move |c| {
            Box::pin(async move { groups::remove_member(c, group, user).await })
        })
        .await
    }

    async fn members(&self, group: Uuid, after_seq: i64, limit: u32) -> StoreResult<Vec<User>> {
        groups::members(&*self.conn().await?, group, after_seq, limit).await
    }

    async fn groups_of(&self, user: Uuid) -> StoreResult<Vec<Membership>> {
        groups::of_user(&*self.conn().await?, user).await
    }

    async fn assign(
        &self,
        holder: Holder,
        role: Uuid,
        all_objects: bool,
        containers: Vec<Uuid>,
        event: AuditEvent,
    ) -> StoreResult<Assignment> {
        let now = event.at;
        self.audited(event, move |c| {
            Box::pin(
                async move { roles::assign(c, holder, role, all_objects, &containers, now).await },
            )
        })
        .await
    }

    async fn unassign(&self, assignment: Uuid, event: AuditEvent) -> StoreResult<()> {
        self.audited(event, move |c| {
            Box::pin(async move { roles::unassign(c, assignment).await })
        })
        .await
    }

    async fn replace_assignments(
        &self,
        holder: Holder,
        assignments: Vec<(Uuid, bool, Vec<Uuid>)>,
        event: AuditEvent,
    ) -> StoreResult<Vec<Assignment>> {
        let now = event.at;
        self.audited(event, move |c| {
            Box::pin(async move {
                roles::clear(c, holder).await?;
                for (role, all, containers) in &assignments {
                    roles::assign(c, holder, *role, *all, containers, now).await?;
                }
                roles::of(c, holder).await
            })
        })
        .await
    }

    async fn set_container_users(
        &self,
        container: Uuid,
        users: Vec<Uuid>,
        event: AuditEvent,
    ) -> StoreResult<()> {
        self.audited(event, move |c| {
            Box::pin(async move { roles::set_container_users(c, container, &users).await })
        })
        .await
    }

    async fn assignments_of(&self, holder: Holder) -> StoreResult<Vec<Assignment>> {
        roles::of(&*self.conn().await?, holder).await
    }

    async fn assignments_of_role(&self, role: Uuid) -> StoreResult<Vec<Assignment>> {
        roles::of_role(&*self.conn().await?, role).await
    }

    async fn assignments_in(&self, container: Uuid) -> StoreResult<Vec<Assignment>> {
        roles::scoped_to(&*self.conn().await?, container).await
    }

    async fn assignment(&self, id: Uuid) -> StoreResult<Option<Assignment>> {
        roles::by_id(&*self.conn().await?, id).await
    }

    async fn grants_of(&self, user: Uuid) -> StoreResult<Vec<Grant>> {
        roles::grants_of(&*self.conn().await?, user).await
    }
}

#[async_trait]
impl CredentialStore for PgStore {
    async fn signing_secrets(&self, candidate: Vec<u8>) -> StoreResult<Vec<(String, Vec<u8>)>> {
        if candidate.is_empty() {
            return access::signing_secrets(&*self.conn().await?, &[]).await;
        }
        self.quiet(move |c| Box::pin(async move { access::signing_secrets(c, &candidate).await }))
            .await
    }

    async fn add_signing_secret(
        &self,
        kid: String,
        secret: Vec<u8>,
        event: AuditEvent,
    ) -> StoreResult<()> {
        self.audited(event, move |c| {
            Box::pin(async move { access::add_signing_secret(c, &kid, &secret).await })
        })
        .await
    }

    async fn insert_key(
        &self,
        user: Uuid,
        key: KeyRecord,
        role: Option<Uuid>,
        cap: Option<Vec<Privilege>>,
        expires_at: Option<OffsetDateTime>,
        event: AuditEvent,
    ) -> StoreResult<ApiKeyInfo> {
        let now = event.at;
        self.audited(event, move |c| {
            Box::pin(async move {
                access::insert_key(c, user, &key, role, cap.as_deref(), expires_at, now).await
            })
        })
        .await
    }

    async fn key_owner(&self, key_hash: &str) -> StoreResult<Option<KeyOwner>> {
        access::key_owner(&*self.conn().await?, key_hash).await
    }

    async fn key(&self, id: Uuid) -> StoreResult<Option<ApiKeyInfo>> {
        access::key_by_id(&*self.conn().await?, id).await
    }

    async fn list_keys(&self, user: Option<Uuid>) -> StoreResult<Vec<ApiKeyInfo>> {
        access::list_keys(&*self.conn().await?, user).await
    }

    async fn revoke_key(&self, id: Uuid, at: OffsetDateTime, event: AuditEvent) -> StoreResult<()> {
        self.audited(event, move |c| {
            Box::pin(async move { access::revoke_key(c, id, at).await })
        })
        .await
    }

    async fn touch_key(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
        // Outside the writer: a timestamp need not wait for a batch.
        access::touch_key(&*self.conn().await?, id, at).await
    }

    async fn revoke_token(
        &self,
        jti: Uuid,
        expires_at: OffsetDateTime,
        event: AuditEvent,
    ) -> StoreResult<()> {
        self.audited(event, move |c| {
            Box::pin(async move { access::revoke_token(c, jti, expires_at).await })
        })
        .await
    }

    async fn token_revoked(&self, jti: Uuid) -> StoreResult<bool> {
        access::token_revoked(&*self.conn().await?, jti).await
    }

    async fn create_session(
        &self,
        jti: Uuid,
        user: Uuid,
        idle_secs: u64,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        self.quiet(move |c| {
            Box::pin(
                async move { access::create_session(c, jti, user, idle_secs, expires_at).await },
            )
        })
        .await
    }

    async fn session(&self, jti: Uuid) -> StoreResult<Option<(u64, OffsetDateTime)>> {
        access::session(&*self.conn().await?, jti).await
    }

    async fn extend_session(&self, jti: Uuid, expires_at: OffsetDateTime) -> StoreResult<()> {
        access::extend_session(&*self.conn().await?, jti, expires_at).await
    }

    async fn link(&self, token_hash: &str) -> StoreResult<Option<LinkRecord>> {
        links::by_hash(&*self.conn().await?, token_hash).await
    }

    async fn pending_link(
        &self,
        user: Uuid,
        purpose: LinkPurpose,
    ) -> StoreResult<Option<LinkRecord>> {
        links::pending(&*self.conn().await?, user, purpose).await
    }
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, event: AuditEvent) -> StoreResult<()> {
        self.audited(event, |_| Box::pin(async { Ok(()) })).await
    }

    async fn list_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        audit::list(&*self.conn().await?, q).await
    }

    async fn audit_chain(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        audit::chain(&*self.conn().await?, after_seq, limit).await
    }
}

#[async_trait]
impl TransferStore for PgStore {
    async fn export_chunk(
        &self,
        kind: RecordKind,
        after: Cursor,
        limit: u32,
    ) -> StoreResult<ExportPage> {
        self.export_page(kind, after, limit).await
    }

    async fn import_chunk(&self, records: Vec<Record>) -> Result<u64, ImportFailure> {
        self.import_records(records).await
    }

    async fn is_empty_for_import(&self) -> StoreResult<bool> {
        self.empty_for_import().await
    }

    async fn import_starting(&self) -> StoreResult<()> {
        self.set_aside_indexes().await
    }

    async fn import_finished(&self) -> StoreResult<()> {
        self.rebuild_indexes().await
    }
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn insert_webhook(&self, w: Webhook, event: AuditEvent) -> StoreResult<Webhook> {
        self.audited(event, move |c| {
            Box::pin(async move { webhooks::insert(c, &w).await })
        })
        .await
    }

    async fn webhook(&self, id: Uuid) -> StoreResult<Option<Webhook>> {
        webhooks::by_id(&*self.conn().await?, id).await
    }

    async fn list_webhooks(&self) -> StoreResult<Vec<Webhook>> {
        webhooks::all(&*self.conn().await?).await
    }

    async fn update_webhook(&self, w: Webhook, event: AuditEvent) -> StoreResult<Webhook> {
        self.audited(event, move |c| {
            Box::pin(async move { webhooks::update(c, &w).await })
        })
        .await
    }

    async fn delete_webhook(&self, id: Uuid, event: AuditEvent) -> StoreResult<()> {
        self.audited(event, move |c| {
            Box::pin(async move { webhooks::delete(c, id).await })
        })
        .await
    }

    async fn queue_deliveries(
        &self,
        webhook: Uuid,
        from: i64,
        to: i64,
        deliveries: Vec<NewDelivery>,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.quiet(move |c| {
            Box::pin(async move { webhooks::queue(c, webhook, from, to, &deliveries, now).await })
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        self.quiet(move |c| {
            Box::pin(async move { webhooks::claim(c, now, lease_until, limit).await })
        })
        .await
    }

    async fn record_attempt(&self, delivery: Uuid, attempt: Attempt) -> StoreResult<()> {
        self.quiet(move |c| Box::pin(async move { webhooks::record(c, delivery, &attempt).await }))
            .await
    }

    async fn deliveries(
        &self,
        webhook: Uuid,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        webhooks::page(&*self.conn().await?, webhook, before_seq, limit).await
    }

    async fn purge_deliveries(&self, before: OffsetDateTime, limit: u32) -> StoreResult<u64> {
        self.quiet(move |c| Box::pin(async move { webhooks::purge(c, before, limit).await }))
            .await
    }

    async fn redeliver(
        &self,
        webhook: Uuid,
        delivery: Uuid,
        now: OffsetDateTime,
        event: AuditEvent,
    ) -> StoreResult<Delivery> {
        self.audited(event, move |c| {
            Box::pin(async move { webhooks::redeliver(c, webhook, delivery, now).await })
        })
        .await
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        self.conn()
            .await?
            .simple_query("SELECT 1")
            .await
            .map(drop)
            .map_err(err)
    }

    async fn durability_report(&self) -> StoreResult<String> {
        let c = self.conn().await?;
        let row = c
            .query_one(
                "SELECT current_setting('synchronous_commit'), current_setting('fsync'),
                        current_setting('server_version')",
                &[],
            )
            .await
            .map_err(err)?;
        let get = |i: usize| row.try_get::<_, String>(i).map_err(err);
        Ok(format!(
            "postgresql {} synchronous_commit={} fsync={} pool={}",
            get(2)?,
            get(0)?,
            get(1)?,
            self.inner.pool.status().max_size
        ))
    }

    async fn bootstrap(&self, b: Bootstrap) -> StoreResult<bool> {
        self.quiet(move |c| {
            Box::pin(async move {
                // Nodes starting together on a new database: one bootstraps.
                c.execute("SELECT pg_advisory_xact_lock(hashtext('bootstrap'))", &[])
                    .await
                    .map_err(err)?;
                let any: bool = c
                    .query_one("SELECT EXISTS (SELECT 1 FROM users)", &[])
                    .await
                    .map_err(err)?
                    .try_get(0)
                    .map_err(err)?;
                if any {
                    access::expire_idempotency(c).await?;
                    return Ok(false);
                }
                let admin = users::insert(c, &b.admin).await?;
                roles::assign(
                    c,
                    Holder::User(admin.id),
                    ADMINISTRATOR_ROLE_ID,
                    true,
                    &[],
                    b.admin.now,
                )
                .await?;
                if let Some(key) = &b.key {
                    access::insert_key(c, admin.id, key, None, None, None, b.admin.now).await?;
                }
                audit::append_all(c, std::slice::from_ref(&b.audit)).await?;
                Ok(true)
            })
        })
        .await
    }

    async fn announce(&self, what: Invalidation) -> StoreResult<()> {
        self.conn()
            .await?
            .execute(
                "SELECT pg_notify($1, $2)",
                &[&super::CHANNEL, &listen::payload(what)],
            )
            .await
            .map(drop)
            .map_err(err)
    }

    fn invalidations(&self) -> Option<broadcast::Receiver<Invalidation>> {
        Some(self.inner.invalidations.subscribe())
    }
}
