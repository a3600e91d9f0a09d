//! sentinel-signl4: a single-binary connector between Microsoft Sentinel and SIGNL4.
//!
//! The crate is the binary's library half: the command line ([`cli`]), configuration, the HTTP
//! clients, telemetry setup and the demo. The emulated Azure and SIGNL4 services that the
//! `sandbox` and `demo` commands run live in the `sandbox` crate, the actors in `actors`, and the
//! chaos harness in `harness` (a dev-dependency: never part of this library). The
//! event log and incident model live in the `store` crate; every transition the connector makes
//! is recorded there before it acts, which is what the audit tool reads.

pub mod admin;
pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod run;
pub mod telemetry;
pub mod webhook;
