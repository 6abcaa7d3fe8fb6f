//! The core operations faces compose requests from (user lookups, API-only
//! users, group membership changes, If-Match on compound updates), run
//! against the real core and SQLite store: what each allows, what a limited
//! caller cannot reach with it, and that a refusal writes nothing.

use std::sync::Arc;

use roster_core::access::{ROOT_CONTAINER_ID, RoleRef};
use roster_core::audit::Origin;
use roster_core::password::HashCost;
use roster_core::service::{
    ContainerInput, Ctx, GroupChange, GroupInput, NewKey, PrivilegeChange, RoleInput, UserKey,
};
use roster_core::store::Store;
use roster_core::user::{CreateUser, RoleGrant, User, UserDraft, UserQuery};
use roster_core::{CoreError, Roster, RosterConfig, Secret};
use roster_store::{SqliteOptions, SqliteStore};
use uuid::Uuid;

const ADMIN_KEY: &str = "core-ops-admin-key-0123456789abcdefghijkl";

struct World {
    _dir: tempfile::TempDir,
    roster: Roster,
    admin: Ctx,
    a: Uuid,
    b: Uuid,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let store =
            SqliteStore::open(&dir.path().join("ops.db"), SqliteOptions::default()).expect("store");
        let roster = Roster::new(
            Arc::new(store) as Arc<dyn Store>,
            RosterConfig {
                hash_cost: HashCost {
                    memory_kib: 64,
                    iterations: 1,
                    parallelism: 1,
                },
                hash_workers: 1,
                auth_cache_ttl: std::time::Duration::ZERO,
                login_rate_per_sec: 0,
                ..RosterConfig::default()
            },
        )
        .await
        .expect("roster");
        roster
            .bootstrap(Some(Secret::new(ADMIN_KEY)), None)
            .await
            .expect("bootstrap");
        let admin = ctx(&roster, ADMIN_KEY).await;
        let mut containers = Vec::new();
        for name in ["A", "B"] {
            let c = roster
                .create_container(
                    &admin,
                    ContainerInput {
                        name: name.into(),
                        description: String::new(),
                        parent_id: Some(ROOT_CONTAINER_ID),
                        seq: None,
                    },
                )
                .await
                .expect("container");
            containers.push(c.id);
        }
        World {
            _dir: dir,
            roster,
            admin,
            a: containers[0],
            b: containers[1],
        }
    }

    async fn role(&self, name: &str, privileges: &[&str]) -> Uuid {
        self.roster
            .create_role(
                &self.admin,
                RoleInput {
                    name: name.into(),
                    description: String::new(),
                    privileges: privileges.iter().map(|p| p.to_string()).collect(),
                    seq: None,
                },
            )
            .await
            .expect("role")
            .id
    }

    /// A user homed in `home` holding these (role, all objects, containers).
    async fn user(&self, name: &str, home: Uuid, grants: &[(Uuid, bool, Vec<Uuid>)]) -> User {
        self.roster
            .create_user(
                &self.admin,
                CreateUser {
                    profile: UserDraft {
                        username: name.into(),
                        email: Some("shared@example.com".into()),
                        active: true,
                        ..Default::default()
                    },
                    container_id: Some(home),
                    roles: grants
                        .iter()
                        .map(|(r, all, cs)| RoleGrant {
                            role: RoleRef::Id(*r),
                            all_objects: *all,
                            containers: cs.clone(),
                        })
                        .collect(),
                    ..Default::default()
                },
            )
            .await
            .expect("user")
            .user
    }

    /// A context acting with a new full key of `user`.
    async fn as_user(&self, user: &User) -> Ctx {
        let (_, secret) = self
            .roster
            .create_key(
                &self.admin,
                NewKey {
                    name: "k".into(),
                    user_id: Some(user.id),
                    role_id: None,
                    expires_at: None,
                },
            )
            .await
            .expect("key");
        ctx(&self.roster, secret.expose()).await
    }

    async fn group(&self, name: &str) -> Uuid {
        self.roster
            .create_group(
                &self.admin,
                GroupInput {
                    name: name.into(),
                    description: String::new(),
                    seq: None,
                    attributes: Default::default(),
                },
            )
            .await
            .expect("group")
            .id
    }

    async fn members(&self, group: Uuid) -> Vec<String> {
        let mut names: Vec<String> = self
            .roster
            .all_members(&self.admin, group)
            .await
            .expect("members")
            .into_iter()
            .map(|u| u.profile.username)
            .collect();
        names.sort();
        names
    }

    async fn version(&self, group: Uuid) -> i64 {
        self.roster
            .get_group(&self.admin, group)
            .await
            .expect("group")
            .version
    }

    async fn exists(&self, username: &str) -> bool {
        let q = UserQuery {
            username: Some(username.into()),
            ..Default::default()
        };
        !self
            .roster
            .list_users(&self.admin, q)
            .await
            .expect("list")
            .items
            .is_empty()
    }
}

