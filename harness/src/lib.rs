//! The test harnesses of sentinel-signl4, kept out of the product's library (see Cargo.toml):
//! [`chaos`], the kill-and-restart harness of `tests/chaos.rs` and `examples/chaos.rs`.
//!
//! Invariant: a harness drives the connector only from outside (its binary, the sandbox, and the
//! log read once no connector runs); it links none of the connector's code.

pub mod chaos;
