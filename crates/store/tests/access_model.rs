//! A model-based test of the access rule (docs/ACCESS_MODEL.md), run
//! against the real core and the real SQLite store.
//!
//! Each case builds a small world — containers, roles, groups, users with
//! mixed powers, full and restricted API keys — then lets random actors run
//! a random sequence of the operations that change who can do what (the
//! core calls every face uses). After every step it checks:
//!
//! 1. no holder gained a privilege over a place unless the acting
//!    credential itself held it there before the step;
//! 2. no holder lost one unless the actor held it there (taking away needs
//!    the power to have given);
//! 3. nobody changed the credentials, profile or keys of a user holding
//!    something the actor did not hold;
//! 4. a key minted by an actor can do nothing the actor could not.
//!
//! `ROSTER_MODEL_CASES` sets the number of sequences (default 10,000),
//! shared by two runners that run side by side.
//! Failures are shrunk and saved by proptest under `proptest-regressions/`,
//! which is committed so they run first forever after.

use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use roster_core::access::{GroupRef, Holder, ROOT_CONTAINER_ID, RoleRef};
use roster_core::audit::Origin;
use roster_core::auth::{CredentialKind, Principal};
use roster_core::authz::{self, Privilege, Target};
use roster_core::password::HashCost;
use roster_core::service::{
    AccessChange, ContainerChange, ContainerInput, Ctx, GroupChange, GroupInput, NewKey, RoleInput,
    UserChange,
};
use roster_core::store::{AccessStore, Store};
use roster_core::user::{CreateUser, Patch, RoleGrant, UserDraft, UserPatch, UserRules};
use roster_core::{Roster, RosterConfig, Secret};
use roster_store::sqlite::Synchronous;
use roster_store::{SqliteOptions, SqliteStore};
use uuid::Uuid;

const ADMIN_KEY: &str = "model-admin-key-0123456789abcdefghijklmnop";

/// Scopes an operation may name: all objects, or some containers (indices
/// into `World::containers`: Root, A, A1 under A, B).
const SCOPES: &[(bool, &[usize])] = &[
    (true, &[]),
    (false, &[0]),
    (false, &[1]),
    (false, &[2]),
    (false, &[3]),
    (false, &[1, 3]),
];

