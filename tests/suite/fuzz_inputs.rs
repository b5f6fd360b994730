//! Property tests of what comes from outside the core: scanner bytes (framing) and config
//! text. Each target runs `SCANPAY_FUZZ_CASES` cases (10,000 by default) from a printed seed;
//! see `crates/scanpay-core/tests/fuzz_support`.

use crate::fuzz_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;

use scanpay::config::{Config, HostFacts, Origin};
use scanpay::scanner::framing::{Frame, Framer, FramingRules, Suffix};

use fuzz_support::check;

/// A payment code the inputs carry; no refusal may ever show it whole.
const CODE: &str = "134523198765432101";

fn rules() -> impl Strategy<Value = FramingRules> {
    let suffix = prop_oneof![
        Just(Suffix::Cr),
        Just(Suffix::Lf),
        Just(Suffix::CrLf),
        Just(Suffix::None)
    ];
    let affix = prop_oneof![Just(""), Just("]E0"), Just("1"), Just(" "), Just("01")];
    (suffix, any::<bool>(), 1usize..48, affix.clone(), affix).prop_map(
        |(suffix, waits_forever, max_len, prefix, end)| FramingRules {
            suffix,
            // Waiting forever is only valid with a terminator.
            inter_char_timeout: (suffix == Suffix::None || !waits_forever)
                .then_some(Duration::from_millis(100)),
            max_len,
            strip_prefix: prefix.into(),
            strip_suffix: end.into(),
        },
    )
}

/// A scanner's byte stream: codes, line ends, spaces, noise of a wrong baud rate.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => "[0-9]{1,20}".prop_map(String::into_bytes),
        2 => Just(CODE.as_bytes().to_vec()),
        2 => prop_oneof![Just(b"\r".to_vec()), Just(b"\n".to_vec()), Just(b"\r\n".to_vec())],
        1 => Just(b" \t".to_vec()),
        1 => Just(b"]E0".to_vec()),
        1 => vec(any::<u8>(), 1..4),
    ];
    vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

/// What a framer makes of `chunks`, the i-th arriving `gaps[..=i]` after the start, then
/// silence: each frame as text.
fn frame(rules: &FramingRules, chunks: &[&[u8]], gaps: &[Duration]) -> Vec<String> {
    let start = Instant::now();
    let mut framer = Framer::new(rules.clone());
    let mut now = start;
    let mut frames = Vec::new();
    let drain = |framer: &mut Framer, frames: &mut Vec<String>| {
        while let Some(frame) = framer.poll_output() {
            frames.push(match frame {
                Frame::Scanned(text) => format!("scanned {}", text.as_str()),
                Frame::Refused(refusal) => format!("refused {refusal}"),
            });
        }
    };
    for (chunk, gap) in chunks.iter().zip(gaps) {
        now += *gap;
        framer.handle_bytes(chunk, now);
        drain(&mut framer, &mut frames);
    }
    framer.handle_timeout(now + Duration::from_secs(1));
    drain(&mut framer, &mut frames);
    frames
}

/// Cuts `bytes` at the given fractions of its length.
fn cut<'a>(bytes: &'a [u8], at: &[f64]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = at
        .iter()
        .map(|f| (bytes.len() as f64 * f) as usize)
        .collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut from = 0;
    for point in points.into_iter().chain([bytes.len()]) {
        chunks.push(&bytes[from..point]);
        from = point;
    }
    chunks
}

#[test]
fn framing_does_not_depend_on_how_bytes_are_chunked() {
    let input = (rules(), stream(), vec(0.0..1.0f64, 0..8), vec(0u64..12, 9));
    check(
        "framing_does_not_depend_on_how_bytes_are_chunked",
        input,
        |(rules, bytes, at, gaps_ms)| {
            let whole = frame(&rules, &[&bytes], &[Duration::ZERO]);
            let chunks = cut(&bytes, &at);
            // All at once, or spread out over less than the inter-character timeout in all
            // (an empty chunk is no byte: the gap runs on across it): the same lines.
            let same_instant = vec![Duration::ZERO; chunks.len()];
            prop_assert_eq!(&frame(&rules, &chunks, &same_instant), &whole);
            let spread: Vec<Duration> = gaps_ms
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect();
            prop_assert_eq!(&frame(&rules, &chunks, &spread), &whole);
            for frame in &whole {
                if let Some(text) = frame.strip_prefix("scanned ") {
                    prop_assert!(!text.is_empty() && text.len() <= rules.max_len, "{}", frame);
                    // Printable ASCII; whitespace inside a line is passed on (the engine refuses it).
                    prop_assert!(text
                        .bytes()
                        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()));
                    prop_assert_eq!(text.trim(), text);
                } else {
                    prop_assert!(!frame.contains(CODE), "a refusal shows the code: {}", frame);
                }
            }
            Ok(())
        },
    );
}

/// A silence longer than the inter-character timeout ends a line (no terminator) or drops it
/// (terminator): never does a line run on into the next scan.
#[test]
fn a_quiet_gap_never_joins_two_scans() {
    let input = (rules(), "[0-9]{1,20}", "[0-9]{1,20}");
    check(
        "a_quiet_gap_never_joins_two_scans",
        input,
        |(rules, a, b)| {
            let Some(timeout) = rules.inter_char_timeout else {
                return Ok(());
            };
            let gaps = [Duration::ZERO, timeout + Duration::from_millis(1)];
            let frames = frame(&rules, &[a.as_bytes(), b.as_bytes()], &gaps);
            let joined = format!("{a}{b}");
            for frame in &frames {
                if let Some(text) = frame.strip_prefix("scanned ") {
                    prop_assert!(
                        !text.contains(&joined),
                        "{:?} joined in {}",
                        (&a, &b),
                        frame
                    );
                }
            }
            Ok(())
        },
    );
}

