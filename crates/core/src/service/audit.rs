//! Reading and verifying the audit trail.

use super::{Ctx, Roster, from_store};
use crate::audit::AuditQuery;
use crate::audit::{AuditRecord, Broken, GENESIS, verify_chain};
use crate::authz::{self, Privilege, Target};
use crate::error::{CoreError, CoreResult};
use crate::store::Store;
use crate::user::Page;

/// Outcome of checking the whole chain.
pub enum Verification {
    Intact { events: i64 },
    Broken(Broken),
}

/// The verified prefix of the chain as of the last walk, so the next one
/// goes on from there (the chain is append-only: what was verified stays
/// verified unless someone edits the database, which the periodic full
/// walk catches).
#[derive(Clone)]
pub(super) struct AuditCheckpoint {
    last: (i64, String),
    full_at: time::OffsetDateTime,
}

/// [`Roster::verify_audit_cached`]'s answer: the outcome and when the
/// whole chain was last walked from its start.
pub struct CachedVerification {
    pub outcome: Verification,
    pub full_walk_at: time::OffsetDateTime,
}

impl Roster {
    pub async fn list_audit(&self, ctx: &Ctx, mut q: AuditQuery) -> CoreResult<Page<AuditRecord>> {
        authz::authorize(&ctx.who, Privilege::AuditRead, Target::Global)?;
        if q.limit == 0 {
            q.limit = 50;
        }
        if q.limit > 1000 {
            return Err(CoreError::invalid(
                "limit",
                "range",
                "must be between 1 and 1000",
            ));
        }
        let limit = q.limit as usize;
        q.limit += 1;
        let items = self
            .store
            .list_audit(&q)
            .await
            .map_err(from_store("audit event"))?;
        Ok(Page::from_overfetch(items, limit, |r| r.seq))
    }

    /// Walks the whole chain (operator command).
    pub async fn verify_audit(&self) -> CoreResult<Verification> {
        verify_audit_chain(self.store.as_ref()).await
    }

    /// The chain's status for those who may read the log, at a cost that
    /// does not grow with the log on every look: the records appended since
    /// the last walk are verified from its checkpoint, and the whole chain
    /// again once the last full walk is older than `full_every`. One walk
    /// at a time per node; callers meanwhile wait for its result.
    pub async fn verify_audit_cached(
        &self,
        ctx: &Ctx,
        full_every: time::Duration,
    ) -> CoreResult<CachedVerification> {
        authz::authorize(&ctx.who, Privilege::AuditRead, Target::Global)?;
        let mut checkpoint = self.audit_checkpoint.lock().await;
        let now = time::OffsetDateTime::now_utc();
        let (start, full_at) = match checkpoint.as_ref() {
            Some(c) if now - c.full_at < full_every => (c.last.clone(), c.full_at),
            _ => ((0, GENESIS.to_string()), now),
        };
        let outcome = walk_from(self.store.as_ref(), start).await?;
        *checkpoint = match &outcome {
            Ok(last) => Some(AuditCheckpoint {
                last: last.clone(),
                full_at,
            }),
            // Walk from the start again next time: the break may be mended
            // (a restored backup) or earlier than this walk began.
            Err(_) => None,
        };
        Ok(CachedVerification {
            outcome: match outcome {
                Ok((events, _)) => Verification::Intact { events },
                Err(b) => Verification::Broken(b),
            },
            full_walk_at: full_at,
        })
    }
}

/// Walks the whole chain of `store` with reads only, so that the operator
/// command can run on a read-only store without building a `Roster` (which
/// writes its built-in roles and signing key at start).
pub async fn verify_audit_chain(store: &dyn Store) -> CoreResult<Verification> {
    Ok(match walk_from(store, (0, GENESIS.to_string())).await? {
        Ok((events, _)) => Verification::Intact { events },
        Err(b) => Verification::Broken(b),
    })
}

/// Verifies the records after `prev` (a verified record's seq and hash);
/// the last record's seq and hash, or where the chain breaks.
async fn walk_from(
    store: &dyn Store,
    mut prev: (i64, String),
) -> CoreResult<Result<(i64, String), Broken>> {
    loop {
        let page = store
            .audit_chain(prev.0, 10_000)
            .await
            .map_err(from_store("audit event"))?;
        if page.is_empty() {
            return Ok(Ok(prev));
        }
        match verify_chain(&page, prev) {
            Ok(last) => prev = last,
            Err(b) => return Ok(Err(b)),
        }
    }
}