#[derive(Debug, Clone)]
enum Op {
    Assign {
        actor: usize,
        holder: usize,
        role: usize,
        scope: usize,
    },
    Unassign {
        actor: usize,
        holder: usize,
        pick: usize,
    },
    SetUserRoles {
        actor: usize,
        user: usize,
        grants: Vec<(usize, usize)>,
    },
    AddMember {
        actor: usize,
        group: usize,
        user: usize,
    },
    RemoveMember {
        actor: usize,
        group: usize,
        user: usize,
    },
    EditRole {
        actor: usize,
        role: usize,
        privileges: u16,
    },
    SetContainerUsers {
        actor: usize,
        container: usize,
        users: u8,
    },
    MintKey {
        actor: usize,
        owner: Option<usize>,
        role: Option<usize>,
    },
    SetPassword {
        actor: usize,
        user: usize,
    },
    ResetMfa {
        actor: usize,
        user: usize,
    },
    Unlock {
        actor: usize,
        user: usize,
    },
    Update {
        actor: usize,
        user: usize,
        how: usize,
    },
    CreateUser {
        actor: usize,
        groups: u8,
        grant: Option<(usize, usize)>,
    },
    /// A dialect's update: profile, a role and a group in one request.
    UpdateWithAccess {
        actor: usize,
        user: usize,
        grant: Option<(usize, usize)>,
        group: Option<usize>,
    },
    /// Moves a container (A, A1 or B) under another.
    MoveContainer {
        actor: usize,
        container: usize,
        parent: usize,
    },
    /// SCIM's group PATCH: members added and removed in one request.
    ChangeMembers {
        actor: usize,
        group: usize,
        add: u8,
        remove: u8,
    },
    /// SCIM's group PUT: exactly these members.
    SetMembers {
        actor: usize,
        group: usize,
        members: u8,
    },
    /// An API-only user: a user and its key in one request.
    ServiceUser {
        actor: usize,
        groups: u8,
        grant: Option<(usize, usize)>,
        role: Option<usize>,
    },
    /// Aria's group update: members and permissions in one request.
    GroupWith {
        actor: usize,
        group: usize,
        members: u8,
        grant: Option<(usize, usize)>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let i = || 0usize..64;
    prop_oneof![
        3 => (i(), i(), i(), i()).prop_map(|(actor, holder, role, scope)| Op::Assign { actor, holder, role, scope }),
        1 => (i(), i(), i()).prop_map(|(actor, holder, pick)| Op::Unassign { actor, holder, pick }),
        1 => (i(), i(), prop::collection::vec((i(), i()), 0..3))
            .prop_map(|(actor, user, grants)| Op::SetUserRoles { actor, user, grants }),
        2 => (i(), i(), i()).prop_map(|(actor, group, user)| Op::AddMember { actor, group, user }),
        1 => (i(), i(), i()).prop_map(|(actor, group, user)| Op::RemoveMember { actor, group, user }),
        2 => (i(), i(), any::<u16>()).prop_map(|(actor, role, privileges)| Op::EditRole { actor, role, privileges }),
        1 => (i(), i(), any::<u8>()).prop_map(|(actor, container, users)| Op::SetContainerUsers { actor, container, users }),
        2 => (i(), prop::option::of(i()), prop::option::of(i()))
            .prop_map(|(actor, owner, role)| Op::MintKey { actor, owner, role }),
        1 => (i(), i()).prop_map(|(actor, user)| Op::SetPassword { actor, user }),
        1 => (i(), i()).prop_map(|(actor, user)| Op::ResetMfa { actor, user }),
        1 => (i(), i()).prop_map(|(actor, user)| Op::Unlock { actor, user }),
        1 => (i(), i(), i()).prop_map(|(actor, user, how)| Op::Update { actor, user, how }),
        1 => (i(), i(), prop::option::of((i(), i())), prop::option::of(i()))
            .prop_map(|(actor, user, grant, group)| Op::UpdateWithAccess { actor, user, grant, group }),
        1 => (i(), i(), any::<u8>(), prop::option::of((i(), i())))
            .prop_map(|(actor, group, members, grant)| Op::GroupWith { actor, group, members, grant }),
        1 => (i(), i(), i()).prop_map(|(actor, container, parent)| Op::MoveContainer { actor, container, parent }),
        1 => (i(), any::<u8>(), prop::option::of((i(), i())))
            .prop_map(|(actor, groups, grant)| Op::CreateUser { actor, groups, grant }),
        1 => (i(), i(), any::<u8>(), any::<u8>())
            .prop_map(|(actor, group, add, remove)| Op::ChangeMembers { actor, group, add, remove }),
        1 => (i(), i(), any::<u8>()).prop_map(|(actor, group, members)| Op::SetMembers { actor, group, members }),
        1 => (i(), any::<u8>(), prop::option::of((i(), i())), prop::option::of(i()))
            .prop_map(|(actor, groups, grant, role)| Op::ServiceUser { actor, groups, grant, role }),
    ]
}

/// The ids of a built world, the same in every copy of it.
#[derive(Clone)]
struct Layout {
    containers: Vec<Uuid>,
    /// Each container's ancestor chain (the tree does not change here).
    chains: Vec<Vec<Uuid>>,
    roles: Vec<Uuid>,
    /// Roles that may be edited (not built in).
    custom_roles: Vec<Uuid>,
    groups: Vec<Uuid>,
    users: Vec<Uuid>,
    /// API key secrets; each is an actor.
    actors: Vec<String>,
}

struct World {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    roster: Roster,
    l: Layout,
}

/// The world is built once through the core, then every case starts from
/// a copy of its database file: building it each time would cost more than
/// the case.
struct Template {
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
    layout: Layout,
}

fn origin() -> Origin {
    Origin {
        request_id: None,
        source: Some("10.9.8.7".into()),
    }
}

fn builtin(seq: i64) -> RoleRef {
    RoleRef::Seq(seq)
}

impl World {
    /// Opens (a copy of) a world's database.
    async fn open(file: Option<&std::path::Path>, layout: Layout) -> World {
        // In memory where the machine has it: the cases are many and short.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        let path = dir.path().join("model.db");
        if let Some(file) = file {
            std::fs::copy(file, &path).expect("copy of the template");
        }
        let store = Arc::new(
            SqliteStore::open(
                &path,
                SqliteOptions {
                    synchronous: Synchronous::Normal,
                    readers: 2,
                },
            )
            .expect("store"),
        );
        let roster = Roster::new(
            store.clone() as Arc<dyn Store>,
            RosterConfig {
                hash_cost: HashCost {
                    memory_kib: 64,
                    iterations: 1,
                    parallelism: 1,
                },
                hash_workers: 1,
                hash_queue: 64,
                auth_cache_ttl: std::time::Duration::ZERO,
                login_rate_per_sec: 0,
                ..RosterConfig::default()
            },
        )
        .await
        .expect("roster");
        World {
            _dir: dir,
            store,
            roster,
            l: layout,
        }
    }

