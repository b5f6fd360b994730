//! scanpay: a payment terminal daemon for a Raspberry Pi cash register.
//!
//! The file layout is a map of the architecture (see ARCHITECTURE.md):
//! `protocol` and `engine` are pure; everything else is a thin adapter or the driver loop.

pub mod cli;
pub mod config;
pub mod daemon;
pub mod display;
pub mod engine;
pub mod gateway;
pub mod journal;
pub mod protocol;
pub mod register;
pub mod scanner;
pub mod simulator;
pub mod systemd;
