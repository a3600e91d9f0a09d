//! The actix actors of sentinel-signl4 and the ports they call.
//!
//! Per connector (one customer tenant), incidents flow Poller -> Enricher -> Forwarder as typed
//! messages ([`messages`]). Each actor records what it saw or is about to do in the event log
//! (`store`) *before* acting on it, and acts only on durable state, so a crash at any point
//! resumes from the log: an intent without an outcome is reconciled, never blindly repeated.
//!
//! Layout (witnet-rust): `<actor>/{mod,actor,handlers}.rs` — `mod.rs` the state and pure
//! helpers, `actor.rs` the lifecycle, `handlers.rs` one `impl Handler` per message.

pub mod connector;
pub mod enricher;
pub mod forwarder;
pub mod health;
pub mod known;
pub mod messages;
pub mod observation;
pub mod parking;
pub mod poller;
pub mod ports;
pub mod retry;
pub mod settings;
pub mod shipper;
pub mod status_sync;
pub mod tracker;
