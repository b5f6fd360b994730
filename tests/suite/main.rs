//! Every integration test of the scanpay package, in one test binary: one crate to compile
//! and link instead of forty (the largest part of `cargo test`'s and the ARM check's build
//! time). Each file is a module named as its file was: `cargo test --test suite powercut::`
//! runs the power-cut suite alone. The `*_support` modules are shared fixtures.

#[allow(dead_code)] // each fixture serves many tests; not every part is used
mod e2e_support;
#[allow(dead_code)] // each fixture serves many tests; not every part is used
mod engine_support;
#[allow(dead_code)] // each fixture serves many tests; not every part is used
mod fault_support;
#[allow(dead_code)] // each fixture serves many tests; not every part is used
mod files_support;
#[allow(dead_code)]
#[path = "../../crates/scanpay-core/tests/fuzz_support/mod.rs"]
mod fuzz_support;
#[allow(dead_code)] // each fixture serves many tests; not every part is used
mod powercut_support;
#[allow(dead_code)] // each fixture serves many tests; not every part is used
mod record_support;
// sale_fixtures.rs is shared with the library's unit tests and names its types through
// `crate::engine` / `crate::protocol`.
use scanpay::{engine, protocol};
#[allow(dead_code)]
#[path = "../../src/register/sale_fixtures.rs"]
mod sale_fixtures;

mod cli_check_config;
mod cli_gateway;
mod cli_journal;
mod cli_status;
mod client_vs_simulator;
mod config_example;
mod config_systemd_unit;
mod config_validation;
mod crash_suite;
mod daemon_driver;
mod demo_terminal;
mod display_drivers;
mod display_golden;
mod display_qr;
mod e2e_daemon;
mod e2e_export;
mod e2e_journal_damage;
mod e2e_not_found;
mod e2e_reconcile;
mod engine_journal_restart;
mod engine_property;
mod engine_transcripts;
mod fuzz_inputs;
mod gateway_client;
mod journal_contract;
mod local_doors;
mod network_suite;
mod no_secrets_written;
mod openapi;
mod powercut;
mod protocol_doc;
mod register_api;
mod register_client_py;
mod scanner_hid;
mod scanner_serial;
mod scanner_termios;
mod simulator;
mod storage_faults;
