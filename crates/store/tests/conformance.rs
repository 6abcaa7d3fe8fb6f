//! The store contract, written once against `Arc<dyn Store>` and run
//! against every backend: the services rely on exactly these behaviours
//! (uniqueness as field conflicts, version checks, all-or-nothing writes,
//! a gap-free audit chain, shared throttle counters, credential epochs).
//! A new backend joins by adding itself to `backends()`; no test is copied.

use std::sync::Arc;

use roster_core::access::{
    ADMINISTRATOR_ROLE_ID, BUILTIN_ROLES, GroupRef, Holder, NewContainer, NewGroup, NewRole,
    ROOT_CONTAINER_ID, RoleRef,
};
use roster_core::audit::{AuditEvent, GENESIS, Origin, Outcome, verify_chain};
use roster_core::auth::generate_key;
use roster_core::authz::Privilege;
use roster_core::lockout::LockoutPolicy;
use roster_core::store::{Store, StoreError, Write};
use roster_core::transfer::{ContainerRecord, Cursor, Record, RecordKind};
use roster_core::user::{
    IdempotencyWrite, Inserted, NewUserAccess, NewUserRecord, Patch, UserDraft, UserQuery,
};
use roster_store::testing::{self, TempDatabase};
use roster_store::{PgOptions, PgStore, SqliteOptions, SqliteStore};
use time::OffsetDateTime;
use uuid::Uuid;

/// A store under test and what keeps it alive.
struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TempDatabase>,
}

/// Every backend, each fresh: SQLite always, PostgreSQL when
/// `ROSTER_TEST_POSTGRES_URL` names a server (a database of its own per
/// test, dropped at the end; an unreachable server fails the test).
async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = SqliteStore::open(&dir.path().join("c.db"), SqliteOptions::default())
        .expect("sqlite store");
    let mut all = vec![Backend {
        name: "sqlite",
        store: Arc::new(sqlite),
        _dir: Some(dir),
        _db: None,
    }];
    if let Some(base) = testing::postgres_url() {
        let db = TempDatabase::create(&base).await;
        let pg = PgStore::open(&db.url, PgOptions::default())
            .await
            .expect("postgres store");
        all.push(Backend {
            name: "postgres",
            store: Arc::new(pg),
            _dir: None,
            _db: Some(db),
        });
    } else {
        eprintln!(
            "{} not set: PostgreSQL not tested",
            testing::POSTGRES_URL_VAR
        );
    }
    for b in &all {
        b.store
            .ensure_builtin_roles(BUILTIN_ROLES)
            .await
            .expect("built-in roles");
    }
    all
}

/// Runs one contract case on every backend, naming the backend on failure.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                for b in backends().await {
                    eprintln!("backend: {}", b.name);
                    cases::$case(b.store.clone()).await;
                }
            }
        )*
    };
}

conformance!(
    users_are_unique_by_username_case_insensitively,
    updates_need_the_version_they_read,
    pages_are_keyset_ordered_by_seq,
    idempotency_records_replay_the_first_result,
    write_all_is_all_or_nothing,
    a_user_and_its_key_are_written_together_or_not_at_all,
    grants_come_directly_and_through_groups,
    the_audit_chain_is_gap_free_and_verifies,
    failed_logins_back_off_per_source_and_forgive_on_unlock,
    password_and_factor_changes_move_the_credential_epoch,
    key_caps_and_revocations_hold,
    missing_references_are_named_not_backend_errors,
    containers_keep_their_description,
    users_belong_to_further_sites,
    search_is_case_insensitive_literal_and_follows_changes,
    substring_search_is_exact,
    soft_deleted_users_are_hidden_kept_and_restorable,
    import_chunks_are_all_or_nothing,
    filters_compare_text_by_each_operator,
    filters_treat_absent_values_as_unequal,
    filters_respect_each_fields_case_rule,
    filter_patterns_match_literally,
    filters_compare_times_numbers_flags_and_ids,
    filters_compare_custom_attributes_by_type,
    filters_nest_and_combine_with_paging,
    webhook_deliveries_are_claimed_in_order_once,
);

#[path = "conformance/filters.rs"]
mod filters;

#[path = "conformance/webhooks.rs"]
mod webhooks;

/// Exports every kind from `s`, `limit` records per page (small limits
/// walk every cursor).
async fn export_all(s: &Arc<dyn Store>, limit: u32) -> Vec<Record> {
    let mut out = Vec::new();
    for kind in RecordKind::ALL {
        let mut cursor = Cursor::Start;
        loop {
            let page = s
                .export_chunk(kind, cursor, limit)
                .await
                .unwrap_or_else(|e| panic!("export {kind:?}: {e}"));
            assert!(page.records.len() <= limit as usize);
            assert!(page.records.iter().all(|r| r.kind() == kind));
            out.extend(page.records);
            match page.next {
                Some(next) => cursor = next,
                None => break,
            }
        }
    }
    out
}

