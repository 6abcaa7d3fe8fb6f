//! The user filter contract (see `roster_core::user_filter`), on every
//! backend, and [`matches`]: an in-memory evaluator that states the same
//! contract as plain Rust, checked against SQLite on random trees.

use std::sync::Arc;

use roster_core::access::ROOT_CONTAINER_ID;
use roster_core::store::Store;
use roster_core::user::{
    Inserted, NewUserAccess, NewUserRecord, User, UserDraft, UserQuery, UserSort,
};
use roster_core::user_filter::{Cmp, FilterValue, UserField, UserFilter};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::event;

/// The spec: whether `f` matches `u`.
pub fn matches(u: &User, f: &UserFilter) -> bool {
    match f {
        UserFilter::All => true,
        UserFilter::Nothing => false,
        UserFilter::Present(field) => present(u, field),
        UserFilter::And(items) => items.iter().all(|f| matches(u, f)),
        UserFilter::Or(items) => items.iter().any(|f| matches(u, f)),
        UserFilter::Not(inner) => !matches(u, inner),
        UserFilter::Compare(field, cmp, FilterValue::Null) => match cmp {
            Cmp::Ne => present(u, field),
            _ => !present(u, field),
        },
        UserFilter::Compare(field, Cmp::Ne, value) => !compare(u, field, Cmp::Eq, value),
        UserFilter::Compare(field, cmp, value) => compare(u, field, *cmp, value),
    }
}

/// A field's value, as comparisons see it.
enum Got {
    Text(String),
    Int(i64),
    Bool(bool),
    Time(OffsetDateTime),
    Uuid(Uuid),
    Json(Value),
}

fn get(u: &User, field: &UserField) -> Option<Got> {
    use UserField::*;
    let p = &u.profile;
    let text = |t: &Option<String>| t.clone().map(Got::Text);
    match field {
        Id => Some(Got::Uuid(u.id)),
        ContainerId => Some(Got::Uuid(u.container_id)),
        Seq => Some(Got::Int(u.seq)),
        SecurityLevel => p.security_level.map(Got::Int),
        Username => Some(Got::Text(p.username.clone())),
        Email => text(&p.email),
        FirstName => text(&p.first_name),
        LastName => text(&p.last_name),
        DisplayName => text(&p.display_name),
        Phone => text(&p.phone),
        JobTitle => text(&p.job_title),
        Timezone => text(&p.timezone),
        Locale => text(&p.locale),
        ExternalId => text(&p.external_id),
        DistinguishedName => text(&p.distinguished_name),
        Active => Some(Got::Bool(p.active)),
        MfaRequired => Some(Got::Bool(p.mfa_required)),
        SamlSsoOnly => Some(Got::Bool(p.saml_sso_only)),
        EmailVerified => Some(Got::Bool(u.email_verified)),
        CreatedAt => Some(Got::Time(u.created_at)),
        UpdatedAt => Some(Got::Time(u.updated_at)),
        LastLoginAt => u.last_login_at.map(Got::Time),
        Attribute(key) => p.attributes.get(key).cloned().map(Got::Json),
    }
}

/// Present: there, not null, and not empty text.
fn present(u: &User, field: &UserField) -> bool {
    match get(u, field) {
        None | Some(Got::Json(Value::Null)) => false,
        Some(Got::Text(t)) => !t.is_empty(),
        Some(Got::Json(Value::String(t))) => !t.is_empty(),
        Some(_) => true,
    }
}

/// How a text field folds case: usernames and emails by their keys
/// (full lower-casing), other case-insensitive fields ASCII only.
fn fold(field: &UserField, t: &str) -> String {
    match field {
        UserField::Username | UserField::Email => t.to_lowercase(),
        f if f.case_exact() => t.to_owned(),
        _ => t.to_ascii_lowercase(),
    }
}

fn micros(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1000
}