async fn ctx(roster: &Roster, key: &str) -> Ctx {
    Ctx {
        who: roster.authenticate(key).await.expect("authenticates"),
        origin: Origin::default(),
    }
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, CoreError>) -> bool {
    matches!(r, Err(CoreError::NotFound(_)))
}

#[tokio::test]
async fn find_user_answers_within_reach_and_not_found_beyond() {
    let w = World::new().await;
    let reader = w.role("Reader", &["users.read"]).await;
    let alice = w.user("Alice", w.a, &[]).await;
    let bob = w.user("Bob", w.b, &[]).await;
    let watcher = w.user("watcher", w.b, &[(reader, false, vec![w.b])]).await;
    let plain = w.user("plain", w.a, &[]).await;
    let b_reader = w.as_user(&watcher).await;
    let r = &w.roster;

    // In reach: by every key, without case for names and emails.
    assert_eq!(
        r.find_user(&b_reader, UserKey::Username("BOB".into()))
            .await
            .unwrap()
            .id,
        bob.id
    );
    assert_eq!(
        r.find_user(&b_reader, UserKey::Id(bob.id))
            .await
            .unwrap()
            .id,
        bob.id
    );
    assert_eq!(
        r.find_user(&b_reader, UserKey::Seq(bob.seq))
            .await
            .unwrap()
            .id,
        bob.id
    );
    // Emails are shared: the lowest seq the caller may read.
    assert_eq!(
        r.find_user(&b_reader, UserKey::Email("SHARED@example.com".into()))
            .await
            .unwrap()
            .id,
        bob.id
    );
    assert_eq!(
        r.find_user(&w.admin, UserKey::Email("shared@EXAMPLE.com".into()))
            .await
            .unwrap()
            .id,
        alice.id
    );
    // Beyond reach reads as absent, whichever key names the user.
    for key in [
        UserKey::Username("alice".into()),
        UserKey::Id(alice.id),
        UserKey::Seq(alice.seq),
        UserKey::Username("nobody".into()),
        UserKey::Id(Uuid::now_v7()),
        UserKey::Email("nobody@example.com".into()),
    ] {
        assert!(
            is_not_found(r.find_user(&b_reader, key.clone()).await),
            "{key:?}"
        );
    }
    // Without users.read anywhere, a user still finds itself, only.
    let me = w.as_user(&plain).await;
    assert_eq!(
        r.find_user(&me, UserKey::Username("PLAIN".into()))
            .await
            .unwrap()
            .id,
        plain.id
    );
    assert_eq!(
        r.find_user(&me, UserKey::Seq(plain.seq)).await.unwrap().id,
        plain.id
    );
    assert_eq!(
        r.find_user(&me, UserKey::Id(plain.id)).await.unwrap().id,
        plain.id
    );
    assert!(is_not_found(
        r.find_user(&me, UserKey::Username("alice".into())).await
    ));
    assert!(is_not_found(r.find_user(&me, UserKey::Id(alice.id)).await));
}

#[tokio::test]
async fn service_users_are_created_with_their_key_or_not_at_all() {
    let w = World::new().await;
    let reader = w.role("Reader", &["users.read"]).await;
    let maker = w
        .role(
            "Maker",
            &["users.read", "users.write", "keys.manage", "roles.assign"],
        )
        .await;
    let m = w.user("maker", w.a, &[(maker, false, vec![w.a])]).await;
    let maker_ctx = w.as_user(&m).await;
    let r = &w.roster;
    let input = |name: &str, home: Uuid, role: Uuid, all: bool| CreateUser {
        profile: UserDraft {
            username: name.into(),
            active: true,
            ..Default::default()
        },
        container_id: Some(home),
        roles: vec![RoleGrant {
            role: RoleRef::Id(role),
            all_objects: all,
            containers: if all { vec![] } else { vec![home] },
        }],
        ..Default::default()
    };
    let key = |name: &str| NewKey {
        name: name.into(),
        user_id: None,
        role_id: None,
        expires_at: None,
    };

    let (user, info, secret) = r
        .create_service_user(&maker_ctx, input("svc", w.a, reader, false), key("svc key"))
        .await
        .expect("within the maker's reach");
    assert_eq!(info.user_id, user.id);
    let as_service = ctx(r, secret.expose()).await;
    assert_eq!(as_service.who.user_id, user.id);

    // Refusals, by either half's rules, leave no user behind.
    let admin_role = r.get_role(&w.admin, RoleRef::Seq(1)).await.unwrap().id;
    let refused = [
        // A role the maker may not confer.
        r.create_service_user(
            &maker_ctx,
            input("svc-admin", w.a, admin_role, true),
            key("k"),
        )
        .await,
        // A container beyond the maker.
        r.create_service_user(&maker_ctx, input("svc-b", w.b, reader, false), key("k"))
            .await,
        // The key's own rules.
        r.create_service_user(&maker_ctx, input("svc-noname", w.a, reader, false), key(""))
            .await,
        r.create_service_user(
            &maker_ctx,
            input("svc-norole", w.a, reader, false),
            NewKey {
                role_id: Some(Uuid::now_v7()),
                ..key("k")
            },
        )
        .await,
    ];
    for (i, outcome) in refused.into_iter().enumerate() {
        assert!(outcome.is_err(), "refusal {i}");
    }
    for name in ["svc-admin", "svc-b", "svc-noname", "svc-norole"] {
        assert!(!w.exists(name).await, "{name} was created");
    }
    // A username taken: a conflict, and no second key for anyone.
    let keys_before = r.list_keys(&w.admin, None, true).await.unwrap().len();
    let taken = r
        .create_service_user(&maker_ctx, input("SVC", w.a, reader, false), key("again"))
        .await;
    assert!(matches!(taken, Err(CoreError::Conflict(_))), "{taken:?}");
    assert_eq!(
        r.list_keys(&w.admin, None, true).await.unwrap().len(),
        keys_before
    );
}

