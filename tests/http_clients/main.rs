//! The outbound HTTP clients (`src/http/`) over real HTTP on loopback, against the sandbox's
//! emulators (and, for malformed answers the emulators never give, a tiny raw TCP server).
//!
//! Every test starts its own sandbox and its own `HttpContext`: pooled connections belong to the
//! runtime that opened them, and each `#[tokio::test]` has its own runtime.
//!
//! One test binary, one module per client concern.

#[path = "../common/mod.rs"]
mod common;

mod log_analytics;
mod pure;
mod sentinel_reads;
mod sentinel_writes;
mod signl4;
mod throttling;
mod tokens;
mod unexpected;