/// Fills a store with one of everything an export carries, through the
/// store's own writes.
async fn populate(s: &Arc<dyn Store>) {
    let now = OffsetDateTime::now_utc();
    let container = |name: &str, parent: Uuid| NewContainer {
        id: Uuid::now_v7(),
        seq: None,
        name: name.into(),
        description: format!("{name}: a description"),
        parent_id: parent,
        now,
    };
    // A child older than its parent: only a parents-first order loads.
    let early = s
        .insert_container(
            container("Early", ROOT_CONTAINER_ID),
            event("container.create"),
        )
        .await
        .unwrap();
    let late = s
        .insert_container(
            container("Late", ROOT_CONTAINER_ID),
            event("container.create"),
        )
        .await
        .unwrap();
    s.update_container(
        early.id,
        early.version,
        early.name.clone(),
        "Moved under Late".into(),
        Some(late.id),
        now,
        event("container.update"),
    )
    .await
    .unwrap();
    for i in 0..3 {
        s.insert_container(
            container(&format!("Leaf{i}"), early.id),
            event("container.create"),
        )
        .await
        .unwrap();
    }
    let role = s
        .insert_role(
            NewRole {
                id: Uuid::now_v7(),
                seq: None,
                name: "Auditor".into(),
                description: "reads".into(),
                privileges: vec![Privilege::UsersRead, Privilege::AuditRead],
                now,
            },
            event("role.create"),
        )
        .await
        .unwrap();
    let mut users = Vec::new();
    for i in 0..5 {
        let mut rec = record(&format!("Transfer{i}"));
        rec.profile.email = Some(format!("T{i}@Example.com"));
        rec.profile.attributes.insert("i".into(), i.into());
        rec.password_hash = Some(format!("$argon2id$v=19$fake{i}"));
        rec.container_id = early.id;
        let access = NewUserAccess {
            sites: if i == 4 {
                vec![late.id, ROOT_CONTAINER_ID]
            } else {
                vec![]
            },
            ..Default::default()
        };
        let u = match s
            .insert_user(rec, access, None, event("user.create"))
            .await
            .unwrap()
        {
            Inserted::Created(u) => u,
            _ => panic!("not created"),
        };
        users.push(u);
    }
    s.set_totp(users[0].id, Some("TOTPSECRET".into()), true, event("mfa"))
        .await
        .unwrap();
    s.set_totp(users[1].id, Some("PENDING".into()), false, event("mfa"))
        .await
        .unwrap();
    s.login_succeeded(
        users[0].id,
        now,
        Some(42),
        "10.0.0.9".into(),
        event("login"),
    )
    .await
    .unwrap();
    s.set_lock(
        users[2].id,
        Some(now + time::Duration::hours(1)),
        event("lock"),
    )
    .await
    .unwrap();
    let group = s
        .insert_group(
            NewGroup {
                id: Uuid::now_v7(),
                seq: None,
                name: "ops".into(),
                description: "operators".into(),
                attributes: [("pager".to_string(), serde_json::Value::Bool(true))]
                    .into_iter()
                    .collect(),
                now,
            },
            event("group.create"),
        )
        .await
        .unwrap();
    for (i, u) in users.iter().enumerate().take(3) {
        s.add_member(
            group.id,
            u.id,
            (i == 0).then(|| "Edit".to_string()),
            event("group.member.add"),
        )
        .await
        .unwrap();
    }
    s.assign(
        Holder::Group(group.id),
        role.id,
        true,
        vec![],
        event("assign"),
    )
    .await
    .unwrap();
    s.assign(
        Holder::User(users[3].id),
        role.id,
        false,
        vec![late.id, early.id],
        event("assign"),
    )
    .await
    .unwrap();
    s.assign(
        Holder::User(users[4].id),
        ADMINISTRATOR_ROLE_ID,
        true,
        vec![],
        event("assign"),
    )
    .await
    .unwrap();
    let capped = generate_key("capped");
    let info = s
        .insert_key(
            users[0].id,
            capped.record,
            Some(role.id),
            Some(vec![Privilege::UsersRead]),
            Some(now + time::Duration::days(30)),
            event("key.create"),
        )
        .await
        .unwrap();
    s.touch_key(info.id, now).await.unwrap();
    let old = generate_key("old");
    let old = s
        .insert_key(
            users[1].id,
            old.record,
            None,
            None,
            None,
            event("key.create"),
        )
        .await
        .unwrap();
    s.revoke_key(old.id, now, event("key.revoke"))
        .await
        .unwrap();
    s.signing_secrets(vec![7; 32]).await.unwrap();
    s.add_signing_secret("second".into(), vec![9; 32], event("key.rotate"))
        .await
        .unwrap();
    for _ in 0..3 {
        s.revoke_token(
            Uuid::now_v7(),
            now + time::Duration::hours(1),
            event("token.revoke"),
        )
        .await
        .unwrap();
    }
    // A soft-deleted user travels with its deletion time.
    s.set_user_deleted(users[4].id, None, Some(now), event("user.delete"))
        .await
        .unwrap();
}

fn event(action: &str) -> AuditEvent {
    AuditEvent::new(action, Outcome::Success, &Origin::default()).actor(None, "conformance")
}

fn record(username: &str) -> NewUserRecord {
    NewUserRecord {
        id: Uuid::now_v7(),
        profile: UserDraft {
            username: username.into(),
            active: true,
            ..Default::default()
        },
        password_hash: None,
        container_id: ROOT_CONTAINER_ID,
        now: OffsetDateTime::now_utc(),
    }
}

async fn create(s: &Arc<dyn Store>, username: &str) -> roster_core::user::User {
    match s
        .insert_user(
            record(username),
            NewUserAccess::default(),
            None,
            event("user.create"),
        )
        .await
        .expect("insert")
    {
        Inserted::Created(u) => u,
        _ => panic!("not created"),
    }
}

mod cases {
    use super::*;

    pub use super::filters::{
        filter_patterns_match_literally, filters_compare_custom_attributes_by_type,
        filters_compare_text_by_each_operator, filters_compare_times_numbers_flags_and_ids,
        filters_nest_and_combine_with_paging, filters_respect_each_fields_case_rule,
        filters_treat_absent_values_as_unequal,
    };
    pub use super::webhooks::webhook_deliveries_are_claimed_in_order_once;

    pub async fn users_are_unique_by_username_case_insensitively(s: Arc<dyn Store>) {
        let u = create(&s, "Jill.Valentine").await;
        assert_eq!(u.version, 1);
        let again = s
            .insert_user(
                record("jill.VALENTINE"),
                NewUserAccess::default(),
                None,
                event("user.create"),
            )
            .await;
        assert!(matches!(
            again,
            Err(StoreError::Conflict { field: "username" })
        ));
        let found = s.user_for_login("jill.valentine").await.unwrap().unwrap();
        assert_eq!(found.user.id, u.id);
        assert_eq!(s.user_by_id(u.id).await.unwrap().unwrap().seq, u.seq);
    }

    pub async fn updates_need_the_version_they_read(s: Arc<dyn Store>) {
        let u = create(&s, "versioned").await;
        let mut draft = u.profile.clone();
        draft.first_name = Some("First".into());
        let now = OffsetDateTime::now_utc();
        let updated = s
            .update_user(
                u.id,
                1,
                draft.clone(),
                u.container_id,
                Patch::Keep,
                now,
                event("user.update"),
            )
            .await
            .unwrap();
        assert_eq!(updated.version, 2);
        assert_eq!(updated.profile.first_name.as_deref(), Some("First"));
        let stale = s
            .update_user(
                u.id,
                1,
                draft,
                u.container_id,
                Patch::Keep,
                now,
                event("user.update"),
            )
            .await;
        assert!(matches!(stale, Err(StoreError::VersionMismatch)));
        let gone = s
            .update_user(
                Uuid::now_v7(),
                1,
                u.profile.clone(),
                u.container_id,
                Patch::Keep,
                now,
                event("user.update"),
            )
            .await;
        assert!(matches!(gone, Err(StoreError::NotFound)));
    }

