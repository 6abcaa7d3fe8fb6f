//! Hears other nodes' announcements that cached credentials must go
//! (LISTEN on one connection of its own) and passes them to this node.

use std::time::Duration;

use futures_util::StreamExt;
use roster_core::store::Invalidation;
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::{AsyncMessage, NoTls};
use uuid::Uuid;

pub fn payload(what: Invalidation) -> String {
    match what {
        Invalidation::User(id) => format!("user:{id}"),
        Invalidation::Containers => "containers".into(),
        Invalidation::All => "all".into(),
    }
}

/// Anything not understood (a newer node's announcement) drops everything.
fn parse(payload: &str) -> Invalidation {
    if payload == "containers" {
        return Invalidation::Containers;
    }
    payload
        .strip_prefix("user:")
        .and_then(|id| Uuid::try_parse(id).ok())
        .map_or(Invalidation::All, Invalidation::User)
}

/// Listens for as long as the store lives, reconnecting after a second
/// when the connection drops. After every (re)connection everything
/// cached is dropped: announcements made meanwhile were missed.
pub async fn run(
    config: tokio_postgres::Config,
    channel: &'static str,
    out: broadcast::Sender<Invalidation>,
) {
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(Ok(message)) = messages.next().await {
                        if let AsyncMessage::Notification(n) = message
                            && tx.send(parse(n.payload())).is_err()
                        {
                            break;
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {channel}")).await {
                    Ok(()) => {
                        let _ = out.send(Invalidation::All);
                        while let Some(what) = rx.recv().await {
                            let _ = out.send(what);
                        }
                        tracing::warn!("lost the PostgreSQL notification connection; reconnecting");
                    }
                    Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
                }
                driver.abort();
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the PostgreSQL notification connection")
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
