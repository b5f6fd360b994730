//! Architecture Invariant 1, enforced: the core never reads a clock, touches the filesystem
//! or the network, sleeps, spawns, or reads the environment. (Crates that could do so are
//! kept out by this package's Cargo.toml; this test keeps out the standard library's own.)

use std::path::{Path, PathBuf};

/// What the core must not call, and why each is named.
const FORBIDDEN: &[(&str, &str)] = &[
    ("Instant::now", "a clock: time is an argument (`now`)"),
    ("SystemTime::now", "a clock: time is an argument (`now`)"),
    (
        "UNIX_EPOCH",
        "wall-clock arithmetic belongs to the adapters",
    ),
    (
        "std::fs",
        "the filesystem belongs to the journal and config adapters",
    ),
    (
        "std::net",
        "the network belongs to the gateway and register adapters",
    ),
    ("std::thread", "threads and sleeps belong to the daemon"),
    ("std::process", "processes belong to the CLI"),
    ("std::env", "the environment belongs to the CLI and config"),
    ("std::io::stdin", "input belongs to the scanner adapter"),
    ("println!", "output belongs to the adapters"),
    ("eprintln!", "output belongs to the adapters"),
    (
        "getrandom",
        "randomness is handed in (the journal reads /dev/urandom)",
    ),
];

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The code before its `#[cfg(test)]` module: tests may read files and clocks.
fn non_test_code(source: &str) -> &str {
    source.split("#[cfg(test)]").next().unwrap_or(source)
}

#[test]
fn the_core_does_no_io_and_reads_no_clock() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() >= 10,
        "expected the core's sources under {}",
        src.display()
    );

    let mut violations = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        for (number, line) in non_test_code(&source).lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for (needle, why) in FORBIDDEN {
                if code.contains(needle) {
                    violations.push(format!(
                        "{}:{}: `{needle}` ({why}): {}",
                        file.strip_prefix(&src).unwrap().display(),
                        number + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "impure calls in the core:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_check_finds_what_it_looks_for() {
    // The scan above must be able to fail: a line like this one is caught.
    let sample = "fn f() { let t = std::time::Instant::now(); }\n#[cfg(test)]\nmod t { fn g() { std::fs::read(\"x\"); } }";
    let code = non_test_code(sample);
    assert!(code.contains("Instant::now"));
    assert!(!code.contains("std::fs"), "test modules are exempt");
}