    async fn template() -> Template {
        let empty = Layout {
            containers: vec![ROOT_CONTAINER_ID],
            chains: Vec::new(),
            roles: Vec::new(),
            custom_roles: Vec::new(),
            groups: Vec::new(),
            users: Vec::new(),
            actors: vec![ADMIN_KEY.to_string()],
        };
        let mut w = World::open(None, empty).await;
        w.roster
            .bootstrap(Some(Secret::new(ADMIN_KEY)), None)
            .await
            .expect("bootstrap");
        let admin = Ctx {
            who: w.roster.authenticate(ADMIN_KEY).await.expect("admin key"),
            origin: origin(),
        };
        w.l.users.push(admin.who.user_id);
        for (name, parent) in [("A", 0), ("A1", 1), ("B", 0)] {
            let c = w
                .roster
                .create_container(
                    &admin,
                    ContainerInput {
                        name: name.into(),
                        description: String::new(),
                        parent_id: Some(w.l.containers[parent]),
                        seq: None,
                    },
                )
                .await
                .expect("container");
            w.l.containers.push(c.id);
        }
        for c in &w.l.containers {
            w.l.chains
                .push(w.store.container_chain(*c).await.expect("chain"));
        }
        for (name, privileges) in [
            (
                "Assigner",
                vec![
                    "roles.assign",
                    "users.read",
                    "users.write",
                    "groups.read",
                    "groups.write",
                    "keys.manage",
                ],
            ),
            (
                "Editor",
                vec!["roles.write", "roles.read", "users.read", "roles.assign"],
            ),
            ("Reader", vec!["users.read"]),
            (
                "Structurer",
                vec!["containers.write", "containers.read", "users.credentials"],
            ),
            ("Builder", vec!["containers.write", "containers.read"]),
        ] {
            let r = w
                .roster
                .create_role(
                    &admin,
                    RoleInput {
                        name: name.into(),
                        description: String::new(),
                        privileges: privileges.into_iter().map(String::from).collect(),
                        seq: None,
                    },
                )
                .await
                .expect("role");
            w.l.custom_roles.push(r.id);
        }
        for seq in [1, 4, 6, 13] {
            w.l.roles.push(
                w.roster
                    .get_role(&admin, builtin(seq))
                    .await
                    .expect("builtin")
                    .id,
            );
        }
        w.l.roles.extend(w.l.custom_roles.clone());
        // roles: 0 Administrator, 1 Manager, 2 PowerUser, 3 ReadOnly,
        //        4 Assigner, 5 Editor, 6 Reader, 7 Structurer, 8 Builder
        for name in ["admins", "managers", "plain"] {
            let g = w
                .roster
                .create_group(
                    &admin,
                    GroupInput {
                        name: name.into(),
                        description: String::new(),
                        seq: None,
                        attributes: Default::default(),
                    },
                )
                .await
                .expect("group");
            w.l.groups.push(g.id);
        }
        let (admins, managers) = (w.l.groups[0], w.l.groups[1]);
        w.roster
            .assign_role(
                &admin,
                Holder::Group(admins),
                RoleRef::Id(w.l.roles[0]),
                true,
                vec![],
            )
            .await
            .expect("admins group");
        w.roster
            .assign_role(
                &admin,
                Holder::Group(managers),
                RoleRef::Id(w.l.roles[1]),
                false,
                vec![w.l.containers[1]],
            )
            .await
            .expect("managers group");
        // Users: (home, grants as (role, scope index)).
        let people: &[(usize, &[(usize, usize)])] = &[
            (1, &[(1, 2), (4, 2)]), // manager + assigner over A
            (0, &[(2, 0)]),         // power user everywhere
            (3, &[(5, 0), (6, 4)]), // role editor; reader over B
            (2, &[]),               // nobody, in A1
            (1, &[(0, 0)]),         // an administrator who lives in A
            (3, &[(4, 4), (3, 0)]), // assigner over B, reads everything
            (3, &[(7, 2), (8, 4)]), // restructures A (with credentials) and B
        ];
        for (i, (home, grants)) in people.iter().enumerate() {
            let u = w
                .roster
                .create_user(
                    &admin,
                    CreateUser {
                        profile: UserDraft {
                            username: format!("user{i}"),
                            active: true,
                            ..Default::default()
                        },
                        container_id: Some(w.l.containers[*home]),
                        roles: grants.iter().map(|(r, s)| w.grant(*r, *s)).collect(),
                        ..Default::default()
                    },
                )
                .await
                .expect("user")
                .user;
            w.l.users.push(u.id);
            let (_, secret) = w
                .roster
                .create_key(
                    &admin,
                    NewKey {
                        name: "full".into(),
                        user_id: Some(u.id),
                        role_id: None,
                        expires_at: None,
                    },
                )
                .await
                .expect("key");
            w.l.actors.push(secret.expose().to_string());
        }
        // Restricted keys: admin as ReadOnly, the manager as Reader, the
        // power user as Manager.
        for (owner, role) in [(0, 3), (1, 6), (2, 1)] {
            let (_, secret) = w
                .roster
                .create_key(
                    &admin,
                    NewKey {
                        name: "restricted".into(),
                        user_id: Some(w.l.users[owner]),
                        role_id: Some(w.l.roles[role]),
                        expires_at: None,
                    },
                )
                .await
                .expect("restricted key");
            w.l.actors.push(secret.expose().to_string());
        }
        w.roster
            .add_member(&admin, w.l.groups[1], w.l.users[4], None)
            .await
            .expect("member");
        // One self-contained file, whatever is still in the WAL.
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("template.db");
        let conn = rusqlite::Connection::open(w.store.path()).expect("template");
        conn.execute("VACUUM INTO ?1", [file.to_string_lossy()])
            .expect("vacuum into");
        Template {
            _dir: dir,
            file,
            layout: w.l,
        }
    }

