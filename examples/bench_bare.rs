//! The benchmark's "bare" server: a minimal axum server that answers a small
//! JSON user by id from memory, with none of roster's middleware, database,
//! authentication or authorisation. `scripts/bench/run.sh` runs it beside
//! roster on the same ids so that roster's reads are reported as a ratio to
//! what the HTTP stack alone costs on this machine.
//!
//!   cargo run --release --example bench_bare -- 127.0.0.1:18182 ids.txt
//!
//! `ids.txt` holds one user id per line (the ids the bench seeded roster with).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use uuid::Uuid;

#[derive(Clone, Serialize)]
struct User {
    id: Uuid,
    seq: i64,
    username: String,
    email: String,
    active: bool,
}

type Users = Arc<HashMap<Uuid, User>>;

async fn user(
    State(users): State<Users>,
    Path(id): Path<String>,
) -> Result<Json<User>, StatusCode> {
    let id = Uuid::parse_str(&id).map_err(|_| StatusCode::BAD_REQUEST)?;
    users
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(ids)) = (args.next(), args.next()) else {
        eprintln!("usage: bench_bare ADDR IDS_FILE");
        std::process::exit(2);
    };
    let mut users = HashMap::new();
    for (i, line) in std::fs::read_to_string(ids)?.lines().enumerate() {
        let Ok(id) = Uuid::parse_str(line.trim()) else {
            continue;
        };
        let seq = i as i64 + 1;
        let username = format!("user{seq:07}");
        let email = format!("{username}@example.com");
        users.insert(
            id,
            User {
                id,
                seq,
                username,
                email,
                active: true,
            },
        );
    }
    let app = Router::new()
        .route("/api/v1/users/{id}", get(user))
        .with_state(Arc::new(users));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await
}