    pub async fn pages_are_keyset_ordered_by_seq(s: Arc<dyn Store>) {
        for i in 0..7 {
            create(&s, &format!("paged-{i}")).await;
        }
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let q = UserQuery {
                after_seq: after,
                limit: 3,
                q: Some("paged-".into()),
                ..Default::default()
            };
            let page = s.list_users(&q, None).await.unwrap();
            if page.is_empty() {
                break;
            }
            after = page.last().map(|u| u.seq);
            seen.extend(page.into_iter().map(|u| u.seq));
        }
        assert_eq!(seen.len(), 7);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        let q = UserQuery {
            q: Some("paged-".into()),
            ..Default::default()
        };
        assert_eq!(s.count_users(&q, None).await.unwrap(), 7);
        // A scope with no users in it sees nobody.
        let empty = s.list_users(&q, Some(&[Uuid::now_v7()])).await.unwrap();
        assert!(empty.is_empty());
    }

    pub async fn a_user_and_its_key_are_written_together_or_not_at_all(s: Arc<dyn Store>) {
        let insert_user = |rec: &NewUserRecord| Write::InsertUser {
            rec: Box::new(rec.clone()),
            access: NewUserAccess {
                groups: vec![],
                sites: vec![],
                assignments: vec![(ADMINISTRATOR_ROLE_ID, false, vec![ROOT_CONTAINER_ID])],
            },
        };
        let insert_key = |user: Uuid, role: Option<Uuid>| Write::InsertKey {
            user,
            key: generate_key("service").record,
            role,
            cap: Some(vec![Privilege::UsersRead]),
            expires_at: None,
        };
        // The key's role does not exist: the user goes with it.
        let rec = record("service-user");
        let refused = vec![
            (insert_user(&rec), event("user.create")),
            (
                insert_key(rec.id, Some(Uuid::now_v7())),
                event("key.create"),
            ),
        ];
        assert!(matches!(
            s.write_all(refused).await,
            Err(StoreError::MissingReference { .. })
        ));
        assert!(s.user_by_id(rec.id).await.unwrap().is_none());
        assert!(s.list_keys(Some(rec.id)).await.unwrap().is_empty());
        assert!(
            s.assignments_of(Holder::User(rec.id))
                .await
                .unwrap()
                .is_empty()
        );
        // A user's home that does not exist is named as such.
        let mut homeless = record("homeless");
        homeless.container_id = Uuid::now_v7();
        assert!(matches!(
            s.write_all(vec![(insert_user(&homeless), event("user.create"))])
                .await,
            Err(StoreError::MissingReference {
                field: "container_id"
            })
        ));
        let accepted = vec![
            (insert_user(&rec), event("user.create")),
            (insert_key(rec.id, None), event("key.create")),
        ];
        s.write_all(accepted).await.unwrap();
        let user = s.user_by_id(rec.id).await.unwrap().unwrap();
        assert_eq!(user.profile.username, "service-user");
        assert_eq!(s.list_keys(Some(rec.id)).await.unwrap().len(), 1);
        assert_eq!(
            s.assignments_of(Holder::User(rec.id)).await.unwrap().len(),
            1
        );
    }

    pub async fn idempotency_records_replay_the_first_result(s: Arc<dyn Store>) {
        let scope = Uuid::now_v7();
        let insert = |username: &'static str, hash: &'static str| {
            let s = s.clone();
            async move {
                let key = IdempotencyWrite {
                    scope,
                    key: "retry-1".into(),
                    request_hash: hash.into(),
                };
                s.insert_user(
                    record(username),
                    NewUserAccess::default(),
                    Some(key),
                    event("user.create"),
                )
                .await
                .unwrap()
            }
        };
        let Inserted::Created(u) = insert("idem", "h1").await else {
            panic!("created")
        };
        let hit = s
            .idempotent_result(scope, "retry-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((hit.user.id, hit.request_hash.as_str()), (u.id, "h1"));
        // A retry with the same key and request replays the first result.
        let again = insert("idem-other-name", "h1").await;
        assert!(matches!(again, Inserted::Replayed(r) if r.id == u.id));
        // The same key with another request is a mismatch.
        assert!(matches!(
            insert("idem-third", "h2").await,
            Inserted::Mismatch
        ));
        // Keys are per caller.
        assert!(
            s.idempotent_result(Uuid::now_v7(), "retry-1")
                .await
                .unwrap()
                .is_none()
        );
    }

    pub async fn write_all_is_all_or_nothing(s: Arc<dyn Store>) {
        let u = create(&s, "compound").await;
        let group = NewGroup {
            id: Uuid::now_v7(),
            seq: None,
            name: "compound-group".into(),
            description: String::new(),
            attributes: Default::default(),
            now: OffsetDateTime::now_utc(),
        };
        let gid = group.id;
        let mut draft = u.profile.clone();
        draft.display_name = Some("changed".into());
        let update = Write::UpdateUser {
            id: u.id,
            expected_version: u.version,
            draft: Box::new(draft),
            container_id: u.container_id,
            password_hash: Patch::Keep,
            now: OffsetDateTime::now_utc(),
        };
        // The last write fails (no such user): nothing before it stays.
        let failing = vec![
            (update.clone(), event("user.update")),
            (Write::InsertGroup(group.clone()), event("group.create")),
            (
                Write::AddMember {
                    group: gid,
                    user: Uuid::now_v7(),
                    access_level: None,
                },
                event("group.member.add"),
            ),
        ];
        assert!(s.write_all(failing).await.is_err());
        assert!(s.group(gid).await.unwrap().is_none());
        let still = s.user_by_id(u.id).await.unwrap().unwrap();
        assert_eq!((still.version, still.profile.display_name), (1, None));
        // Also when the failure is the store's own verdict, not a database
        // error (removing a membership that does not exist: not found).
        let refused = vec![
            (update.clone(), event("user.update")),
            (
                Write::RemoveMember {
                    group: Uuid::now_v7(),
                    user: u.id,
                },
                event("group.member.remove"),
            ),
        ];
        assert!(matches!(
            s.write_all(refused).await,
            Err(StoreError::NotFound)
        ));
        let still = s.user_by_id(u.id).await.unwrap().unwrap();
        assert_eq!((still.version, still.profile.display_name), (1, None));
        let events_before = s.audit_chain(0, 10_000).await.unwrap().len();
        // The same without the failing write: all of it, with its events.
        let ok = vec![
            (update, event("user.update")),
            (Write::InsertGroup(group), event("group.create")),
            (
                Write::AddMember {
                    group: gid,
                    user: u.id,
                    access_level: Some("View".into()),
                },
                event("group.member.add"),
            ),
        ];
        s.write_all(ok).await.unwrap();
        assert_eq!(s.user_by_id(u.id).await.unwrap().unwrap().version, 2);
        assert_eq!(s.members(gid, 0, 10).await.unwrap()[0].id, u.id);
        assert_eq!(
            s.audit_chain(0, 10_000).await.unwrap().len(),
            events_before + 3
        );
    }

    pub async fn grants_come_directly_and_through_groups(s: Arc<dyn Store>) {
        let u = create(&s, "granted").await;
        let c = s
            .insert_container(
                NewContainer {
                    id: Uuid::now_v7(),
                    seq: None,
                    name: "Site".into(),
                    description: String::new(),
                    parent_id: ROOT_CONTAINER_ID,
                    now: OffsetDateTime::now_utc(),
                },
                event("container.create"),
            )
            .await
            .unwrap();
        assert_eq!(
            s.container_chain(c.id).await.unwrap(),
            vec![c.id, ROOT_CONTAINER_ID]
        );
        let manager = s.role(RoleRef::Seq(4)).await.unwrap().unwrap();
        s.assign(
            Holder::User(u.id),
            manager.id,
            false,
            vec![c.id],
            event("role.assign"),
        )
        .await
        .unwrap();
        let g = s
            .insert_group(
                NewGroup {
                    id: Uuid::now_v7(),
                    seq: None,
                    name: "admins".into(),
                    description: String::new(),
                    attributes: Default::default(),
                    now: OffsetDateTime::now_utc(),
                },
                event("group.create"),
            )
            .await
            .unwrap();
        s.assign(
            Holder::Group(g.id),
            ADMINISTRATOR_ROLE_ID,
            true,
            vec![],
            event("role.assign"),
        )
        .await
        .unwrap();
        let direct = s.grants_of(u.id).await.unwrap();
        assert_eq!(direct.len(), 1);
        assert!(direct[0].privileges.contains(&Privilege::UsersWrite));
        assert!(
            s.add_member(g.id, u.id, None, event("group.member.add"))
                .await
                .unwrap()
        );
        let both = s.grants_of(u.id).await.unwrap();
        assert_eq!(both.len(), 2);
        assert!(both.iter().any(|g| g.via_group.is_some()));
        // Re-assigning a role replaces that assignment's scope.
        s.assign(
            Holder::User(u.id),
            manager.id,
            true,
            vec![],
            event("role.assign"),
        )
        .await
        .unwrap();
        let mine = s.assignments_of(Holder::User(u.id)).await.unwrap();
        assert_eq!(mine.len(), 1);
        assert!(mine[0].all_objects);
        assert_eq!(s.assignments_of_role(manager.id).await.unwrap().len(), 1);
        assert_eq!(
            s.group_by_seq(g.seq).await.unwrap().map(|x| x.id),
            Some(g.id)
        );
        let _ = GroupRef::Id(g.id);
    }

    pub async fn the_audit_chain_is_gap_free_and_verifies(s: Arc<dyn Store>) {
        for i in 0..5 {
            create(&s, &format!("audited-{i}")).await;
        }
        s.append_audit(event("standalone")).await.unwrap();
        let chain = s.audit_chain(0, 10_000).await.unwrap();
        assert!(chain.len() >= 6);
        assert!(verify_chain(&chain, (0, GENESIS.to_string())).is_ok());
        // Read in two runs, the second continuing from the first.
        let (head, tail) = chain.split_at(3);
        let prev = verify_chain(head, (0, GENESIS.to_string())).unwrap();
        assert!(verify_chain(tail, prev).is_ok());
        let q = roster_core::audit::AuditQuery {
            action: Some("standalone".into()),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(s.list_audit(&q).await.unwrap().len(), 1);
    }

    pub async fn failed_logins_back_off_per_source_and_forgive_on_unlock(s: Arc<dyn Store>) {
        let u = create(&s, "throttled").await;
        let policy = LockoutPolicy::new(3, 900);
        let fail = |source: &'static str| {
            let s = s.clone();
            async move {
                s.login_failed("throttled".into(), source.into(), policy, event("login"))
                    .await
                    .unwrap()
            }
        };
        assert!(fail("10.0.0.1").await.is_none());
        assert!(fail("10.0.0.1").await.is_none());
        let until = fail("10.0.0.1").await.expect("third failure waits");
        assert!(until > OffsetDateTime::now_utc());
        assert!(
            s.login_throttled("throttled", "10.0.0.1")
                .await
                .unwrap()
                .is_some()
        );
        // Another source is not slowed by this one's failures.
        assert!(
            s.login_throttled("throttled", "10.0.0.2")
                .await
                .unwrap()
                .is_none()
        );
        // Names that do not exist are counted the same way.
        for _ in 0..3 {
            s.login_failed("nobody".into(), "10.0.0.1".into(), policy, event("login"))
                .await
                .unwrap();
        }
        assert!(
            s.login_throttled("nobody", "10.0.0.1")
                .await
                .unwrap()
                .is_some()
        );
        s.set_lock(u.id, None, event("user.unlock")).await.unwrap();
        assert!(
            s.login_throttled("throttled", "10.0.0.1")
                .await
                .unwrap()
                .is_none()
        );
    }

    pub async fn password_and_factor_changes_move_the_credential_epoch(s: Arc<dyn Store>) {
        let u = create(&s, "epoch").await;
        assert_eq!(u.credential_epoch, 0);
        let now = OffsetDateTime::now_utc();
        let after_profile = s
            .update_user(
                u.id,
                1,
                u.profile.clone(),
                u.container_id,
                Patch::Keep,
                now,
                event("user.update"),
            )
            .await
            .unwrap();
        assert_eq!(after_profile.credential_epoch, 0);
        let after_password = s
            .update_user(
                u.id,
                2,
                u.profile.clone(),
                u.container_id,
                Patch::Set("$argon2id$not-a-real-hash".into()),
                now,
                event("user.password.set"),
            )
            .await
            .unwrap();
        assert_eq!(after_password.credential_epoch, 1);
        s.set_totp(u.id, Some("SECRET".into()), true, event("mfa.totp.enroll"))
            .await
            .unwrap();
        assert_eq!(
            s.user_by_id(u.id).await.unwrap().unwrap().credential_epoch,
            1
        );
        s.set_totp(u.id, None, true, event("mfa.totp.reset"))
            .await
            .unwrap();
        assert_eq!(
            s.user_by_id(u.id).await.unwrap().unwrap().credential_epoch,
            2
        );
    }

    pub async fn key_caps_and_revocations_hold(s: Arc<dyn Store>) {
        let u = create(&s, "keyed").await;
        let key = generate_key("capped");
        let hash = key.record.hash.clone();
        let info = s
            .insert_key(
                u.id,
                key.record,
                None,
                Some(vec![Privilege::UsersRead]),
                None,
                event("key.create"),
            )
            .await
            .unwrap();
        let owner = s.key_owner(&hash).await.unwrap().unwrap();
        assert_eq!(owner.user.id, u.id);
        assert_eq!(owner.cap, Some(vec![Privilege::UsersRead]));
        s.revoke_key(info.id, OffsetDateTime::now_utc(), event("key.revoke"))
            .await
            .unwrap();
        let revoked = s.key_owner(&hash).await.unwrap().unwrap();
        assert!(revoked.key.revoked_at.is_some());
        let jti = Uuid::now_v7();
        assert!(!s.token_revoked(jti).await.unwrap());
        s.revoke_token(
            jti,
            OffsetDateTime::now_utc() + time::Duration::hours(1),
            event("token.revoke"),
        )
        .await
        .unwrap();
        assert!(s.token_revoked(jti).await.unwrap());
    }

    pub async fn missing_references_are_named_not_backend_errors(s: Arc<dyn Store>) {
        let orphan = NewUserRecord {
            container_id: Uuid::now_v7(),
            ..record("orphan")
        };
        let r = s
            .insert_user(orphan, NewUserAccess::default(), None, event("user.create"))
            .await;
        assert!(
            matches!(r, Err(StoreError::MissingReference { .. })),
            "{:?}",
            r.err()
        );
        let g = s
            .remove_member(Uuid::now_v7(), Uuid::now_v7(), event("group.member.remove"))
            .await;
        assert!(matches!(g, Err(StoreError::NotFound)), "{:?}", g.err());
    }

    pub async fn soft_deleted_users_are_hidden_kept_and_restorable(s: Arc<dyn Store>) {
        let gone = create(&s, "soft-gone").await;
        let kept = create(&s, "soft-kept").await;
        let g = s
            .insert_group(
                NewGroup {
                    id: Uuid::now_v7(),
                    seq: None,
                    name: "SoftGroup".into(),
                    description: String::new(),
                    attributes: Default::default(),
                    now: OffsetDateTime::now_utc(),
                },
                event("group.create"),
            )
            .await
            .unwrap();
        for u in [&gone, &kept] {
            s.add_member(g.id, u.id, None, event("group.member.add"))
                .await
                .unwrap();
        }
        let stale = s
            .set_user_deleted(
                gone.id,
                Some(gone.version + 7),
                Some(OffsetDateTime::now_utc()),
                event("user.delete"),
            )
            .await;
        assert!(
            matches!(stale, Err(StoreError::VersionMismatch)),
            "{stale:?}"
        );
        let deleted = s
            .set_user_deleted(
                gone.id,
                Some(gone.version),
                Some(OffsetDateTime::now_utc()),
                event("user.delete"),
            )
            .await
            .unwrap();
        assert!(deleted.deleted_at.is_some());
        assert_eq!(deleted.version, gone.version + 1);
        assert_eq!(deleted.credential_epoch, gone.credential_epoch + 1);
        // Lists, counts, exact lookups and group members leave it out.
        let q = UserQuery {
            q: Some("soft-".into()),
            limit: 100,
            ..Default::default()
        };
        let names = |v: Vec<roster_core::user::User>| {
            v.into_iter()
                .map(|u| u.profile.username)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(s.list_users(&q, None).await.unwrap()), ["soft-kept"]);
        assert_eq!(s.count_users(&q, None).await.unwrap(), 1);
        let by_name = UserQuery {
            username: Some("soft-gone".into()),
            limit: 100,
            ..Default::default()
        };
        assert!(s.list_users(&by_name, None).await.unwrap().is_empty());
        let members = s.members(g.id, 0, 100).await.unwrap();
        assert_eq!(names(members), ["soft-kept"]);
        // Asked for, it is there; by id it is there, marked.
        let all = UserQuery {
            include_deleted: true,
            ..q.clone()
        };
        assert_eq!(s.count_users(&all, None).await.unwrap(), 2);
        let read = s.user_by_id(gone.id).await.unwrap().unwrap();
        assert_eq!(read.deleted_at, deleted.deleted_at);
        // Its username stays taken until it is purged.
        let again = s
            .insert_user(
                record("Soft-Gone"),
                NewUserAccess::default(),
                None,
                event("user.create"),
            )
            .await;
        assert!(
            matches!(again, Err(StoreError::Conflict { field: "username" })),
            "{:?}",
            again.err()
        );
        let cutoff = OffsetDateTime::now_utc() + time::Duration::seconds(1);
        assert_eq!(
            s.users_deleted_before(cutoff, 10).await.unwrap(),
            vec![gone.id]
        );
        assert!(
            s.users_deleted_before(cutoff - time::Duration::hours(1), 10)
                .await
                .unwrap()
                .is_empty()
        );
        // Restored: back everywhere, the epoch not moved back.
        let restored = s
            .set_user_deleted(gone.id, None, None, event("user.restore"))
            .await
            .unwrap();
        assert_eq!(restored.deleted_at, None);
        assert_eq!(restored.credential_epoch, deleted.credential_epoch);
        assert_eq!(s.count_users(&q, None).await.unwrap(), 2);
        assert!(s.users_deleted_before(cutoff, 10).await.unwrap().is_empty());
        // Purged: gone for good, the name free again.
        s.set_user_deleted(
            gone.id,
            None,
            Some(OffsetDateTime::now_utc()),
            event("user.delete"),
        )
        .await
        .unwrap();
        s.delete_user(gone.id, None, event("user.purge"))
            .await
            .unwrap();
        assert!(s.user_by_id(gone.id).await.unwrap().is_none());
        create(&s, "soft-gone").await;
    }

    /// `q` through the prefix indexes: prefix and substring, any case,
    /// quotes and wildcards taken literally, short text too, and the
    /// indexes follow renames and deletes.
    pub async fn search_is_case_insensitive_literal_and_follows_changes(s: Arc<dyn Store>) {
        let now = OffsetDateTime::now_utc();
        let mut rec = record("alice.smith");
        rec.profile.email = Some("Alice.Smith@Example.COM".into());
        rec.profile.first_name = Some("Ünïcode".into());
        let alice = match s
            .insert_user(rec, NewUserAccess::default(), None, event("user.create"))
            .await
            .unwrap()
        {
            Inserted::Created(u) => u,
            _ => panic!("not created"),
        };
        let mut rec = record("odd\"quote%_");
        rec.profile.last_name = Some("O'Brien".into());
        s.insert_user(rec, NewUserAccess::default(), None, event("user.create"))
            .await
            .unwrap();
        for n in 0..30 {
            create(&s, &format!("filler{n:02}")).await;
        }
        let find = |text: &str, contains: bool| UserQuery {
            q: Some(text.into()),
            q_contains: contains,
            limit: 100,
            ..Default::default()
        };
        let names = |users: Vec<roster_core::user::User>| -> Vec<String> {
            let mut n: Vec<String> = users.into_iter().map(|u| u.profile.username).collect();
            n.sort();
            n
        };
        let search = |text: &'static str, contains: bool| {
            let s = s.clone();
            async move { names(s.list_users(&find(text, contains), None).await.unwrap()) }
        };
        assert_eq!(search("ALICE.S", false).await, ["alice.smith"]);
        assert_eq!(search("al", false).await, ["alice.smith"]);
        assert_eq!(
            search("smith", false).await,
            Vec::<String>::new(),
            "a prefix, not a substring"
        );
        assert_eq!(search("SMITH@ex", true).await, ["alice.smith"]);
        assert_eq!(search("Ünï", false).await, ["alice.smith"]);
        assert_eq!(search("d\"quote%_", true).await, ["odd\"quote%_"]);
        assert_eq!(search("quote%x", true).await, Vec::<String>::new());
        assert_eq!(search("o'bri", false).await, ["odd\"quote%_"]);
        assert_eq!(search("O'BRI", false).await, ["odd\"quote%_"]);
        assert_eq!(search("filler1", false).await.len(), 10);
        assert_eq!(
            s.count_users(&find("filler", false), None).await.unwrap(),
            30
        );

        // Renamed: the old text no longer finds it, the new text does.
        let mut draft = alice.profile.clone();
        draft.username = "bob.jones".into();
        draft.email = Some("bob@example.org".into());
        s.update_user(
            alice.id,
            alice.version,
            draft,
            alice.container_id,
            Patch::Keep,
            now,
            event("user.update"),
        )
        .await
        .unwrap();
        assert_eq!(search("alice", false).await, Vec::<String>::new());
        assert_eq!(search("JONES", true).await, ["bob.jones"]);
        s.delete_user(alice.id, None, event("user.purge"))
            .await
            .unwrap();
        assert_eq!(search("bob.j", false).await, Vec::<String>::new());
    }

    /// `q` anywhere in the text (`q_contains`; PostgreSQL narrows it
    /// through a trigram index, SQLite walks): every field, any case, never
    /// a row whose trigrams are all present but apart (or across two
    /// fields), text shorter than a trigram, pages and totals, and the
    /// answers follow renames, soft and hard deletes.
    pub async fn substring_search_is_exact(s: Arc<dyn Store>) {
        let now = OffsetDateTime::now_utc();
        let insert = |username: &str, email: &str, first: &str, last: &str, display: &str| {
            let mut rec = record(username);
            rec.profile.email = Some(email.into());
            rec.profile.first_name = Some(first.into());
            rec.profile.last_name = Some(last.into());
            rec.profile.display_name = Some(display.into());
            let s = s.clone();
            async move {
                match s
                    .insert_user(rec, NewUserAccess::default(), None, event("user.create"))
                    .await
                    .unwrap()
                {
                    Inserted::Created(u) => u,
                    _ => panic!("not created"),
                }
            }
        };
        let carla = insert(
            "carla",
            "c.d@corp.example",
            "Carla",
            "Vandermeer",
            "Carla V.",
        )
        .await;
        insert("dmitri", "dm@else.example", "Dmitri", "Ostrowski", "Mitya").await;
        // Every trigram of "abcd" but not the text itself, and one split
        // over two fields (username "zzab", first name "cdzz").
        insert("abcxbcd", "x@y.example", "X", "Y", "Z").await;
        insert("zzab", "w@y.example", "cdzz", "Q", "R").await;
        for n in 0..12 {
            insert(
                &format!("staff{n:02}"),
                &format!("staff{n:02}@corp.example"),
                "Staff",
                &format!("Member{n:02}"),
                "S",
            )
            .await;
        }
        let find = |text: &str| UserQuery {
            q: Some(text.into()),
            q_contains: true,
            limit: 100,
            ..Default::default()
        };
        let search = |text: &'static str| {
            let s = s.clone();
            async move {
                let mut n: Vec<String> = s
                    .list_users(&find(text), None)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|u| u.profile.username)
                    .collect();
                n.sort();
                n
            }
        };
        let none = Vec::<String>::new();
        assert_eq!(search("ARL").await, ["carla"], "username and names");
        assert_eq!(search("dermee").await, ["carla"], "last name");
        assert_eq!(search("ITY").await, ["dmitri"], "display name");
        assert_eq!(search("@ELSE.").await, ["dmitri"], "email");
        assert_eq!(search("strow").await, ["dmitri"]);
        assert_eq!(search("abcd").await, none, "trigrams apart are no match");
        assert_eq!(search("bcx").await, ["abcxbcd"]);
        assert_eq!(search("zzabc").await, none, "not across two fields");
        assert_eq!(search("rl").await, ["carla"], "shorter than a trigram");
        assert_eq!(search("nowhere").await, none);
        assert_eq!(search("corp.example").await.len(), 13);
        assert_eq!(s.count_users(&find("ember1"), None).await.unwrap(), 2);
        // Pages of a substring search, in order, without repeats.
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let q = UserQuery {
                after_seq: after,
                limit: 5,
                ..find("aff")
            };
            let page = s.list_users(&q, None).await.unwrap();
            let Some(last) = page.last() else { break };
            after = Some(last.seq);
            seen.extend(page.iter().map(|u| u.seq));
        }
        assert_eq!(seen.len(), 12);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");

        // A change to another column keeps the text findable; a rename
        // moves it.
        let update = |user: roster_core::user::User, change: fn(&mut UserDraft)| {
            let s = s.clone();
            let mut draft = user.profile.clone();
            change(&mut draft);
            async move {
                s.update_user(
                    user.id,
                    user.version,
                    draft,
                    user.container_id,
                    Patch::Keep,
                    now,
                    event("user.update"),
                )
                .await
                .unwrap()
            }
        };
        let carla = update(carla, |d| d.phone = Some("+15550100".into())).await;
        assert_eq!(search("dermee").await, ["carla"]);
        let carla = update(carla, |d| d.last_name = Some("Okafor".into())).await;
        assert_eq!(search("dermee").await, none);
        assert_eq!(search("KAFO").await, ["carla"]);
        // Soft-deleted: hidden unless asked for; purged: gone.
        let carla = s
            .set_user_deleted(carla.id, None, Some(now), event("user.delete"))
            .await
            .unwrap();
        assert_eq!(search("kafo").await, none);
        let with_deleted = UserQuery {
            include_deleted: true,
            ..find("kafo")
        };
        assert_eq!(s.list_users(&with_deleted, None).await.unwrap().len(), 1);
        s.delete_user(carla.id, None, event("user.purge"))
            .await
            .unwrap();
        assert!(s.list_users(&with_deleted, None).await.unwrap().is_empty());
    }

    /// Sites besides the home: listed by `site` (the subtree of homes and
    /// sites), not by `container` (homes alone); replaced as a whole; a
    /// missing container is named; a site with members is in use.
    pub async fn users_belong_to_further_sites(s: Arc<dyn Store>) {
        let now = OffsetDateTime::now_utc();
        let container = |name: &str, parent: Uuid| NewContainer {
            id: Uuid::now_v7(),
            seq: None,
            name: name.into(),
            description: String::new(),
            parent_id: parent,
            now,
        };
        let home = s
            .insert_container(container("Home", ROOT_CONTAINER_ID), event("c"))
            .await
            .unwrap();
        let region = s
            .insert_container(container("Region", ROOT_CONTAINER_ID), event("c"))
            .await
            .unwrap();
        let site = s
            .insert_container(container("Site", region.id), event("c"))
            .await
            .unwrap();
        let mut rec = record("traveller");
        rec.container_id = home.id;
        let access = NewUserAccess {
            sites: vec![site.id],
            ..Default::default()
        };
        let user = match s
            .insert_user(rec, access, None, event("user.create"))
            .await
            .unwrap()
        {
            Inserted::Created(u) => u,
            _ => panic!("not created"),
        };
        let names = |users: Vec<roster_core::user::User>| -> Vec<String> {
            users.into_iter().map(|u| u.profile.username).collect()
        };
        let by = |site: Option<Uuid>, container: Option<Uuid>| UserQuery {
            site,
            container,
            limit: 100,
            ..Default::default()
        };
        for root in [site.id, region.id, home.id] {
            assert_eq!(
                names(s.list_users(&by(Some(root), None), None).await.unwrap()),
                ["traveller"]
            );
        }
        assert!(
            s.list_users(&by(None, Some(site.id)), None)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.count_users(&by(Some(region.id), None), None)
                .await
                .unwrap(),
            1
        );

        // In use while it has members.
        assert!(matches!(
            s.delete_container(site.id, event("c")).await,
            Err(StoreError::InUse(_))
        ));
        // A missing container is named, and nothing of the batch is kept.
        let missing = s
            .write_all(vec![(
                Write::SetUserSites {
                    user: user.id,
                    sites: vec![region.id, Uuid::now_v7()],
                },
                event("user.sites"),
            )])
            .await;
        assert!(
            matches!(
                missing,
                Err(StoreError::MissingReference { field: "site_ids" })
            ),
            "{missing:?}"
        );
        assert_eq!(
            names(s.list_users(&by(Some(site.id), None), None).await.unwrap()),
            ["traveller"]
        );
        // Replaced as a whole.
        s.write_all(vec![(
            Write::SetUserSites {
                user: user.id,
                sites: vec![],
            },
            event("user.sites"),
        )])
        .await
        .unwrap();
        assert!(
            s.list_users(&by(Some(region.id), None), None)
                .await
                .unwrap()
                .is_empty()
        );
        s.delete_container(site.id, event("c")).await.unwrap();
    }

    pub async fn containers_keep_their_description(s: Arc<dyn Store>) {
        let now = OffsetDateTime::now_utc();
        let text = "Sites in the north — ünïcode, \"quotes\" and\nnewlines".to_string();
        let c = s
            .insert_container(
                NewContainer {
                    id: Uuid::now_v7(),
                    seq: None,
                    name: "North".into(),
                    description: text.clone(),
                    parent_id: ROOT_CONTAINER_ID,
                    now,
                },
                event("container.create"),
            )
            .await
            .unwrap();
        assert_eq!(c.description, text);
        assert_eq!(s.container(c.id).await.unwrap().unwrap().description, text);
        let listed = s.list_containers().await.unwrap();
        assert_eq!(
            listed.iter().find(|x| x.id == c.id).unwrap().description,
            text
        );
        let root = s.container(ROOT_CONTAINER_ID).await.unwrap().unwrap();
        assert_eq!(root.description, "", "existing rows have none");
        let changed = s
            .update_container(
                c.id,
                c.version,
                c.name.clone(),
                "changed".into(),
                None,
                now,
                event("container.update"),
            )
            .await
            .unwrap();
        assert_eq!(
            (changed.description.as_str(), changed.version),
            ("changed", c.version + 1)
        );
        let by_seq = s.container_by_seq(c.seq).await.unwrap().unwrap();
        assert_eq!(by_seq.description, "changed");
        let cleared = s
            .update_container(
                c.id,
                changed.version,
                c.name.clone(),
                String::new(),
                None,
                now,
                event("container.update"),
            )
            .await
            .unwrap();
        assert_eq!(cleared.description, "");
    }

    pub async fn import_chunks_are_all_or_nothing(s: Arc<dyn Store>) {
        assert!(s.is_empty_for_import().await.unwrap());
        let now = OffsetDateTime::now_utc();
        let first = ContainerRecord {
            id: Uuid::now_v7(),
            seq: 50,
            name: "Imported".into(),
            description: "Imported one".into(),
            parent_id: Some(ROOT_CONTAINER_ID),
            created_at: now,
            updated_at: now,
            version: 3,
        };
        let mut clash = first.clone();
        clash.id = Uuid::now_v7();
        let failure = s
            .import_chunk(vec![
                Record::Container(first.clone()),
                Record::Container(clash),
            ])
            .await
            .unwrap_err();
        assert_eq!(failure.index, Some(1), "{failure}");
        assert!(
            matches!(failure.error, StoreError::Conflict { .. }),
            "{failure}"
        );
        assert!(
            s.container(first.id).await.unwrap().is_none(),
            "nothing written"
        );
        assert!(s.is_empty_for_import().await.unwrap());
        let failure = s
            .import_chunk(vec![Record::Container(ContainerRecord {
                parent_id: Some(Uuid::now_v7()),
                ..first.clone()
            })])
            .await
            .unwrap_err();
        assert!(
            matches!(failure.error, StoreError::MissingReference { .. }),
            "{failure}"
        );
        assert_eq!(
            s.import_chunk(vec![Record::Container(first.clone())])
                .await
                .unwrap(),
            1
        );
        let stored = s.container(first.id).await.unwrap().unwrap();
        assert_eq!((stored.seq, stored.version), (50, 3), "written as given");
        assert_eq!(stored.description, "Imported one");
        assert!(!s.is_empty_for_import().await.unwrap());
    }
}