    fn grant(&self, role: usize, scope: usize) -> RoleGrant {
        let (all, cs) = SCOPES[scope % SCOPES.len()];
        RoleGrant {
            role: RoleRef::Id(self.l.roles[role % self.l.roles.len()]),
            all_objects: all,
            containers: cs.iter().map(|c| self.l.containers[*c]).collect(),
        }
    }

    fn user(&self, i: usize) -> Uuid {
        self.l.users[i % self.l.users.len()]
    }

    /// The principal a user's grants make, unrestricted.
    async fn holder(&self, user: Uuid) -> Principal {
        Principal {
            user_id: user,
            username: String::new(),
            container_id: ROOT_CONTAINER_ID,
            grants: self.store.grants_of(user).await.expect("grants"),
            restriction: None,
            enroll_only: false,
            credential: CredentialKind::Token {
                token_id: Uuid::nil(),
            },
        }
    }

    /// Everything `who` may do, as (privilege, place) pairs over the
    /// world's finite places: every container, and "global" (None).
    fn power(&self, who: &Principal) -> BTreeSet<(Privilege, Option<Uuid>)> {
        let mut out = BTreeSet::new();
        for p in Privilege::ALL {
            if authz::authorize(who, p, Target::Global).is_ok() {
                out.insert((p, None));
            }
            for (c, chain) in self.l.containers.iter().zip(&self.l.chains) {
                if authz::authorize(who, p, Target::In(chain)).is_ok() {
                    out.insert((p, Some(*c)));
                }
            }
        }
        out
    }

