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
}

/// Walks the whole chain of `store` with reads only, so that the operator
/// command can run on a read-only store without building a `Roster` (which
/// writes its built-in roles and signing key at start).
pub async fn verify_audit_chain(store: &dyn Store) -> CoreResult<Verification> {
    let mut prev = (0, GENESIS.to_string());
    loop {
        let page = store
            .audit_chain(prev.0, 10_000)
            .await
            .map_err(from_store("audit event"))?;
        if page.is_empty() {
            return Ok(Verification::Intact { events: prev.0 });
        }
        match verify_chain(&page, prev) {
            Ok(last) => prev = last,
            Err(b) => return Ok(Verification::Broken(b)),
        }
    }
}
