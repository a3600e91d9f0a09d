//! Effects from state: what the connector should have asked for, given what the log knows about
//! one incident, whatever messages were or were not delivered.
//!
//! Exists because effects used to be derived from events in flight (a Sentinel close resolved
//! the Signl only inside the handler of the observation that showed it): a crash or a store
//! error between that observation's commit and the intent's lost the effect for good. A pure
//! function of the state can be evaluated again by every reconcile pass, so a lost hand-off only
//! delays an effect.
//!
//! Invariants:
//! - Pure and total: the same state and policy always give the same effects, in a fixed order
//!   (page, tag, resolve, acknowledge).
//! - Never an effect already asked for: an effect whose id is open or done (see
//!   [`Incident::requested`]) is not desired again, so `desired − requested` is simply this list.
//! - Never a page for a closed incident, and filters are evaluated on the current state, so a
//!   change that brings an incident into the filter (a Low raised to High) pages it.
//! - The SIGNL4 write-backs (acknowledge, close, annotate) are not here: they are recorded with
//!   the action that implies them, in one commit (see `actors::status_sync::write_back_effects`).

use super::{Incident, SignlStatus};
use crate::events::Effect;
use crate::ids::external_id;

/// What the connector is configured to do, as far as effects from state go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// Statuses that page (case-insensitive); a Closed incident never pages.
    pub page_statuses: Vec<String>,
    /// Severities that page (case-insensitive); empty means every severity.
    pub page_severities: Vec<String>,
    /// Label added once the Signl exists (empty: none).
    pub tag: String,
    /// A close in Sentinel (not ours) resolves the Signl.
    pub resolve_on_sentinel_close: bool,
    /// An owner set in Sentinel after the page (not by us) acknowledges the Signl.
    pub ack_signl_on_sentinel_owner: bool,
}

fn listed(list: &[String], value: &str) -> bool {
    list.iter().any(|s| s.eq_ignore_ascii_case(value))
}

/// True when the incident's current round should be paged and nothing was asked for yet.
pub fn wants_page(state: &Incident, policy: &Policy) -> bool {
    state.observed()
        && !state.closed_in_sentinel()
        && state.signl.status == SignlStatus::None
        && listed(&policy.page_statuses, &state.status)
        && (policy.page_severities.is_empty() || listed(&policy.page_severities, &state.severity))
        && !state.requested(&raise(state))
}

fn raise(state: &Incident) -> Effect {
    Effect::RaiseSignl {
        external_id: external_id(state.tenant, state.key),
        round: state.round,
    }
}

/// The effects the state implies and the log has not asked for yet (see the module invariants).
pub fn desired_effects(state: &Incident, policy: &Policy) -> Vec<Effect> {
    let mut out = Vec::new();
    if !state.observed() {
        return out;
    }
    if wants_page(state, policy) {
        out.push(raise(state));
    }
    let paged = matches!(
        state.signl.status,
        SignlStatus::Open | SignlStatus::Acknowledged | SignlStatus::Closed
    );
    let open = matches!(
        state.signl.status,
        SignlStatus::Open | SignlStatus::Acknowledged
    );
    let tag = Effect::TagIncident {
        label: policy.tag.clone(),
    };
    if paged && !policy.tag.is_empty() && !state.requested(&tag) {
        out.push(tag);
    }
    // Our own writes never trigger these: the connector closes an incident only after its Signl
    // was closed, and sets an owner only after its Signl was acknowledged. So a closed incident
    // with an open Signl, or a new owner on an open Signl, is an analyst's doing, whatever
    // writes (a tag) came after it.
    let external = external_id(state.tenant, state.key);
    if state.closed_in_sentinel() {
        let resolve = Effect::ResolveSignl {
            external_id: external,
            round: state.round,
        };
        // A Defender merge decides for itself: once recorded, the Signl is resolved only when
        // the survivor has a Signl of its own (otherwise it stands for the survivor).
        let merge_allows = match (&state.redirected_to, &state.merged_into) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(_)) => state.merge_survivor_paged,
        };
        if policy.resolve_on_sentinel_close && open && merge_allows && !state.requested(&resolve) {
            out.push(resolve);
        }
        return out;
    }
    let new_owner = state.owner.is_some() && state.owner != state.signl.owner_at_raise;
    let acknowledge = Effect::AcknowledgeSignl {
        external_id: external,
        round: state.round,
    };
    if policy.ack_signl_on_sentinel_owner
        && state.signl.status == SignlStatus::Open
        && new_owner
        && !state.requested(&acknowledge)
    {
        out.push(acknowledge);
    }
    out
}
