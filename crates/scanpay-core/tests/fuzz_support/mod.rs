//! How every `fuzz_*` property test runs: the case count and the seed, from the environment.
//!
//! - `SCANPAY_FUZZ_CASES` (default 10,000): cases per target; raise it for a longer run.
//! - `SCANPAY_FUZZ_SEED`: the seed to run with; without it each run draws a fresh one. A
//!   failing target names its seed in the panic message, and the same seed with the same case
//!   count replays the same inputs (and the same shrinking) exactly.
//!
//! Shared by the core's tests and the root package's (`#[path]`), so the knobs are one.

use std::fmt::Debug;
use std::hash::{BuildHasher, Hasher};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseResult, TestError, TestRunner};

/// Cases per target when `SCANPAY_FUZZ_CASES` is not set.
pub const DEFAULT_CASES: u32 = 10_000;

fn cases() -> u32 {
    match std::env::var("SCANPAY_FUZZ_CASES") {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| {
            panic!("SCANPAY_FUZZ_CASES={text:?} is not a whole number of cases; unset it for {DEFAULT_CASES}")
        }),
        Err(_) => DEFAULT_CASES,
    }
}

fn seed() -> u64 {
    match std::env::var("SCANPAY_FUZZ_SEED") {
        Ok(text) => text.trim().parse().unwrap_or_else(|_| {
            panic!("SCANPAY_FUZZ_SEED={text:?} is not a u64; use the seed a failing run printed")
        }),
        // std's per-process random hasher keys: a fresh seed without a clock or an RNG crate.
        Err(_) => std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish(),
    }
}

/// Runs `property` on `strategy`'s inputs; a failure (a returned error or a panic) fails the
/// test with the shrunk input and the seed that replays it.
pub fn check<S>(target: &str, strategy: S, property: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let (cases, seed) = (cases(), seed());
    // Written past libtest's capture (the stderr descriptor, not `println!`): every run's
    // log, CI's too, names each target's case count and seed.
    {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr().lock(),
            "fuzz {target}: {cases} cases, SCANPAY_FUZZ_SEED={seed}"
        );
    }
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // The seed is the reproduction; no regression files in the source tree.
        failure_persistence: None,
        // An input is a few hundred bytes; shrinking a failure must stay quick.
        max_shrink_iters: 2_048,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    match runner.run(&strategy, property) {
        Ok(()) => {}
        Err(TestError::Fail(why, input)) => panic!(
            "fuzz {target} failed: {why}\n  minimal input: {input:#?}\n  reproduce: SCANPAY_FUZZ_SEED={seed} SCANPAY_FUZZ_CASES={cases} cargo test --test <this file> {target}"
        ),
        Err(TestError::Abort(why)) => panic!(
            "fuzz {target} aborted: {why} (SCANPAY_FUZZ_SEED={seed}, SCANPAY_FUZZ_CASES={cases}); a generator rejects too many inputs"
        ),
    }
}
