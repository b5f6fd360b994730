//! scanpay: a payment terminal daemon for a Raspberry Pi cash register.
//!
//! The file layout is a map of the architecture (see ARCHITECTURE.md):
//! `protocol` and `engine` are pure and live in the `scanpay-core` package (re-exported here,
//! so `scanpay::protocol` and `crate::engine` name them); everything else is a thin adapter or
//! the driver loop.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod display;
pub mod gateway;
pub mod http_conn;
pub mod journal;
pub mod reconcile;
pub mod register;
pub mod scanner;
pub mod simulator;
pub mod systemd;

pub use scanpay_core::{engine, protocol};
