//! Defender merges: when Defender merges incident R into S, R turns `redirected` with
//! `redirectIncidentId = S` (R's incident view reads Closed and keeps `redirectIncidentId`). R's
//! Signl follows S:
//!
//! - S has a Signl of its own (open or acknowledged): R's Signl is annotated "Merged in
//!   Defender into incident S ..." and resolved, so nobody is paged twice for one attack.
//! - S has none: R's Signl is annotated and stays open; it now stands for S. S is not paged
//!   while it is covered (the Poller's `needs_page` asks [`covered_by_merge`]); writes made from
//!   R's Signl (acknowledge, close, comments) land on S because the Defender client follows
//!   `redirectIncidentId`; when S closes, R's Signl is resolved ([`SyncContext::resolve_followers`]).
//!
//! Invariants: the merge is recorded (`IncidentMerged`, once per survivor) before anything is
//! done about it (`store::aggregate::desired_effects` holds a redirected incident's resolve
//! until the record says whether the survivor has its own Signl), so `audit` shows why a Signl was annotated or resolved; the annotation's
//! effect id derives from the survivor, so it is sent at most once; a source without redirects
//! (Sentinel, alerts_v2) never has `redirectIncidentId` and nothing here runs.

use store::aggregate::{Incident, SignlStatus};
use store::events::{Effect, IncidentMerged};
use store::ids::external_id;
use store::writer::Execution;
use store::{Command, IncidentKey, Store, StoreError, TenantId};

use super::SyncContext;
use crate::ports::{IncidentSource, Signl4Api};

fn signl_up(i: &Incident) -> bool {
    matches!(
        i.signl.status,
        SignlStatus::Open | SignlStatus::Acknowledged
    )
}

/// True when another incident of the tenant was merged into `survivor` and its Signl is still
/// up: that Signl stands for `survivor`, which must not be paged as well.
pub fn covered_by_merge(store: &Store, tenant: TenantId, survivor: &Incident) -> bool {
    store.read(|p| {
        p.followers_of(tenant, &survivor.name)
            .any(|i| i.key != survivor.key && signl_up(i))
    })
}

impl<S: IncidentSource, G: Signl4Api> SyncContext<S, G> {
    /// Records and annotates the merge of a closed incident whose Signl is up (see the module).
    pub(super) async fn follow_merge(
        &self,
        incident: IncidentKey,
        state: &Incident,
    ) -> Result<(), StoreError> {
        let tenant = self.tenant();
        let Some(into) = state.redirected_to.clone() else {
            return Ok(());
        };
        let survivor_key = IncidentKey::from_source_id(&into);
        let survivor_paged = self.store.read(|p| {
            p.incident(tenant, survivor_key)
                .is_some_and(|s| s.signls_raised > 0 && signl_up(s))
        });
        let into_number = into.trim().parse::<i64>().unwrap_or(0);
        self.store
            .execute(Execution::incident(
                tenant,
                incident,
                Command::RecordMerge(IncidentMerged {
                    into_name: into.clone(),
                    into_number,
                    survivor_paged,
                }),
            ))
            .await?;
        let text = if survivor_paged {
            format!(
                "Merged in Defender into incident {into}, which has its own Signl; this one is \
                 resolved."
            )
        } else {
            format!("Merged in Defender into incident {into}; this Signl now stands for it.")
        };
        if let Some(signl_id) = self.signl_id(state).await {
            self.perform(
                incident,
                Effect::AnnotateSignl {
                    signl_id,
                    text,
                    cause: format!("merge/{into}"),
                },
            )
            .await?;
        }
        Ok(())
    }

    /// `survivor` closed: the Signls that stood for it (of incidents merged into it) are
    /// resolved.
    pub(super) async fn resolve_followers(&self, survivor: &Incident) -> Result<(), StoreError> {
        let tenant = self.tenant();
        let followers: Vec<(IncidentKey, u32)> = self.store.read(|p| {
            p.followers_of(tenant, &survivor.name)
                .filter(|i| signl_up(i))
                .map(|i| (i.key, i.round))
                .collect()
        });
        for (follower, round) in followers {
            self.perform(
                follower,
                Effect::ResolveSignl {
                    external_id: external_id(tenant, follower),
                    round,
                },
            )
            .await?;
        }
        Ok(())
    }
}