#[tokio::test]
async fn group_members_change_in_one_idempotent_write() {
    let w = World::new().await;
    let alice = w.user("alice", w.a, &[]).await;
    let bob = w.user("bob", w.b, &[]).await;
    let carol = w.user("carol", w.a, &[]).await;
    let g = w.group("team").await;
    let r = &w.roster;
    let v0 = w.version(g).await;

    let after = r
        .change_group_members(&w.admin, g, vec![alice.id, bob.id, alice.id], vec![], None)
        .await
        .unwrap();
    assert_eq!(after.version, v0 + 1, "two joins, one version");
    assert_eq!(w.members(g).await, ["alice", "bob"]);
    // Adding a member and removing a non-member (or no user at all) is no change.
    let same = r
        .change_group_members(
            &w.admin,
            g,
            vec![alice.id],
            vec![carol.id, Uuid::now_v7()],
            None,
        )
        .await
        .unwrap();
    assert_eq!(same.version, v0 + 1);
    // A stale version is refused, even for no change; the current one works.
    let stale = r
        .change_group_members(&w.admin, g, vec![], vec![bob.id], Some(v0))
        .await;
    assert!(matches!(stale, Err(CoreError::PreconditionFailed)));
    let both = r
        .change_group_members(&w.admin, g, vec![carol.id], vec![carol.id], None)
        .await;
    assert!(matches!(both, Err(CoreError::Invalid(_))));
    // One missing user refuses the whole change.
    let missing = r
        .change_group_members(
            &w.admin,
            g,
            vec![carol.id, Uuid::now_v7()],
            vec![bob.id],
            None,
        )
        .await;
    assert!(is_not_found(missing));
    assert_eq!(w.members(g).await, ["alice", "bob"]);
    assert_eq!(w.version(g).await, v0 + 1);
    let swapped = r
        .change_group_members(&w.admin, g, vec![carol.id], vec![bob.id], Some(v0 + 1))
        .await
        .unwrap();
    assert_eq!(swapped.version, v0 + 2);
    assert_eq!(w.members(g).await, ["alice", "carol"]);
    // Exactly these.
    let set = r
        .set_group_members(&w.admin, g, vec![bob.id], Some(v0 + 2))
        .await
        .unwrap();
    assert_eq!(set.version, v0 + 3);
    assert_eq!(w.members(g).await, ["bob"]);
    let again = r
        .set_group_members(&w.admin, g, vec![bob.id], None)
        .await
        .unwrap();
    assert_eq!(again.version, v0 + 3);
}

