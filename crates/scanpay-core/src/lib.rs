//! scanpay's pure core: the gateway's wire format (`protocol`) and the sale lifecycle
//! (`engine`).
//!
//! This crate is its own package so that Architecture Invariant 1 is enforced by the build,
//! not promised: its Cargo.toml names no runtime, HTTP, storage or device crate, so an import
//! of one does not compile, and `tests/purity.rs` fails on a clock, filesystem, network,
//! thread or process call in its source. Time is always an argument.

pub mod engine;
pub mod protocol;