    async fn powers(&self) -> Vec<(Uuid, BTreeSet<(Privilege, Option<Uuid>)>)> {
        let mut out = Vec::new();
        for u in &self.l.users {
            let p = self.holder(*u).await;
            out.push((*u, self.power(&p)));
        }
        out
    }

    /// Runs one operation as `ctx`. Returns the user whose credentials or
    /// profile it changed, and any key it minted.
    async fn apply(&mut self, ctx: &Ctx, op: &Op) -> Result<Effect, ()> {
        let r = &self.roster;
        match op {
            Op::Assign {
                holder,
                role,
                scope,
                ..
            } => {
                let g = self.grant(*role, *scope);
                let holder = self.holder_ref(*holder);
                ok(
                    r.assign_role(ctx, holder, g.role, g.all_objects, g.containers)
                        .await,
                )?;
                Ok(Effect::Grants)
            }
            Op::Unassign { holder, pick, .. } => {
                let holder = self.holder_ref(*holder);
                let list = self
                    .store
                    .assignments_of(holder)
                    .await
                    .expect("assignments");
                if list.is_empty() {
                    return Err(());
                }
                let a = &list[pick % list.len()];
                ok(r.unassign_role(ctx, holder, a.id).await)?;
                Ok(Effect::Grants)
            }
            Op::SetUserRoles { user, grants, .. } => {
                let grants = grants.iter().map(|(r, s)| self.grant(*r, *s)).collect();
                ok(r.set_user_roles(ctx, self.user(*user), grants).await)?;
                Ok(Effect::Grants)
            }
            Op::AddMember { group, user, .. } => {
                let g = self.l.groups[group % self.l.groups.len()];
                ok(r.add_member(ctx, g, self.user(*user), None).await)?;
                Ok(Effect::Grants)
            }
            Op::RemoveMember { group, user, .. } => {
                let g = self.l.groups[group % self.l.groups.len()];
                // One of its members, so that removals are tried at all.
                let members = self.store.members(g, 0, 100).await.expect("members");
                if members.is_empty() {
                    return Err(());
                }
                let u = members[user % members.len()].id;
                ok(r.remove_member(ctx, g, u).await)?;
                Ok(Effect::Grants)
            }
            Op::EditRole {
                role, privileges, ..
            } => {
                let id = self.l.custom_roles[role % self.l.custom_roles.len()];
                let current = self
                    .store
                    .role(RoleRef::Id(id))
                    .await
                    .expect("role")
                    .expect("exists");
                let chosen = Privilege::ALL
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| privileges & (1 << i) != 0)
                    .map(|(_, p)| p.as_str().to_string())
                    .collect();
                let input = RoleInput {
                    name: current.name,
                    description: current.description,
                    privileges: chosen,
                    seq: None,
                };
                ok(r.update_role(ctx, id, input, None).await)?;
                Ok(Effect::Grants)
            }
            Op::SetContainerUsers {
                container, users, ..
            } => {
                let c = self.l.containers[container % self.l.containers.len()];
                let listed = (0..8)
                    .filter(|i| users & (1 << i) != 0)
                    .map(|i| self.user(i))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                ok(r.set_container_users(ctx, c, listed).await)?;
                Ok(Effect::Grants)
            }
            Op::MintKey { owner, role, .. } => {
                let input = NewKey {
                    name: "minted".into(),
                    user_id: owner.map(|o| self.user(o)),
                    role_id: role.map(|x| self.l.roles[x % self.l.roles.len()]),
                    expires_at: None,
                };
                let (info, secret) = ok(r.create_key(ctx, input).await)?;
                self.l.actors.push(secret.expose().to_string());
                Ok(Effect::Key(info.user_id, secret.expose().to_string()))
            }
            Op::SetPassword { user, .. } => {
                let u = self.user(*user);
                ok(r.set_password(ctx, u, &Secret::new("Model-Passw0rd-xyz"))
                    .await)?;
                Ok(Effect::Touched(u))
            }
            Op::ResetMfa { user, .. } => {
                let u = self.user(*user);
                ok(r.reset_totp(ctx, u).await)?;
                Ok(Effect::Touched(u))
            }
            Op::Unlock { user, .. } => {
                let u = self.user(*user);
                ok(r.unlock(ctx, u).await)?;
                Ok(Effect::Touched(u))
            }
            Op::Update { user, how, .. } => {
                let u = self.user(*user);
                let mut patch = UserPatch::default();
                let mut move_to = None;
                match how % 3 {
                    0 => patch.display_name = Patch::Set("changed".into()),
                    1 => patch.active = Patch::Set(false),
                    _ => move_to = Some(self.l.containers[how % self.l.containers.len()]),
                }
                ok(r.update_user(ctx, u, patch, move_to, None).await)?;
                Ok(Effect::Touched(u))
            }
            Op::UpdateWithAccess {
                user, grant, group, ..
            } => {
                let u = self.user(*user);
                let access = AccessChange {
                    assign: grant.iter().map(|(r, s)| self.grant(*r, *s)).collect(),
                    join: group
                        .iter()
                        .map(|g| GroupRef::Id(self.l.groups[g % self.l.groups.len()]))
                        .collect(),
                    ..Default::default()
                };
                let change = UserChange {
                    patch: UserPatch {
                        display_name: Patch::Set("compound".into()),
                        ..Default::default()
                    },
                    move_to: None,
                    if_match: None,
                    rules: &UserRules::default(),
                };
                ok(r.update_user_and_access(ctx, u, change, access).await)?;
                Ok(Effect::Touched(u))
            }
            Op::GroupWith {
                group,
                members,
                grant,
                ..
            } => {
                let g = self.l.groups[group % self.l.groups.len()];
                let members = (0..8)
                    .filter(|i| members & (1 << i) != 0)
                    .map(|i| self.user(i))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let grants = grant.iter().map(|(r, s)| self.grant(*r, *s)).collect();
                ok(r.update_group_with(
                    ctx,
                    g,
                    GroupChange::default(),
                    Some(members),
                    grants,
                    None,
                )
                .await)?;
                Ok(Effect::Grants)
            }
            Op::ChangeMembers {
                group, add, remove, ..
            } => {
                let g = self.l.groups[group % self.l.groups.len()];
                let add = self.users_in(*add);
                let remove = self
                    .users_in(*remove)
                    .into_iter()
                    .filter(|u| !add.contains(u))
                    .collect();
                ok(r.change_group_members(ctx, g, add, remove, None).await)?;
                Ok(Effect::Grants)
            }
            Op::SetMembers { group, members, .. } => {
                let g = self.l.groups[group % self.l.groups.len()];
                let members = self.users_in(*members);
                ok(r.set_group_members(ctx, g, members, None).await)?;
                Ok(Effect::Grants)
            }
            Op::ServiceUser {
                groups,
                grant,
                role,
                ..
            } => {
                let n = self.l.users.len();
                let input = CreateUser {
                    profile: UserDraft {
                        username: format!("service{n}"),
                        active: true,
                        ..Default::default()
                    },
                    groups: (0..self.l.groups.len())
                        .filter(|i| groups & (1 << i) != 0)
                        .map(|i| GroupRef::Id(self.l.groups[i]))
                        .collect(),
                    roles: grant.iter().map(|(r, s)| self.grant(*r, *s)).collect(),
                    ..Default::default()
                };
                let key = NewKey {
                    name: "service".into(),
                    user_id: None,
                    role_id: role.map(|x| self.l.roles[x % self.l.roles.len()]),
                    expires_at: None,
                };
                let (user, info, secret) = ok(r.create_service_user(ctx, input, key).await)?;
                assert_eq!(info.user_id, user.id);
                self.l.users.push(user.id);
                self.l.actors.push(secret.expose().to_string());
                Ok(Effect::Key(user.id, secret.expose().to_string()))
            }
            Op::MoveContainer {
                container, parent, ..
            } => {
                let c = self.l.containers[1 + container % (self.l.containers.len() - 1)];
                let p = self.l.containers[parent % self.l.containers.len()];
                ok(r.update_container(
                    ctx,
                    c,
                    ContainerChange {
                        parent_id: Some(p),
                        ..Default::default()
                    },
                    None,
                )
                .await)?;
                // The tree changed: every place's ancestors are read again.
                let mut chains = Vec::new();
                for c in &self.l.containers {
                    chains.push(self.store.container_chain(*c).await.expect("chain"));
                }
                self.l.chains = chains;
                Ok(Effect::Grants)
            }
            Op::CreateUser { groups, grant, .. } => {
                let n = self.l.users.len();
                let input = CreateUser {
                    profile: UserDraft {
                        username: format!("new{n}"),
                        active: true,
                        ..Default::default()
                    },
                    groups: (0..self.l.groups.len())
                        .filter(|i| groups & (1 << i) != 0)
                        .map(|i| GroupRef::Id(self.l.groups[i]))
                        .collect(),
                    roles: grant.iter().map(|(r, s)| self.grant(*r, *s)).collect(),
                    ..Default::default()
                };
                let created = ok(r.create_user(ctx, input).await)?;
                self.l.users.push(created.user.id);
                Ok(Effect::Grants)
            }
        }
    }

