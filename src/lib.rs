//! sentinel-signl4: a single-binary connector between Microsoft Sentinel and SIGNL4.
//!
//! The crate is the binary's library half: the command line ([`cli`]), telemetry setup, the
//! demo and the built-in [`sandbox`] of emulated Azure and SIGNL4 services. The event log and
//! incident model live in the `store` crate; every transition the connector makes is recorded
//! there before it acts, which is what the audit tool reads.

pub mod admin;
pub mod chaos;
pub mod cli;
pub mod config;
pub mod demo;
pub mod http;
pub mod run;
pub mod sandbox;
pub mod telemetry;
pub mod webhook;