const KEY: &str = "merchant-key-0123456789abcdef";
const EXAMPLE: &str = include_str!("../../systemd/config.example.toml");

/// A directory with a private merchant key, and the validation origin pointing at it.
fn key_in_place() -> (tempfile::TempDir, Origin, String) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("merchant.key");
    fs::write(&key, format!("{KEY}\n")).unwrap();
    fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
    let origin = Origin {
        dir: dir.path().to_path_buf(),
        host: HostFacts {
            machine_id: Some("3f9a1c02d5e84b7f9c0e1a2b3c4d5e6f".into()),
            hostname: None,
            hardware_serial: None,
        },
    };
    let example = EXAMPLE.replace("/etc/scanpay/merchant.key", key.to_str().unwrap());
    (dir, origin, example)
}

/// A TOML basic string holding `text` exactly.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Values of every TOML type, plausible and not.
fn toml_value() -> impl Strategy<Value = String> {
    let scalar = prop_oneof![
        3 => any::<i64>().prop_map(|n| n.to_string()),
        2 => (0i64..70_000).prop_map(|n| n.to_string()),
        2 => any::<String>().prop_map(|s| toml_string(&s)),
        2 => prop_oneof![
            Just("cr"), Just("none"), Just("hid"), Just("stdin"), Just("serial"), Just("us"),
            Just("png"), Just("terminal"), Just("st7789"), Just("127.0.0.1:0"), Just(""),
            Just("http://x"), Just("SP3F9A1C"), Just("/dev/null"), Just("zh"), Just("en"),
        ]
        .prop_map(toml_string),
        1 => any::<f64>().prop_map(|f| format!("{f:?}")).prop_filter("TOML float", |f| !f.contains("inf") && !f.contains("NaN")),
        1 => any::<bool>().prop_map(|b| b.to_string()),
    ];
    prop_oneof![
        6 => scalar.clone(),
        1 => vec(scalar.clone(), 0..3).prop_map(|items| format!("[{}]", items.join(", "))),
        1 => scalar.prop_map(|s| format!("{{ a = {s} }}")),
    ]
}

/// The `key = value` lines of the example, documented (`#key = `) or set.
fn assignment_lines() -> Vec<(usize, String)> {
    EXAMPLE
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let rest = line.strip_prefix('#').unwrap_or(line);
            let (key, _) = rest.split_once(" = ")?;
            let is_key =
                !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            is_key.then(|| (i, key.to_string()))
        })
        .collect()
}

#[test]
fn a_config_with_any_value_for_a_key_validates_or_names_that_key() {
    let (_dir, origin, example) = key_in_place();
    let lines = assignment_lines();
    assert!(
        lines.len() > 40,
        "the example's keys were not found: {lines:?}"
    );
    let input = (0..lines.len(), toml_value());
    check(
        "a_config_with_any_value_for_a_key_validates_or_names_that_key",
        input,
        |(which, value)| {
            let (line_no, key) = &lines[which];
            let text: String = example
                .lines()
                .enumerate()
                .map(|(i, line)| {
                    if i == *line_no {
                        format!("{key} = {value}\n")
                    } else {
                        format!("{line}\n")
                    }
                })
                .collect();
            if let Err(err) = Config::from_toml(&text, Path::new("fuzz.toml"), &origin) {
                let shown = err.to_string();
                prop_assert!(!shown.contains(KEY), "the merchant key in {}", shown);
                let problems = err.problems();
                // The key's own problem, or a rule between keys that names it (connect_timeout_ms
                // is refused as the request_timeout_ms it must stay under).
                let names_it = |p: &scanpay::config::Problem| {
                    p.key.ends_with(&format!(" {key}"))
                        || p.key == *key
                        || p.message.contains(key.as_str())
                };
                prop_assert!(
                    problems.iter().any(names_it),
                    "{} = {} refused without naming it: {}",
                    key,
                    value,
                    shown
                );
            }
            Ok(())
        },
    );
}

/// Text that is TOML-like often enough to reach validation: tokens of the example's lines.
fn toml_soup() -> impl Strategy<Value = String> {
    let example_lines: Vec<String> = EXAMPLE.lines().map(|l| format!("{l}\n")).collect();
    let token = prop_oneof![
        4 => proptest::sample::select(example_lines),
        1 => Just("[".to_string()),
        1 => Just("]".to_string()),
        1 => Just(" = ".to_string()),
        1 => Just("\"".to_string()),
        1 => Just("'''".to_string()),
        1 => Just("\n".to_string()),
        1 => Just("[[scanner]]\n".to_string()),
        1 => Just("é".to_string()),
        1 => toml_value(),
        1 => any::<String>(),
    ];
    vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

#[test]
fn any_config_text_validates_or_names_a_key_never_panics() {
    let (_dir, origin, _) = key_in_place();
    check(
        "any_config_text_validates_or_names_a_key_never_panics",
        toml_soup(),
        |text| {
            if let Err(err) = Config::from_toml(&text, Path::new("fuzz.toml"), &origin) {
                let problems = err.problems();
                prop_assert!(!problems.is_empty(), "no problem named: {}", err);
                for problem in problems {
                    prop_assert!(!problem.key.is_empty() && !problem.message.is_empty());
                }
                prop_assert!(!err.to_string().contains(KEY));
            }
            Ok(())
        },
    );
}
