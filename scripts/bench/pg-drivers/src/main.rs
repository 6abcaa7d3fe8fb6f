//! One axum server per process, backed by the PostgreSQL driver named on the
//! command line, for roster's driver choice (see run.sh):
//!
//!   GET  /users/{id}  point read by uuid, small JSON (404 if absent)
//!   POST /users       {"username", "email"} -> one autocommitted INSERT, 201
//!   GET  /bare/{id}   the same JSON shape from memory (no database)
//!
//! pg-drivers-bench --driver sqlx|sqlx-ping|tpg --url postgres://... \
//!     [--listen 127.0.0.1:18300] [--pool 16] [--threads 2]
//!
//! `sqlx` and `tpg` are configured alike: a bounded pool of --pool
//! connections, no liveness check when a connection is taken from the pool
//! (deadpool's default `RecyclingMethod::Fast`; for sqlx
//! `test_before_acquire(false)`), statements prepared once per connection
//! and cached (sqlx does it by itself, deadpool through `prepare_cached`).
//! `sqlx-ping` is sqlx with its default `test_before_acquire(true)`, which
//! pings the connection (one more round trip) on every acquire.

// Built with neither driver (weight.sh's base), most of this is unused.
#![cfg_attr(not(any(feature = "sqlx", feature = "tpg")), allow(unused))]

use std::net::SocketAddr;

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

const GET_SQL: &str =
    "SELECT id, username, email, display_name, active, version FROM users WHERE id = $1";
const INSERT_SQL: &str = "INSERT INTO users (id, username, username_key, email, first_name, \
     last_name, display_name, active, attributes, created_at, updated_at, version) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8, $9, $9, 1) RETURNING seq";

#[derive(Serialize)]
struct UserOut {
    id: Uuid,
    username: String,
    email: Option<String>,
    display_name: Option<String>,
    active: bool,
    version: i64,
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    email: Option<String>,
}

#[derive(Serialize)]
struct Created {
    id: Uuid,
    seq: i64,
    username: String,
}

/// The values one create binds, computed the same way for both drivers.
struct InsertArgs {
    id: Uuid,
    username: String,
    username_key: String,
    email: Option<String>,
    first_name: &'static str,
    last_name: &'static str,
    display_name: String,
    attributes: serde_json::Value,
    now: OffsetDateTime,
}

impl InsertArgs {
    fn new(u: NewUser) -> Self {
        Self {
            id: Uuid::now_v7(),
            username_key: u.username.to_lowercase(),
            display_name: format!("Bench {}", u.username),
            username: u.username,
            email: u.email,
            first_name: "Bench",
            last_name: "User",
            attributes: serde_json::json!({}),
            now: OffsetDateTime::now_utc(),
        }
    }
}

enum Fail {
    NotFound,
    Conflict,
    Internal(String),
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        match self {
            Fail::NotFound => StatusCode::NOT_FOUND.into_response(),
            Fail::Conflict => StatusCode::CONFLICT.into_response(),
            Fail::Internal(e) => {
                eprintln!("error: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, e).into_response()
            }
        }
    }
}

async fn bare(Path(id): Path<Uuid>) -> Json<UserOut> {
    Json(UserOut {
        id,
        username: "bare-user".into(),
        email: Some("bare-user@example.com".into()),
        display_name: Some("Bare User".into()),
        active: true,
        version: 1,
    })
}

#[cfg(feature = "sqlx")]
mod with_sqlx {
    use super::*;
    use sqlx::{PgPool, Row, postgres::PgPoolOptions};

    pub async fn router(url: &str, pool: u32, ping: bool) -> Router {
        let pool = PgPoolOptions::new()
            .max_connections(pool)
            .test_before_acquire(ping)
            .connect(url)
            .await
            .expect("sqlx pool");
        Router::new()
            .route("/users/{id}", get(get_user))
            .route("/users", axum::routing::post(create_user))
            .with_state(pool)
    }

    fn fail(e: sqlx::Error) -> Fail {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => Fail::Conflict,
            _ => Fail::Internal(e.to_string()),
        }
    }

    async fn get_user(
        State(pool): State<PgPool>,
        Path(id): Path<Uuid>,
    ) -> Result<Json<UserOut>, Fail> {
        let row = sqlx::query(GET_SQL)
            .bind(id)
            .fetch_optional(&pool)
            .await
            .map_err(fail)?
            .ok_or(Fail::NotFound)?;
        Ok(Json(UserOut {
            id: row.try_get(0).map_err(fail)?,
            username: row.try_get(1).map_err(fail)?,
            email: row.try_get(2).map_err(fail)?,
            display_name: row.try_get(3).map_err(fail)?,
            active: row.try_get(4).map_err(fail)?,
            version: row.try_get(5).map_err(fail)?,
        }))
    }

    async fn create_user(
        State(pool): State<PgPool>,
        Json(u): Json<NewUser>,
    ) -> Result<(StatusCode, Json<Created>), Fail> {
        let a = InsertArgs::new(u);
        let seq: i64 = sqlx::query_scalar(INSERT_SQL)
            .bind(a.id)
            .bind(&a.username)
            .bind(&a.username_key)
            .bind(&a.email)
            .bind(a.first_name)
            .bind(a.last_name)
            .bind(&a.display_name)
            .bind(&a.attributes)
            .bind(a.now)
            .fetch_one(&pool)
            .await
            .map_err(fail)?;
        Ok((
            StatusCode::CREATED,
            Json(Created {
                id: a.id,
                seq,
                username: a.username,
            }),
        ))
    }
}