fn compare(u: &User, field: &UserField, cmp: Cmp, value: &FilterValue) -> bool {
    use std::cmp::Ordering;
    let Some(got) = get(u, field) else {
        return false;
    };
    let order = |o: Ordering| match cmp {
        Cmp::Eq => o == Ordering::Equal,
        Cmp::Gt => o == Ordering::Greater,
        Cmp::Ge => o != Ordering::Less,
        Cmp::Lt => o == Ordering::Less,
        Cmp::Le => o != Ordering::Greater,
        _ => unreachable!("text operator on a non-text value"),
    };
    match (got, value) {
        (Got::Text(x), FilterValue::Text(v)) => {
            text_matches(cmp, &fold(field, &x), &fold(field, v))
        }
        (Got::Json(Value::String(x)), FilterValue::Text(v)) => text_matches(cmp, &x, v),
        (Got::Json(Value::Number(x)), FilterValue::Int(v)) => {
            order(x.as_f64().unwrap().partial_cmp(&(*v as f64)).unwrap())
        }
        (Got::Json(Value::Bool(x)), FilterValue::Bool(v)) => x == *v,
        (Got::Int(x), FilterValue::Int(v)) => order(x.cmp(v)),
        (Got::Bool(x), FilterValue::Bool(v)) => x == *v,
        (Got::Time(x), FilterValue::Time(v)) => order(micros(x).cmp(&micros(*v))),
        (Got::Uuid(x), FilterValue::Uuid(v)) => x == *v,
        // A value of another type is not equal, nor ordered.
        _ => false,
    }
}

fn text_matches(cmp: Cmp, x: &str, v: &str) -> bool {
    match cmp {
        Cmp::Eq => x == v,
        Cmp::Co => x.contains(v),
        Cmp::Sw => x.starts_with(v),
        Cmp::Ew => x.ends_with(v),
        Cmp::Gt => x > v,
        Cmp::Ge => x >= v,
        Cmp::Lt => x < v,
        Cmp::Le => x <= v,
        Cmp::Ne => x != v,
    }
}

pub async fn insert(s: &Arc<dyn Store>, profile: UserDraft, now: OffsetDateTime) -> User {
    let rec = NewUserRecord {
        id: Uuid::now_v7(),
        profile,
        password_hash: None,
        container_id: ROOT_CONTAINER_ID,
        now,
    };
    match s
        .insert_user(rec, NewUserAccess::default(), None, event("user.create"))
        .await
        .expect("insert")
    {
        Inserted::Created(u) => u,
        _ => panic!("not created"),
    }
}