#[tokio::test]
async fn a_limited_caller_changes_only_the_members_it_could_one_by_one() {
    let w = World::new().await;
    let groups = w.role("Grouper", &["groups.read", "groups.write"]).await;
    let reader = w.role("Reader", &["users.read"]).await;
    let alice = w.user("alice", w.a, &[]).await;
    let bob = w.user("bob", w.b, &[]).await;
    let grouper = w
        .user(
            "grouper",
            w.a,
            &[(groups, true, vec![]), (reader, false, vec![w.a])],
        )
        .await;
    let limited = w.as_user(&grouper).await;
    let g = w.group("team").await;
    let r = &w.roster;
    r.add_member(&w.admin, g, bob.id, None).await.unwrap();

    // Bob is beyond the caller: it cannot add him, as add_member cannot.
    let old_way = r
        .add_member(&limited, w.group("other").await, bob.id, None)
        .await;
    assert!(old_way.is_err());
    let v = w.version(g).await;
    assert!(
        r.change_group_members(&limited, g, vec![alice.id], vec![bob.id], None)
            .await
            .is_err()
    );
    assert!(
        r.set_group_members(&limited, g, vec![alice.id, bob.id], None)
            .await
            .is_err()
    );
    assert_eq!(w.members(g).await, ["bob"]);
    assert_eq!(w.version(g).await, v);
    // Setting the members it can see leaves those it cannot as they are.
    r.set_group_members(&limited, g, vec![alice.id], None)
        .await
        .unwrap();
    assert_eq!(w.members(g).await, ["alice", "bob"]);
    r.set_group_members(&limited, g, vec![], None)
        .await
        .unwrap();
    assert_eq!(w.members(g).await, ["bob"]);

    // A group holding power the caller lacks cannot be joined through it.
    let admins = w.group("admins").await;
    r.assign_role(
        &w.admin,
        roster_core::access::Holder::Group(admins),
        RoleRef::Seq(1),
        true,
        vec![],
    )
    .await
    .unwrap();
    let joined = r
        .change_group_members(&limited, admins, vec![alice.id], vec![], None)
        .await;
    assert!(matches!(joined, Err(CoreError::Forbidden)), "{joined:?}");
    assert!(w.members(admins).await.is_empty());
}

#[tokio::test]
async fn compound_updates_honour_if_match() {
    let w = World::new().await;
    let role = w.role("Reader", &["users.read"]).await;
    let g = w.group("team").await;
    let r = &w.roster;

    let current = r
        .get_role(&w.admin, RoleRef::Id(role))
        .await
        .unwrap()
        .version;
    let add = || PrivilegeChange::Add(vec!["groups.read".into()]);
    let stale = r
        .change_role_privileges(&w.admin, role, add(), Some(current + 1))
        .await;
    assert!(matches!(stale, Err(CoreError::PreconditionFailed)));
    let changed = r
        .change_role_privileges(&w.admin, role, add(), Some(current))
        .await
        .unwrap();
    assert_eq!(changed.version, current + 1);
    assert_eq!(changed.privileges.len(), 2);
    // Without If-Match, whatever the version is now.
    r.change_role_privileges(
        &w.admin,
        role,
        PrivilegeChange::Remove(vec!["groups.read".into()]),
        None,
    )
    .await
    .unwrap();

    let v = w.version(g).await;
    let rename = |name: &str| GroupChange {
        name: Some(name.into()),
        ..Default::default()
    };
    let stale = r
        .update_group_with(&w.admin, g, rename("renamed"), None, vec![], Some(v + 1))
        .await;
    assert!(matches!(stale, Err(CoreError::PreconditionFailed)));
    assert_eq!(r.get_group(&w.admin, g).await.unwrap().name, "team");
    let renamed = r
        .update_group_with(&w.admin, g, rename("renamed"), None, vec![], Some(v))
        .await
        .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("renamed", v + 1));
    r.update_group_with(&w.admin, g, rename("again"), None, vec![], None)
        .await
        .unwrap();
}

#[tokio::test]
async fn filters_are_checked_before_the_store_and_scoped_by_reach() {
    use roster_core::user_filter::{Cmp, FilterValue, UserField, UserFilter};
    let w = World::new().await;
    let reader = w.role("Reader", &["users.read"]).await;
    w.user("alice", w.a, &[]).await;
    w.user("bob", w.b, &[]).await;
    let watcher = w.user("watcher", w.b, &[(reader, false, vec![w.b])]).await;
    let b_reader = w.as_user(&watcher).await;
    let query = |f: UserFilter| UserQuery {
        filter: Some(f),
        ..Default::default()
    };
    let bad = UserFilter::Compare(UserField::Active, Cmp::Gt, FilterValue::Text("x".into()));
    match w.roster.list_users(&w.admin, query(bad)).await {
        Err(CoreError::Invalid(errors)) => {
            assert_eq!(
                (errors[0].field.as_str(), errors[0].rule),
                ("filter", "value_type")
            );
        }
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("accepted"),
    }
    let named =
        |n: &str| UserFilter::Compare(UserField::Username, Cmp::Sw, FilterValue::Text(n.into()));
    let either = UserFilter::Or(vec![named("ALI"), named("bo")]);
    let seen: Vec<String> = w
        .roster
        .all_users(&b_reader, query(either.clone()))
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.profile.username)
        .collect();
    assert_eq!(seen, ["bob"]);
    let (page, total) = w
        .roster
        .list_users_counted(&w.admin, query(either))
        .await
        .unwrap();
    assert_eq!((page.len(), total), (2, 2));
}