#[cfg(feature = "tpg")]
mod with_tpg {
    use super::*;
    use deadpool_postgres::{
        Config, ManagerConfig, Pool, PoolConfig, RecyclingMethod, Runtime, tokio_postgres::NoTls,
    };

    pub async fn router(url: &str, size: usize) -> Router {
        let cfg = Config {
            url: Some(url.to_string()),
            manager: Some(ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            }),
            pool: Some(PoolConfig::new(size)),
            ..Config::default()
        };
        let pool = cfg
            .create_pool(Some(Runtime::Tokio1), NoTls)
            .expect("deadpool");
        // Fail early, as sqlx's connect does.
        drop(pool.get().await.expect("deadpool connect"));
        Router::new()
            .route("/users/{id}", get(get_user))
            .route("/users", axum::routing::post(create_user))
            .with_state(pool)
    }

    fn fail(e: impl std::fmt::Display) -> Fail {
        Fail::Internal(e.to_string())
    }

    fn db_fail(e: deadpool_postgres::tokio_postgres::Error) -> Fail {
        if e.code() == Some(&deadpool_postgres::tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            Fail::Conflict
        } else {
            fail(e)
        }
    }

    async fn get_user(
        State(pool): State<Pool>,
        Path(id): Path<Uuid>,
    ) -> Result<Json<UserOut>, Fail> {
        let client = pool.get().await.map_err(fail)?;
        let stmt = client.prepare_cached(GET_SQL).await.map_err(db_fail)?;
        let row = client
            .query_opt(&stmt, &[&id])
            .await
            .map_err(db_fail)?
            .ok_or(Fail::NotFound)?;
        Ok(Json(UserOut {
            id: row.try_get(0).map_err(db_fail)?,
            username: row.try_get(1).map_err(db_fail)?,
            email: row.try_get(2).map_err(db_fail)?,
            display_name: row.try_get(3).map_err(db_fail)?,
            active: row.try_get(4).map_err(db_fail)?,
            version: row.try_get(5).map_err(db_fail)?,
        }))
    }

    async fn create_user(
        State(pool): State<Pool>,
        Json(u): Json<NewUser>,
    ) -> Result<(StatusCode, Json<Created>), Fail> {
        let a = InsertArgs::new(u);
        let client = pool.get().await.map_err(fail)?;
        let stmt = client.prepare_cached(INSERT_SQL).await.map_err(db_fail)?;
        let row = client
            .query_one(
                &stmt,
                &[
                    &a.id,
                    &a.username,
                    &a.username_key,
                    &a.email,
                    &a.first_name,
                    &a.last_name,
                    &a.display_name,
                    &a.attributes,
                    &a.now,
                ],
            )
            .await
            .map_err(db_fail)?;
        let seq: i64 = row.try_get(0).map_err(db_fail)?;
        Ok((
            StatusCode::CREATED,
            Json(Created {
                id: a.id,
                seq,
                username: a.username,
            }),
        ))
    }
}

struct Args {
    driver: String,
    url: String,
    listen: SocketAddr,
    pool: usize,
    threads: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        driver: String::new(),
        url: String::new(),
        listen: SocketAddr::from(([127, 0, 0, 1], 18300)),
        pool: 16,
        threads: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--driver" => a.driver = v,
            "--url" => a.url = v,
            "--listen" => a.listen = v.parse().expect("--listen"),
            "--pool" => a.pool = v.parse().expect("--pool"),
            "--threads" => a.threads = v.parse().expect("--threads"),
            _ => panic!("unknown argument {k}"),
        }
    }
    assert!(!a.url.is_empty(), "--url is required");
    a
}

fn main() {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(serve(args));
}

async fn serve(args: Args) {
    let db: Router = match args.driver.as_str() {
        #[cfg(feature = "sqlx")]
        "sqlx" => with_sqlx::router(&args.url, args.pool as u32, false).await,
        #[cfg(feature = "sqlx")]
        "sqlx-ping" => with_sqlx::router(&args.url, args.pool as u32, true).await,
        #[cfg(feature = "tpg")]
        "tpg" => with_tpg::router(&args.url, args.pool).await,
        other => panic!("unknown or not compiled-in driver {other:?}"),
    };
    let app = db.route("/bare/{id}", get(bare));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .expect("bind");
    eprintln!(
        "{} listening on {} (pool {}, {} runtime threads)",
        args.driver, args.listen, args.pool, args.threads
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("serve");
}
