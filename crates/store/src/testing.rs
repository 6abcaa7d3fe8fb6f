//! Test support: a PostgreSQL database of its own for each test, made from
//! `ROSTER_TEST_POSTGRES_URL` and dropped when the test ends. Used by this
//! crate's conformance suite and the HTTP suite.

use tokio_postgres::NoTls;
use uuid::Uuid;

/// The variable that points the tests at a PostgreSQL server. When it is
/// set, tests that need PostgreSQL run and fail if it cannot be reached;
/// they never pass by skipping.
pub const POSTGRES_URL_VAR: &str = "ROSTER_TEST_POSTGRES_URL";

/// The server to test against, if the variable names one.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// A database with a random name, created on the server the base URL
/// points at and dropped (connections and all) when this is dropped.
pub struct TempDatabase {
    pub url: String,
    base: String,
    name: String,
}

/// `base` with its database name replaced by `name`.
fn with_database(base: &str, name: &str) -> String {
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (base, None),
    };
    let authority_end = head
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| head[start..].find('/').map(|j| start + j));
    let mut url = match authority_end {
        Some(slash) => format!("{}/{name}", &head[..slash]),
        None => format!("{head}/{name}"),
    };
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

impl TempDatabase {
    /// Creates the database; panics with the reason when the server cannot
    /// be reached, so a misconfigured CI fails loudly.
    pub async fn create(base: &str) -> Self {
        let name = format!("roster_test_{}", Uuid::now_v7().simple());
        let (client, connection) = tokio_postgres::connect(base, NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!("{POSTGRES_URL_VAR} is set but PostgreSQL cannot be reached at {base}: {e}")
            });
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        drop(client);
        let _ = driver.await;
        TempDatabase {
            url: with_database(base, &name),
            base: base.to_string(),
            name,
        }
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let base = self.base.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime: a thread of its own can block.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&base, NoTls).await.ok()?;
                let driver = tokio::spawn(connection);
                let done = client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                drop(client);
                let _ = driver.await;
                done.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/test?sslmode=disable", "x"),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