/// Usernames of the users `f` selects (in seq order), after checking that
/// the count agrees and that the evaluator selects the same.
pub async fn select(s: &Arc<dyn Store>, f: UserFilter) -> Vec<String> {
    let q = UserQuery {
        limit: 1000,
        filter: Some(f.clone()),
        ..Default::default()
    };
    let users = s
        .list_users(&q, None)
        .await
        .unwrap_or_else(|e| panic!("{f:?}: {e}"));
    let count = s.count_users(&q, None).await.unwrap();
    assert_eq!(count as usize, users.len(), "count of {f:?}");
    let all = s
        .list_users(
            &UserQuery {
                limit: 1000,
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    let expected: Vec<&str> = all
        .iter()
        .filter(|u| matches(u, &f))
        .map(|u| u.profile.username.as_str())
        .collect();
    let got: Vec<String> = users.into_iter().map(|u| u.profile.username).collect();
    assert_eq!(got, expected, "store and evaluator differ on {f:?}");
    got
}

fn text(field: UserField, cmp: Cmp, v: &str) -> UserFilter {
    UserFilter::Compare(field, cmp, FilterValue::Text(v.into()))
}

/// Three users with fields that tell the operators apart.
async fn people(s: &Arc<dyn Store>) -> [User; 3] {
    let now = OffsetDateTime::now_utc();
    let draft = |username: &str| UserDraft {
        username: username.into(),
        active: true,
        ..Default::default()
    };
    let alice = insert(
        s,
        UserDraft {
            email: Some("Alice@Example.com".into()),
            first_name: Some("Alice".into()),
            external_id: Some("Ext-1".into()),
            display_name: Some("100% _real_".into()),
            security_level: Some(3),
            attributes: json!({"team": "red", "level": 7, "admin": true, "blank": ""})
                .as_object()
                .cloned()
                .unwrap(),
            ..draft("Alice")
        },
        now,
    )
    .await;
    let bob = insert(
        s,
        UserDraft {
            first_name: Some("Bobby".into()),
            external_id: Some("ext-1".into()),
            display_name: Some("1000 real".into()),
            active: false,
            security_level: Some(1),
            attributes: json!({"team": "blue", "level": 2.5, "admin": false, "nothing": null})
                .as_object()
                .cloned()
                .unwrap(),
            ..draft("bob")
        },
        now + time::Duration::seconds(1),
    )
    .await;
    let carol = insert(
        s,
        UserDraft {
            email: Some("carol@example.org".into()),
            first_name: Some("".into()),
            display_name: Some("a\\b".into()),
            attributes: json!({"team": 7, "level": "7"})
                .as_object()
                .cloned()
                .unwrap(),
            ..draft("Carol")
        },
        now + time::Duration::seconds(2),
    )
    .await;
    [alice, bob, carol]
}

pub async fn filters_compare_text_by_each_operator(s: Arc<dyn Store>) {
    people(&s).await;
    use UserField::FirstName as F;
    assert_eq!(select(&s, text(F, Cmp::Eq, "alice")).await, ["Alice"]);
    assert_eq!(
        select(&s, text(F, Cmp::Ne, "alice")).await,
        ["bob", "Carol"]
    );
    assert_eq!(select(&s, text(F, Cmp::Co, "OB")).await, ["bob"]);
    assert_eq!(select(&s, text(F, Cmp::Sw, "b")).await, ["bob"]);
    assert_eq!(select(&s, text(F, Cmp::Ew, "CE")).await, ["Alice"]);
    assert_eq!(select(&s, text(F, Cmp::Gt, "alice")).await, ["bob"]);
    assert_eq!(
        select(&s, text(F, Cmp::Ge, "alice")).await,
        ["Alice", "bob"]
    );
    assert_eq!(
        select(&s, text(F, Cmp::Lt, "bobby")).await,
        ["Alice", "Carol"]
    );
    assert_eq!(
        select(&s, text(F, Cmp::Le, "BOBBY")).await,
        ["Alice", "bob", "Carol"]
    );
    // An empty value is contained in, starts and ends every present text.
    assert_eq!(
        select(&s, text(F, Cmp::Co, "")).await,
        ["Alice", "bob", "Carol"]
    );
    // Ordering is by code point, the same on every backend.
    use UserField::DisplayName as D;
    assert_eq!(
        select(&s, text(D, Cmp::Lt, "100")).await,
        Vec::<String>::new()
    );
    assert_eq!(select(&s, text(D, Cmp::Gt, "1000")).await, ["bob", "Carol"]);
    // Both sides fold: "A" is "a", above every digit.
    assert_eq!(select(&s, text(D, Cmp::Gt, "A")).await, ["Carol"]);
}

pub async fn filters_treat_absent_values_as_unequal(s: Arc<dyn Store>) {
    people(&s).await;
    use UserField::{Email, ExternalId};
    // Bob has no email: it equals nothing, so `ne` matches him.
    assert_eq!(
        select(&s, text(Email, Cmp::Ne, "carol@example.org")).await,
        ["Alice", "bob"]
    );
    assert_eq!(
        select(
            &s,
            UserFilter::Not(Box::new(text(Email, Cmp::Eq, "carol@example.org")))
        )
        .await,
        ["Alice", "bob"]
    );
    assert_eq!(
        select(&s, text(Email, Cmp::Gt, "a")).await,
        ["Alice", "Carol"]
    );
    assert_eq!(
        select(&s, UserFilter::Not(Box::new(text(Email, Cmp::Gt, "a")))).await,
        ["bob"]
    );
    // eq null: absent (null or empty); ne null and pr: present.
    let null = |f: UserField, c: Cmp| UserFilter::Compare(f, c, FilterValue::Null);
    assert_eq!(select(&s, null(Email, Cmp::Eq)).await, ["bob"]);
    assert_eq!(select(&s, null(Email, Cmp::Ne)).await, ["Alice", "Carol"]);
    assert_eq!(
        select(&s, UserFilter::Present(Email)).await,
        ["Alice", "Carol"]
    );
    assert_eq!(
        select(&s, null(UserField::FirstName, Cmp::Eq)).await,
        ["Carol"]
    );
    assert_eq!(
        select(&s, UserFilter::Present(ExternalId)).await,
        ["Alice", "bob"]
    );
    assert_eq!(
        select(&s, UserFilter::Present(UserField::LastLoginAt)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        select(&s, null(UserField::SecurityLevel, Cmp::Eq)).await,
        ["Carol"]
    );
}

pub async fn filters_respect_each_fields_case_rule(s: Arc<dyn Store>) {
    people(&s).await;
    use UserField::{Email, ExternalId, Username};
    assert_eq!(
        select(&s, text(Username, Cmp::Eq, "ALICE")).await,
        ["Alice"]
    );
    assert_eq!(select(&s, text(Username, Cmp::Sw, "CA")).await, ["Carol"]);
    assert_eq!(
        select(&s, text(Email, Cmp::Eq, "alice@EXAMPLE.com")).await,
        ["Alice"]
    );
    assert_eq!(select(&s, text(Email, Cmp::Ew, ".COM")).await, ["Alice"]);
    // External ids keep case.
    assert_eq!(
        select(&s, text(ExternalId, Cmp::Eq, "ext-1")).await,
        ["bob"]
    );
    assert_eq!(
        select(&s, text(ExternalId, Cmp::Eq, "EXT-1")).await,
        Vec::<String>::new()
    );
    assert_eq!(select(&s, text(ExternalId, Cmp::Sw, "E")).await, ["Alice"]);
    assert_eq!(select(&s, text(ExternalId, Cmp::Lt, "e")).await, ["Alice"]);
}

pub async fn filter_patterns_match_literally(s: Arc<dyn Store>) {
    people(&s).await;
    use UserField::DisplayName as D;
    assert_eq!(select(&s, text(D, Cmp::Co, "%")).await, ["Alice"]);
    assert_eq!(select(&s, text(D, Cmp::Co, "0%")).await, ["Alice"]);
    assert_eq!(select(&s, text(D, Cmp::Co, "_")).await, ["Alice"]);
    assert_eq!(
        select(&s, text(D, Cmp::Co, "0_r")).await,
        Vec::<String>::new()
    );
    assert_eq!(select(&s, text(D, Cmp::Sw, "100%")).await, ["Alice"]);
    assert_eq!(
        select(&s, text(D, Cmp::Sw, "1__0")).await,
        Vec::<String>::new()
    );
    assert_eq!(select(&s, text(D, Cmp::Ew, "_")).await, ["Alice"]);
    assert_eq!(select(&s, text(D, Cmp::Ew, "l_")).await, ["Alice"]);
    assert_eq!(select(&s, text(D, Cmp::Co, "\\")).await, ["Carol"]);
    assert_eq!(select(&s, text(D, Cmp::Eq, "a\\b")).await, ["Carol"]);
    assert_eq!(
        select(&s, text(D, Cmp::Co, "'")).await,
        Vec::<String>::new()
    );
}

pub async fn filters_compare_times_numbers_flags_and_ids(s: Arc<dyn Store>) {
    let [alice, bob, carol] = people(&s).await;
    let time = |c: Cmp, t: OffsetDateTime| {
        UserFilter::Compare(UserField::CreatedAt, c, FilterValue::Time(t))
    };
    assert_eq!(
        select(&s, time(Cmp::Gt, alice.created_at)).await,
        ["bob", "Carol"]
    );
    assert_eq!(
        select(&s, time(Cmp::Ge, bob.created_at)).await,
        ["bob", "Carol"]
    );
    assert_eq!(select(&s, time(Cmp::Lt, bob.created_at)).await, ["Alice"]);
    assert_eq!(
        select(&s, time(Cmp::Le, bob.created_at)).await,
        ["Alice", "bob"]
    );
    assert_eq!(select(&s, time(Cmp::Eq, carol.created_at)).await, ["Carol"]);
    assert_eq!(
        select(&s, time(Cmp::Ne, carol.created_at)).await,
        ["Alice", "bob"]
    );
    // An instant is an instant whatever its offset; below a microsecond
    // is below what is stored.
    let offset = time::UtcOffset::from_hms(5, 30, 0).unwrap();
    assert_eq!(
        select(&s, time(Cmp::Eq, bob.created_at.to_offset(offset))).await,
        ["bob"]
    );
    assert_eq!(
        select(
            &s,
            time(Cmp::Le, bob.created_at + time::Duration::nanoseconds(999))
        )
        .await,
        ["Alice", "bob"]
    );
    let int =
        |c: Cmp, v: i64| UserFilter::Compare(UserField::SecurityLevel, c, FilterValue::Int(v));
    assert_eq!(select(&s, int(Cmp::Gt, 1)).await, ["Alice"]);
    assert_eq!(select(&s, int(Cmp::Le, 3)).await, ["Alice", "bob"]);
    assert_eq!(select(&s, int(Cmp::Ne, 3)).await, ["bob", "Carol"]);
    let seq = UserFilter::Compare(UserField::Seq, Cmp::Ge, FilterValue::Int(bob.seq));
    assert_eq!(select(&s, seq).await, ["bob", "Carol"]);
    let active = |v: bool| UserFilter::Compare(UserField::Active, Cmp::Eq, FilterValue::Bool(v));
    assert_eq!(select(&s, active(false)).await, ["bob"]);
    assert_eq!(select(&s, active(true)).await, ["Alice", "Carol"]);
    let not_active = UserFilter::Compare(UserField::Active, Cmp::Ne, FilterValue::Bool(true));
    assert_eq!(select(&s, not_active).await, ["bob"]);
    let id = |c: Cmp, v: Uuid| UserFilter::Compare(UserField::Id, c, FilterValue::Uuid(v));
    assert_eq!(select(&s, id(Cmp::Eq, carol.id)).await, ["Carol"]);
    assert_eq!(select(&s, id(Cmp::Ne, carol.id)).await, ["Alice", "bob"]);
    let home = UserFilter::Compare(
        UserField::ContainerId,
        Cmp::Eq,
        FilterValue::Uuid(ROOT_CONTAINER_ID),
    );
    assert_eq!(select(&s, home).await, ["Alice", "bob", "Carol"]);
}

pub async fn filters_compare_custom_attributes_by_type(s: Arc<dyn Store>) {
    people(&s).await;
    let attr = |k: &str| UserField::Attribute(k.into());
    let cmp = |k: &str, c: Cmp, v: FilterValue| UserFilter::Compare(attr(k), c, v);
    use FilterValue::{Bool, Int, Null};
    assert_eq!(
        select(&s, text(attr("team"), Cmp::Eq, "red")).await,
        ["Alice"]
    );
    // Attributes keep case; text compares only with strings.
    assert_eq!(
        select(&s, text(attr("team"), Cmp::Eq, "RED")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        select(&s, text(attr("team"), Cmp::Ne, "red")).await,
        ["bob", "Carol"]
    );
    assert_eq!(select(&s, text(attr("team"), Cmp::Co, "l")).await, ["bob"]);
    assert_eq!(
        select(&s, text(attr("level"), Cmp::Eq, "7")).await,
        ["Carol"]
    );
    assert_eq!(select(&s, cmp("level", Cmp::Eq, Int(7))).await, ["Alice"]);
    assert_eq!(
        select(&s, cmp("level", Cmp::Gt, Int(2))).await,
        ["Alice", "bob"]
    );
    assert_eq!(select(&s, cmp("level", Cmp::Lt, Int(3))).await, ["bob"]);
    assert_eq!(select(&s, cmp("team", Cmp::Ge, Int(7))).await, ["Carol"]);
    assert_eq!(
        select(&s, cmp("admin", Cmp::Eq, Bool(true))).await,
        ["Alice"]
    );
    assert_eq!(
        select(&s, cmp("admin", Cmp::Eq, Bool(false))).await,
        ["bob"]
    );
    assert_eq!(
        select(&s, cmp("admin", Cmp::Ne, Bool(true))).await,
        ["bob", "Carol"]
    );
    assert_eq!(
        select(&s, UserFilter::Present(attr("admin"))).await,
        ["Alice", "bob"]
    );
    // JSON null and "" are absent, like a missing key.
    assert_eq!(
        select(&s, UserFilter::Present(attr("blank"))).await,
        Vec::<String>::new()
    );
    assert_eq!(
        select(&s, cmp("nothing", Cmp::Eq, Null)).await,
        ["Alice", "bob", "Carol"]
    );
    assert_eq!(
        select(&s, cmp("team", Cmp::Ne, Null)).await,
        ["Alice", "bob", "Carol"]
    );
    // Keys are bound, never spliced: odd ones are just names.
    assert_eq!(
        select(&s, text(attr("a'\"].$"), Cmp::Eq, "x")).await,
        Vec::<String>::new()
    );
    assert_eq!(
        select(&s, UserFilter::Present(attr("$.team"))).await,
        Vec::<String>::new()
    );
}

pub async fn filters_nest_and_combine_with_paging(s: Arc<dyn Store>) {
    people(&s).await;
    use UserField::{Active, FirstName, Username};
    let active = UserFilter::Compare(Active, Cmp::Eq, FilterValue::Bool(true));
    let nested = UserFilter::Or(vec![
        UserFilter::And(vec![active.clone(), text(FirstName, Cmp::Sw, "a")]),
        UserFilter::Not(Box::new(UserFilter::Or(vec![
            active.clone(),
            text(Username, Cmp::Eq, "nobody"),
        ]))),
    ]);
    assert_eq!(select(&s, nested.clone()).await, ["Alice", "bob"]);
    assert_eq!(
        select(&s, UserFilter::And(vec![])).await,
        ["Alice", "bob", "Carol"]
    );
    assert_eq!(
        select(&s, UserFilter::Or(vec![])).await,
        Vec::<String>::new()
    );
    assert_eq!(select(&s, UserFilter::All).await, ["Alice", "bob", "Carol"]);
    assert_eq!(select(&s, UserFilter::Nothing).await, Vec::<String>::new());
    // The largest filter validation admits compiles on every backend.
    let wide = UserFilter::Or(
        (0..roster_core::user_filter::FILTER_MAX_COMPARISONS - 1)
            .map(|i| text(Username, Cmp::Eq, &format!("nobody-{i}")))
            .chain([text(Username, Cmp::Eq, "bob")])
            .collect(),
    );
    assert_eq!(select(&s, wide).await, ["bob"]);
    let mut deep = text(Username, Cmp::Eq, "carol");
    for _ in 0..(roster_core::user_filter::FILTER_MAX_DEPTH - 1) / 2 {
        deep = UserFilter::Not(Box::new(UserFilter::Not(Box::new(deep))));
    }
    assert_eq!(select(&s, deep).await, ["Carol"]);

    // With the query's other fields, keyset pages and sorted offset pages.
    let everyone_but_carol = UserFilter::Not(Box::new(text(Username, Cmp::Eq, "carol")));
    let q = UserQuery {
        limit: 1,
        filter: Some(everyone_but_carol.clone()),
        ..Default::default()
    };
    let first = s.list_users(&q, None).await.unwrap();
    assert_eq!(first[0].profile.username, "Alice");
    let next = UserQuery {
        after_seq: Some(first[0].seq),
        ..q.clone()
    };
    let second = s.list_users(&next, None).await.unwrap();
    assert_eq!(second[0].profile.username, "bob");
    let last = UserQuery {
        after_seq: Some(second[0].seq),
        ..q.clone()
    };
    assert!(s.list_users(&last, None).await.unwrap().is_empty());
    let sorted = UserQuery {
        limit: 1,
        offset: Some(1),
        sort: vec![(UserSort::Username, true)],
        filter: Some(UserFilter::Not(Box::new(text(Username, Cmp::Eq, "bob")))),
        ..Default::default()
    };
    let page = s.list_users(&sorted, None).await.unwrap();
    assert_eq!(page[0].profile.username, "Alice");
    assert_eq!(s.count_users(&sorted, None).await.unwrap(), 2);
    let both = UserQuery {
        limit: 10,
        active: Some(true),
        q: Some("c".into()),
        filter: Some(everyone_but_carol),
        ..Default::default()
    };
    assert!(s.list_users(&both, None).await.unwrap().is_empty());
    assert_eq!(s.count_users(&both, None).await.unwrap(), 0);
    // The caller's scope still applies.
    let elsewhere = UserQuery {
        limit: 10,
        filter: Some(UserFilter::All),
        ..Default::default()
    };
    assert!(
        s.list_users(&elsewhere, Some(&[Uuid::now_v7()]))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.count_users(&elsewhere, Some(&[Uuid::now_v7()]))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.count_users(&elsewhere, Some(&[ROOT_CONTAINER_ID]))
            .await
            .unwrap(),
        3
    );
}

mod random {
    //! Random small trees over random users: SQLite and the evaluator agree.

    use proptest::prelude::*;
    use roster_core::access::BUILTIN_ROLES;
    use roster_store::{SqliteOptions, SqliteStore};

    use super::*;

    fn short_text() -> impl Strategy<Value = String> {
        "[aAb%_]{0,3}"
    }

    fn attribute() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            short_text().prop_map(|t| Some(Value::String(t))),
            (-2i64..3).prop_map(|n| Some(json!(n))),
            Just(Some(json!(0.5))),
            any::<bool>().prop_map(|b| Some(Value::Bool(b))),
            Just(Some(json!(["a"]))),
        ]
    }

    #[derive(Debug, Clone)]
    struct Person {
        username: String,
        email: Option<String>,
        first_name: Option<String>,
        external_id: Option<String>,
        security_level: Option<i64>,
        active: bool,
        k: Option<Value>,
    }

    fn person() -> impl Strategy<Value = Person> {
        (
            short_text(),
            proptest::option::of(short_text()),
            proptest::option::of(short_text()),
            proptest::option::of(short_text()),
            proptest::option::of(-2i64..3),
            any::<bool>(),
            attribute(),
        )
            .prop_map(
                |(username, email, first_name, external_id, security_level, active, k)| Person {
                    username,
                    email,
                    first_name,
                    external_id,
                    security_level,
                    active,
                    k,
                },
            )
    }

    fn filter() -> impl Strategy<Value = UserFilter> {
        use UserField::*;
        let field = prop_oneof![
            Just(Username),
            Just(Email),
            Just(FirstName),
            Just(ExternalId),
            Just(Active),
            Just(SecurityLevel),
            Just(Attribute("k".into())),
        ];
        let cmp = prop_oneof![
            Just(Cmp::Eq),
            Just(Cmp::Ne),
            Just(Cmp::Co),
            Just(Cmp::Sw),
            Just(Cmp::Ew),
            Just(Cmp::Gt),
            Just(Cmp::Ge),
            Just(Cmp::Lt),
            Just(Cmp::Le),
        ];
        let value = prop_oneof![
            short_text().prop_map(FilterValue::Text),
            (-2i64..3).prop_map(FilterValue::Int),
            any::<bool>().prop_map(FilterValue::Bool),
            Just(FilterValue::Null),
        ];
        let leaf = prop_oneof![
            4 => (field.clone(), cmp, value).prop_map(|(f, c, v)| UserFilter::Compare(f, c, v)),
            1 => field.prop_map(UserFilter::Present),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(UserFilter::And),
                proptest::collection::vec(inner.clone(), 0..3).prop_map(UserFilter::Or),
                inner.prop_map(|f| UserFilter::Not(Box::new(f))),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn random_filters_select_what_the_evaluator_does(
            people in proptest::collection::vec(person(), 0..7),
            filters in proptest::collection::vec(filter(), 1..10),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let store: Arc<dyn Store> = Arc::new(
                    SqliteStore::open(&dir.path().join("p.db"), SqliteOptions::default()).unwrap(),
                );
                store.ensure_builtin_roles(BUILTIN_ROLES).await.unwrap();
                let now = OffsetDateTime::now_utc();
                for (i, p) in people.into_iter().enumerate() {
                    let mut attributes = serde_json::Map::new();
                    if let Some(v) = p.k {
                        attributes.insert("k".into(), v);
                    }
                    let draft = UserDraft {
                        username: format!("u{i}{}", p.username),
                        email: p.email,
                        first_name: p.first_name,
                        external_id: p.external_id,
                        security_level: p.security_level,
                        active: p.active,
                        attributes,
                        ..Default::default()
                    };
                    insert(&store, draft, now).await;
                }
                for f in filters.into_iter().filter(|f| f.validate().is_ok()) {
                    // `select` compares the store with the evaluator.
                    select(&store, f).await;
                }
            });
        }
    }
}