/// Every backend's export loads into every backend (the root container
/// and built-in roles already there), exports back the same, and keeps a
/// verifying audit chain.
#[tokio::test]
async fn exports_round_trip_between_every_pair_of_backends() {
    for source in backends().await {
        populate(&source.store).await;
        assert!(!source.store.is_empty_for_import().await.unwrap());
        let exported = export_all(&source.store, 2).await;
        assert_eq!(
            exported,
            export_all(&source.store, 1000).await,
            "{}: the page size changes nothing",
            source.name
        );
        let count = |k: RecordKind| exported.iter().filter(|r| r.kind() == k).count();
        assert_eq!(count(RecordKind::Container), 6);
        assert_eq!(count(RecordKind::User), 5);
        assert_eq!(count(RecordKind::Membership), 3);
        assert_eq!(count(RecordKind::Site), 2);
        assert_eq!(count(RecordKind::Assignment), 3);
        assert_eq!(count(RecordKind::ApiKey), 2);
        assert_eq!(count(RecordKind::SigningKey), 2);
        assert_eq!(count(RecordKind::RevokedToken), 3);
        assert_eq!(count(RecordKind::Role), BUILTIN_ROLES.len() + 1);
        // Parents first.
        let containers: Vec<&ContainerRecord> = exported
            .iter()
            .filter_map(|r| match r {
                Record::Container(c) => Some(c),
                _ => None,
            })
            .collect();
        for (i, c) in containers.iter().enumerate() {
            if let Some(p) = c.parent_id {
                assert!(
                    containers[..i].iter().any(|x| x.id == p),
                    "{}: {} before its parent",
                    source.name,
                    c.name
                );
            }
        }
        let users: Vec<_> = exported
            .iter()
            .filter_map(|r| match r {
                Record::User(u) => Some(u),
                _ => None,
            })
            .collect();
        assert_eq!(users[0].totp_secret.as_deref(), Some("TOTPSECRET"));
        assert_eq!(users[0].totp_last_step, Some(42));
        assert_eq!(users[1].totp_pending.as_deref(), Some("PENDING"));
        assert!(users[2].locked_until.is_some());
        assert!(users[4].deleted_at.is_some());
        assert_eq!(
            users[0].password_hash.as_deref(),
            Some("$argon2id$v=19$fake0")
        );
        for target in backends().await {
            let t = &target.store;
            assert!(t.is_empty_for_import().await.unwrap(), "{}", target.name);
            for chunk in exported.chunks(7) {
                t.import_chunk(chunk.to_vec())
                    .await
                    .unwrap_or_else(|e| panic!("{} -> {}: {e:?}", source.name, target.name));
            }
            let again = export_all(t, 3).await;
            assert_eq!(exported.len(), again.len());
            for (x, y) in exported.iter().zip(&again) {
                assert_eq!(x, y, "{} -> {}", source.name, target.name);
            }
            let chain = t.audit_chain(0, 10_000).await.unwrap();
            assert!(chain.len() > 20);
            assert!(verify_chain(&chain, (0, GENESIS.into())).is_ok());
            assert!(!t.is_empty_for_import().await.unwrap());
            // The imported rows work as stored ones do.
            let grants = t.grants_of(users[0].id).await.unwrap();
            assert!(grants.iter().any(|g| g.via_group.is_some()));
            let owner = t.key_owner(&key_hash(&exported, 0)).await.unwrap().unwrap();
            assert_eq!(owner.cap, Some(vec![Privilege::UsersRead]));
            let fresh = create(t, "after-import").await;
            assert_eq!(fresh.seq, 6, "seq continues after the imported users");
        }
    }
}

fn key_hash(records: &[Record], nth: usize) -> String {
    records
        .iter()
        .filter_map(|r| match r {
            Record::ApiKey(k) if k.revoked_at.is_none() => Some(k.hash.clone()),
            _ => None,
        })
        .nth(nth)
        .unwrap()
}
