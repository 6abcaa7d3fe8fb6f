//! The webhook store contract: a webhook's cursor starts at the chain's
//! head and moves only from the value read; a claim takes due deliveries
//! in event order, one at a time per order key, and leases them; records,
//! re-deliveries and purges do what the services count on.

use std::sync::Arc;

use roster_core::Secret;
use roster_core::store::{Store, StoreError};
use roster_core::webhook::{Attempt, DeliveryStatus, NewDelivery, Webhook};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{create, event};

fn hook() -> Webhook {
    let now = OffsetDateTime::now_utc();
    Webhook {
        id: Uuid::now_v7(),
        url: "https://hooks.example.com/".into(),
        event_types: vec!["*".into()],
        secret: Secret::new("a-secret-of-the-test"),
        active: true,
        cursor: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn delivery(seq: i64, key: &str) -> NewDelivery {
    NewDelivery {
        id: Uuid::now_v7(),
        event_seq: seq,
        event_id: Uuid::now_v7(),
        event_type: "user.updated".into(),
        order_key: key.into(),
    }
}

fn attempt(next: DeliveryStatus, status: i64, at: OffsetDateTime) -> Attempt {
    Attempt {
        at,
        status_code: Some(status),
        error: (next != DeliveryStatus::Delivered).then(|| format!("HTTP {status}")),
        next,
        retry_at: at,
    }
}

pub async fn webhook_deliveries_are_claimed_in_order_once(s: Arc<dyn Store>) {
    create(&s, "before-the-hook").await;
    let head = s.audit_chain(0, 1000).await.unwrap().last().unwrap().seq;
    let w = s
        .insert_webhook(hook(), event("webhook.create"))
        .await
        .unwrap();
    assert!(
        w.cursor >= head,
        "starts at the head: {} < {head}",
        w.cursor
    );
    assert!(
        s.list_webhooks()
            .await
            .unwrap()
            .iter()
            .any(|h| h.id == w.id),
        "listed"
    );
    let now = OffsetDateTime::now_utc();

    // Queued only from the cursor read; a second run from it is refused.
    let (from, to) = (w.cursor, w.cursor + 10);
    let queued = vec![
        delivery(from + 1, "user:a"),
        delivery(from + 2, "user:a"),
        delivery(from + 3, "user:b"),
    ];
    s.queue_deliveries(w.id, from, to, queued.clone(), now)
        .await
        .unwrap();
    assert!(matches!(
        s.queue_deliveries(w.id, from, to, vec![delivery(from + 4, "user:c")], now)
            .await,
        Err(StoreError::VersionMismatch)
    ));
    assert_eq!(s.webhook(w.id).await.unwrap().unwrap().cursor, to);

    // One per order key, oldest first; leased ones are not taken again.
    let lease = now + Duration::seconds(60);
    let first = s.claim_deliveries(now, lease, 10).await.unwrap();
    let seqs: Vec<i64> = first.iter().map(|d| d.event_seq).collect();
    assert_eq!(seqs, [from + 1, from + 3]);
    assert!(s.claim_deliveries(now, lease, 10).await.unwrap().is_empty());

    // A retry later holds the key's next delivery back until it is done.
    s.record_attempt(
        first[0].id,
        Attempt {
            retry_at: now + Duration::seconds(30),
            ..attempt(DeliveryStatus::Pending, 500, now)
        },
    )
    .await
    .unwrap();
    assert!(s.claim_deliveries(now, lease, 10).await.unwrap().is_empty());
    let later = now + Duration::seconds(31);
    let again = s
        .claim_deliveries(later, later + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].event_seq, again[0].attempts), (from + 1, 1));
    s.record_attempt(again[0].id, attempt(DeliveryStatus::Delivered, 200, later))
        .await
        .unwrap();
    let next = s
        .claim_deliveries(later, later + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].event_seq, from + 2);

    // The log, newest first, and paged.
    let log = s.deliveries(w.id, None, 10).await.unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(log[2].event_seq, from + 1);
    assert_eq!(log[2].status, DeliveryStatus::Delivered);
    assert_eq!(log[2].attempts, 2);
    assert_eq!(log[2].last_status, Some(200));
    assert!(log[2].delivered_at.is_some());
    let older = s.deliveries(w.id, Some(from + 3), 10).await.unwrap();
    assert_eq!(older.len(), 2);

    // Re-delivery makes it pending again, counted from zero.
    let redone = s
        .redeliver(w.id, again[0].id, later, event("webhook.redeliver"))
        .await
        .unwrap();
    assert_eq!(
        (redone.status, redone.attempts),
        (DeliveryStatus::Pending, 0)
    );
    assert!(matches!(
        s.redeliver(w.id, Uuid::now_v7(), later, event("webhook.redeliver"))
            .await,
        Err(StoreError::NotFound)
    ));

    // Finished deliveries go in the purge; pending ones stay.
    s.record_attempt(next[0].id, attempt(DeliveryStatus::Failed, 500, later))
        .await
        .unwrap();
    let purged = s
        .purge_deliveries(later + Duration::days(1), 100)
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(s.deliveries(w.id, None, 10).await.unwrap().len(), 2);

    // Updates need the version read; a delete takes the log with it.
    let mut changed = w.clone();
    changed.active = false;
    let changed = s
        .update_webhook(changed, event("webhook.update"))
        .await
        .unwrap();
    assert_eq!((changed.version, changed.active), (2, false));
    assert!(matches!(
        s.update_webhook(w.clone(), event("webhook.update")).await,
        Err(StoreError::VersionMismatch)
    ));
    s.delete_webhook(w.id, event("webhook.delete"))
        .await
        .unwrap();
    assert!(s.webhook(w.id).await.unwrap().is_none());
    assert!(s.deliveries(w.id, None, 10).await.unwrap().is_empty());
    assert!(matches!(
        s.delete_webhook(w.id, event("webhook.delete")).await,
        Err(StoreError::NotFound)
    ));
}