    /// The first eight users, chosen by the bits of `bits`.
    fn users_in(&self, bits: u8) -> Vec<Uuid> {
        (0..8)
            .filter(|i| bits & (1 << i) != 0)
            .map(|i| self.user(i))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    fn holder_ref(&self, i: usize) -> Holder {
        // Users and groups share the index space.
        let n = self.l.users.len() + self.l.groups.len();
        let i = i % n;
        if i < self.l.users.len() {
            Holder::User(self.l.users[i])
        } else {
            Holder::Group(self.l.groups[i - self.l.users.len()])
        }
    }
}

/// How often each operation was allowed and refused, to show that the
/// sequences explore both sides of the rule.
static STATS: std::sync::Mutex<std::collections::BTreeMap<(String, bool), u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Refusals are expected; only what succeeded is checked.
fn ok<T>(r: Result<T, roster_core::CoreError>) -> Result<T, ()> {
    r.map_err(drop)
}

enum Effect {
    Grants,
    Touched(Uuid),
    Key(Uuid, String),
}

fn actor_of(op: &Op) -> usize {
    match op {
        Op::Assign { actor, .. }
        | Op::Unassign { actor, .. }
        | Op::SetUserRoles { actor, .. }
        | Op::AddMember { actor, .. }
        | Op::RemoveMember { actor, .. }
        | Op::EditRole { actor, .. }
        | Op::SetContainerUsers { actor, .. }
        | Op::MintKey { actor, .. }
        | Op::SetPassword { actor, .. }
        | Op::ResetMfa { actor, .. }
        | Op::Unlock { actor, .. }
        | Op::Update { actor, .. }
        | Op::CreateUser { actor, .. }
        | Op::UpdateWithAccess { actor, .. }
        | Op::GroupWith { actor, .. }
        | Op::ChangeMembers { actor, .. }
        | Op::SetMembers { actor, .. }
        | Op::ServiceUser { actor, .. }
        | Op::MoveContainer { actor, .. } => *actor,
    }
}

async fn run(template: &Template, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut w = World::open(Some(&template.file), template.layout.clone()).await;
    for (step, op) in ops.iter().enumerate() {
        let secret = w.l.actors[actor_of(op) % w.l.actors.len()].clone();
        // A disabled or deleted owner's key no longer authenticates.
        let Ok(who) = w.roster.authenticate(&secret).await else {
            continue;
        };
        let actor_power = w.power(&who);
        let before = w.powers().await;
        let ctx = Ctx {
            who,
            origin: origin(),
        };
        let kind = format!("{op:?}");
        let kind = kind
            .split([' ', '{'])
            .next()
            .unwrap_or_default()
            .to_string();
        let outcome = w.apply(&ctx, op).await;
        *STATS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((kind, outcome.is_ok()))
            .or_default() += 1;
        let Ok(effect) = outcome else {
            continue;
        };
        let after = w.powers().await;
        let held = |p: &(Privilege, Option<Uuid>)| actor_power.contains(p);
        for (user, now) in &after {
            let was = before
                .iter()
                .find(|(u, _)| u == user)
                .map(|(_, s)| s.clone())
                .unwrap_or_default();
            for gained in now.difference(&was) {
                prop_assert!(
                    held(gained),
                    "step {step} {op:?}: user {user} gained {gained:?}, which the actor did not hold"
                );
            }
            for lost in was.difference(now) {
                prop_assert!(
                    held(lost),
                    "step {step} {op:?}: user {user} lost {lost:?}, which the actor could not have given"
                );
            }
        }
        match effect {
            Effect::Grants => {}
            Effect::Touched(target) => {
                if target != ctx.who.user_id || !ctx.who.is_full_credential() {
                    let theirs = &before.iter().find(|(u, _)| *u == target).expect("known").1;
                    let above: Vec<_> = theirs.difference(&actor_power).collect();
                    prop_assert!(
                        above.is_empty(),
                        "step {step} {op:?}: changed user {target} who holds {above:?} beyond the actor"
                    );
                }
            }
            Effect::Key(owner, secret) => {
                // A key minted for a disabled user does nothing at all.
                let Ok(key) = w.roster.authenticate(&secret).await else {
                    continue;
                };
                let power = w.power(&key);
                let beyond: Vec<_> = power.difference(&actor_power).collect();
                prop_assert!(
                    beyond.is_empty(),
                    "step {step} {op:?}: key for {owner} can do {beyond:?} beyond its minter"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn no_one_gains_power_they_were_not_given_by_someone_who_holds_it() {
    model(0);
}

/// The same property, a second runner with its own random seed and half of
/// the cases: one case runs on about one core, and the harness runs the two
/// tests side by side (halving this suite's time on CI's two cores).
#[test]
fn no_one_gains_power_they_were_not_given_second_runner() {
    model(1);
}

/// Runs runner `half` (0 or 1) of the `ROSTER_MODEL_CASES` sequences.
fn model(half: u32) {
    let total: u32 = std::env::var("ROSTER_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let cases = total / 2 + if half == 0 { total % 2 } else { 0 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        source_file: Some(file!()),
        ..Config::default()
    });
    let template = rt.block_on(World::template());
    let result = runner.run(&prop::collection::vec(op(), 1..10), |ops| {
        rt.block_on(run(&template, ops))
    });
    for ((kind, allowed), n) in STATS.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        eprintln!(
            "{kind:>18} {:>8} {n}",
            if *allowed { "allowed" } else { "refused" }
        );
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}
