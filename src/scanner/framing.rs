//! Framing: bytes from a scanner in, complete scanned texts (or refusals) out.
//!
//! Pure, like the engine: it never reads a clock and never touches a device. The adapter
//! passes the current time with every input (`handle_bytes`, `handle_timeout`), asks when it
//! next needs to be woken (`poll_timeout`) and drains what is ready (`poll_output`).
//!
//! A line ends at the configured terminator, or, with no terminator, after a quiet gap of the
//! inter-character timeout. With a terminator, a partial line followed by silence is dropped
//! (a scan cut short by a glitch must not merge with the next one). Whatever goes wrong with
//! one line is reported as a [`Refusal`] and the framer carries on with the next.
//!
//! What it deliberately does not know: whether a text is a payment code (the engine decides),
//! which device the bytes came from, or how to show a refusal.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// What the scanner sends after each code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suffix {
    /// Carriage return (`\r`) ends a code.
    Cr,
    /// Line feed (`\n`) ends a code.
    Lf,
    /// `\r\n`: the line feed ends a code and the carriage return before it is dropped.
    CrLf,
    /// Nothing: a code ends when the scanner has been quiet for the inter-character timeout.
    None,
}

impl Suffix {
    /// The byte that ends a line, if any.
    fn terminator(self) -> Option<u8> {
        match self {
            Suffix::Cr => Some(b'\r'),
            Suffix::Lf | Suffix::CrLf => Some(b'\n'),
            Suffix::None => None,
        }
    }
}

impl fmt::Display for Suffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Suffix::Cr => "cr",
            Suffix::Lf => "lf",
            Suffix::CrLf => "crlf",
            Suffix::None => "none",
        })
    }
}

/// How to cut a byte stream into scanned texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingRules {
    pub suffix: Suffix,
    /// The longest quiet gap inside one code. `None` waits forever (stdin typed by hand); only
    /// valid with a terminator.
    pub inter_char_timeout: Option<Duration>,
    /// Longest line accepted, in bytes, before stripping.
    pub max_len: usize,
    /// Removed from the start of a code when present (e.g. a symbology identifier).
    pub strip_prefix: String,
    /// Removed from the end of a code when present.
    pub strip_suffix: String,
}

impl Default for FramingRules {
    fn default() -> Self {
        FramingRules {
            suffix: Suffix::Cr,
            inter_char_timeout: Some(Duration::from_millis(100)),
            max_len: 128,
            strip_prefix: String::new(),
            strip_suffix: String::new(),
        }
    }
}

/// A complete scanned text. It may be a payment code, so `Debug` and `Display` show at most
/// the first and last four characters; `as_str` gives the whole text to whoever validates it.
#[derive(Clone, PartialEq, Eq)]
pub struct ScannedText {
    text: String,
    completed_at: Instant,
}

impl ScannedText {
    /// For fakes and tests of the consumers; the framer makes the real ones.
    pub fn new(text: impl Into<String>, completed_at: Instant) -> ScannedText {
        ScannedText {
            text: text.into(),
            completed_at,
        }
    }

    /// The whole text, for validation as a payment code.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_string(self) -> String {
        self.text
    }

    /// When the byte that completed it arrived (or the gap ended), for latency measurements.
    pub fn completed_at(&self) -> Instant {
        self.completed_at
    }

    /// At most the first and last four characters.
    pub fn masked(&self) -> String {
        crate::protocol::payment_code::mask(&self.text)
    }
}

impl fmt::Debug for ScannedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ScannedText({})", self.masked())
    }
}

impl fmt::Display for ScannedText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Why a scanned line was not passed on. Every variant carries only a masked excerpt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("scanned line {masked} is longer than the {max} characters allowed and was dropped; scan again, and check that [scanner] suffix matches what the scanner sends after each code (codes that never end run together)")]
    TooLong { max: usize, masked: String },
    #[error("scanned line {masked} ({len} bytes) contains binary noise, control or non-ASCII characters and was dropped; check the scanner's baud rate (serial) or that [scanner] layout matches the keyboard layout it emulates (hid), then scan again")]
    Noise { len: usize, masked: String },
    #[error("partial scan {masked} ({len} bytes) dropped: no line end arrived within {gap_ms} ms; scan again, and check that [scanner] suffix matches what the scanner sends (a keyboard scanner must end codes with Enter, not Tab)")]
    Incomplete {
        len: usize,
        masked: String,
        gap_ms: u128,
    },
    #[error("keyboard scanner typed {key}, which the keyboard layout does not map, so scan {masked} was dropped; set [scanner] layout to the layout the scanner emulates (us, de or fr), or set the scanner to a US keyboard layout")]
    UnknownKey { key: String, masked: String },
}

/// What the framer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Scanned(ScannedText),
    Refused(Refusal),
}

/// The framing state machine. See the module documentation.
pub struct Framer {
    rules: FramingRules,
    /// The current line, capped at `max_len` bytes.
    line: Vec<u8>,
    /// When the last byte of the current line arrived; `None` when no line is pending.
    last_byte_at: Option<Instant>,
    /// The current line overflowed and was already refused: discard until it ends.
    discarding: bool,
    /// A key that could not be mapped was typed into the current line.
    unknown_key: Option<String>,
    outputs: VecDeque<Frame>,
}

/// Shows how much is pending, never what: the pending line may be a payment code.
impl fmt::Debug for Framer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Framer")
            .field("rules", &self.rules)
            .field("pending_bytes", &self.line.len())
            .field("last_byte_at", &self.last_byte_at)
            .field("discarding", &self.discarding)
            .field("unknown_key", &self.unknown_key)
            .field("outputs", &self.outputs)
            .finish()
    }
}

impl Framer {
    pub fn new(rules: FramingRules) -> Framer {
        Framer {
            rules,
            line: Vec::new(),
            last_byte_at: None,
            discarding: false,
            unknown_key: None,
            outputs: VecDeque::new(),
        }
    }

    pub fn rules(&self) -> &FramingRules {
        &self.rules
    }

    /// Bytes that arrived at `now`.
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        // A wake-up may come late; a stale partial line must not swallow the new bytes.
        self.handle_timeout(now);
        let terminator = self.rules.suffix.terminator();
        for &byte in bytes {
            if Some(byte) == terminator {
                self.end_line(now, true);
                continue;
            }
            self.last_byte_at = Some(now);
            if self.discarding {
                continue;
            }
            if self.line.len() == self.rules.max_len {
                self.line.push(byte);
                let masked = mask_bytes(&self.line);
                // A long run of garbage is a wrong baud rate more often than a long code.
                let refusal = if self.line.iter().any(|&b| is_noise(b)) {
                    Refusal::Noise {
                        len: self.line.len(),
                        masked,
                    }
                } else {
                    Refusal::TooLong {
                        max: self.rules.max_len,
                        masked,
                    }
                };
                self.outputs.push_back(Frame::Refused(refusal));
                self.line.clear();
                self.discarding = true;
                continue;
            }
            self.line.push(byte);
        }
    }

    /// A key the keyboard layout cannot map was typed at `now`: the current code is spoiled.
    pub fn handle_unknown_key(&mut self, key: &str, now: Instant) {
        self.handle_timeout(now);
        self.last_byte_at = Some(now);
        if self.unknown_key.is_none() {
            self.unknown_key = Some(key.to_string());
        }
    }

    /// Time passed: ends (no terminator) or drops (terminator) a line that has gone quiet.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.poll_timeout() {
            if now >= deadline {
                let complete = self.rules.suffix == Suffix::None;
                self.end_line(deadline, complete);
            }
        }
    }

    /// When `handle_timeout` must next be called, if a line is pending.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let last = self.last_byte_at?;
        Some(last + self.rules.inter_char_timeout?)
    }

    /// The next scanned text or refusal, oldest first.
    pub fn poll_output(&mut self) -> Option<Frame> {
        self.outputs.pop_front()
    }

    /// Closes the current line. `complete` is false when it was cut short by silence.
    fn end_line(&mut self, at: Instant, complete: bool) {
        let line = std::mem::take(&mut self.line);
        let discarding = std::mem::replace(&mut self.discarding, false);
        let unknown_key = self.unknown_key.take();
        self.last_byte_at = None;
        if discarding {
            return; // already refused as too long
        }
        if let Some(key) = unknown_key {
            let masked = mask_bytes(&line);
            self.outputs
                .push_back(Frame::Refused(Refusal::UnknownKey { key, masked }));
            return;
        }
        if line.iter().any(|&b| is_noise(b)) {
            self.outputs.push_back(Frame::Refused(Refusal::Noise {
                len: line.len(),
                masked: mask_bytes(&line),
            }));
            return;
        }
        // Only printable ASCII and whitespace remain, so this cannot fail.
        let text = String::from_utf8(line).expect("checked: ASCII only");
        let text = self.strip(&text);
        if text.is_empty() {
            return; // a bare line end or stray whitespace: nothing was scanned
        }
        if !complete {
            let gap = self.rules.inter_char_timeout.unwrap_or_default();
            self.outputs.push_back(Frame::Refused(Refusal::Incomplete {
                len: text.len(),
                masked: crate::protocol::payment_code::mask(text),
                gap_ms: gap.as_millis(),
            }));
            return;
        }
        self.outputs.push_back(Frame::Scanned(ScannedText {
            text: text.to_string(),
            completed_at: at,
        }));
    }

    fn strip<'a>(&self, text: &'a str) -> &'a str {
        let mut text = text.trim();
        if !self.rules.strip_prefix.is_empty() {
            text = text.strip_prefix(&self.rules.strip_prefix).unwrap_or(text);
        }
        if !self.rules.strip_suffix.is_empty() {
            text = text.strip_suffix(&self.rules.strip_suffix).unwrap_or(text);
        }
        text.trim()
    }
}

/// Bytes a scanner never sends inside a code: controls other than tab/CR/LF, DEL, non-ASCII.
/// Non-ASCII is refused too: wallet codes are digits, and garbage at a wrong baud rate is
/// mostly high bytes.
fn is_noise(byte: u8) -> bool {
    !(byte.is_ascii_graphic() || matches!(byte, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Like `payment_code::mask`, for raw bytes: at most the first and last four bytes, with
/// anything unprintable written as `\xNN` so the log shows what the noise was.
fn mask_bytes(bytes: &[u8]) -> String {
    let show = |b: &u8| {
        if b.is_ascii_graphic() || *b == b' ' {
            (*b as char).to_string()
        } else {
            format!("\\x{b:02x}")
        }
    };
    if bytes.len() <= 8 {
        return "*".repeat(bytes.len());
    }
    let head: String = bytes[..4].iter().map(show).collect();
    let tail: String = bytes[bytes.len() - 4..].iter().map(show).collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    /// One step of a transcript: at `ms` after the start, bytes arrive (or an unknown key).
    enum Step {
        Bytes(u64, &'static [u8]),
        UnknownKey(u64, &'static str),
    }
    use Step::*;

    /// Runs the steps through a framer, jumping simulated time to each pending deadline before
    /// the next input (and after the last), and prints every output with its time.
    fn check(rules: FramingRules, steps: &[Step], expected: Expect) {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut framer = Framer::new(rules);
        let mut transcript = String::new();
        let drain = |framer: &mut Framer, transcript: &mut String| {
            while let Some(frame) = framer.poll_output() {
                let line = match frame {
                    Frame::Scanned(text) => format!(
                        "{}ms scanned {:?}",
                        (text.completed_at() - start).as_millis(),
                        text.as_str()
                    ),
                    Frame::Refused(refusal) => format!("refused {refusal:?}"),
                };
                transcript.push_str(&line);
                transcript.push('\n');
            }
        };
        for step in steps {
            let ms = match step {
                Bytes(ms, _) | UnknownKey(ms, _) => *ms,
            };
            while let Some(deadline) = framer.poll_timeout().filter(|d| *d <= at(ms)) {
                framer.handle_timeout(deadline);
                drain(&mut framer, &mut transcript);
            }
            match step {
                Bytes(_, bytes) => framer.handle_bytes(bytes, at(ms)),
                UnknownKey(_, key) => framer.handle_unknown_key(key, at(ms)),
            }
            drain(&mut framer, &mut transcript);
        }
        while let Some(deadline) = framer.poll_timeout() {
            framer.handle_timeout(deadline);
            drain(&mut framer, &mut transcript);
        }
        expected.assert_eq(&transcript);
    }

    fn rules(suffix: Suffix) -> FramingRules {
        FramingRules {
            suffix,
            ..FramingRules::default()
        }
    }

    #[test]
    fn each_suffix_ends_a_code() {
        check(
            rules(Suffix::Cr),
            &[Bytes(0, b"134523198765432101\r284523198765432101\r")],
            expect![[r#"
                0ms scanned "134523198765432101"
                0ms scanned "284523198765432101"
            "#]],
        );
        check(
            rules(Suffix::Lf),
            &[
                Bytes(0, b"134523198765432101\n"),
                Bytes(5, b"2845231987654321\n"),
            ],
            expect![[r#"
                0ms scanned "134523198765432101"
                5ms scanned "2845231987654321"
            "#]],
        );
        check(
            rules(Suffix::CrLf),
            &[Bytes(0, b"134523198765432101\r\n\r\n2845231987654321\r\n")],
            expect![[r#"
                0ms scanned "134523198765432101"
                0ms scanned "2845231987654321"
            "#]],
        );
    }

    #[test]
    fn without_a_suffix_a_quiet_gap_ends_the_code() {
        check(
            rules(Suffix::None),
            &[
                Bytes(0, b"13452319"),
                Bytes(40, b"8765432101"),
                Bytes(400, b"2845231987654321"),
            ],
            expect![[r#"
                140ms scanned "134523198765432101"
                500ms scanned "2845231987654321"
            "#]],
        );
    }

    #[test]
    fn a_code_split_across_reads_is_joined() {
        check(
            rules(Suffix::CrLf),
            &[
                Bytes(0, b"1345"),
                Bytes(3, b"2319876"),
                Bytes(6, b"5432101\r"),
                Bytes(9, b"\n"),
            ],
            expect![[r#"
                9ms scanned "134523198765432101"
            "#]],
        );
    }

    #[test]
    fn a_partial_line_followed_by_silence_is_dropped_and_the_next_scan_is_clean() {
        check(
            rules(Suffix::Cr),
            &[Bytes(0, b"1345231"), Bytes(500, b"284523198765432101\r")],
            expect![[r#"
                refused Incomplete { len: 7, masked: "*******", gap_ms: 100 }
                500ms scanned "284523198765432101"
            "#]],
        );
    }

    #[test]
    fn a_late_wake_up_still_separates_a_stale_partial_from_new_bytes() {
        let start = Instant::now();
        let mut framer = Framer::new(rules(Suffix::Lf));
        framer.handle_bytes(b"99999", start);
        // No handle_timeout call in between: the next bytes come 1 s later.
        framer.handle_bytes(b"134523198765432101\n", start + Duration::from_secs(1));
        assert!(matches!(
            framer.poll_output(),
            Some(Frame::Refused(Refusal::Incomplete { len: 5, .. }))
        ));
        match framer.poll_output() {
            Some(Frame::Scanned(text)) => assert_eq!(text.as_str(), "134523198765432101"),
            other => panic!("expected the second code, got {other:?}"),
        }
        assert_eq!(framer.poll_output(), None);
    }

    #[test]
    fn whitespace_and_configured_prefix_and_suffix_are_stripped() {
        check(
            FramingRules {
                suffix: Suffix::Lf,
                strip_prefix: "]Q1".into(),
                strip_suffix: "#".into(),
                ..FramingRules::default()
            },
            &[Bytes(
                0,
                b"  ]Q1134523198765432101#\t\r\n2845231987654321\n]Q1 \n\r\n",
            )],
            expect![[r#"
                0ms scanned "134523198765432101"
                0ms scanned "2845231987654321"
            "#]],
        );
    }

    #[test]
    fn noise_is_refused_masked_and_the_next_code_still_reads() {
        check(
            rules(Suffix::Cr),
            &[
                Bytes(0, b"\x00\xff\xfe12345678\x80\x81\r"),
                Bytes(10, b"\x1b\r"),
                Bytes(20, b"134523198765432101\r"),
            ],
            expect![[r#"
                refused Noise { len: 13, masked: "\\x00\\xff\\xfe1…78\\x80\\x81" }
                refused Noise { len: 1, masked: "*" }
                20ms scanned "134523198765432101"
            "#]],
        );
    }

    #[test]
    fn an_over_long_line_is_refused_once_then_discarded_until_its_end() {
        check(
            FramingRules {
                max_len: 20,
                ..rules(Suffix::Lf)
            },
            &[
                Bytes(0, b"1111222233334444555566667777"),
                Bytes(5, b"88889999\n"),
                Bytes(10, b"134523198765432101\n"),
            ],
            expect![[r#"
                refused TooLong { max: 20, masked: "1111…5556" }
                10ms scanned "134523198765432101"
            "#]],
        );
    }

    #[test]
    fn an_over_long_line_without_any_line_end_is_refused_and_forgotten_after_silence() {
        check(
            FramingRules {
                max_len: 32,
                ..rules(Suffix::None)
            },
            &[Bytes(0, &[b'7'; 1000]), Bytes(300, b"134523198765432101")],
            expect![[r#"
                refused TooLong { max: 32, masked: "7777…7777" }
                400ms scanned "134523198765432101"
            "#]],
        );
    }

    #[test]
    fn endless_garbage_is_called_noise_not_a_long_code() {
        check(
            FramingRules {
                max_len: 20,
                ..rules(Suffix::Cr)
            },
            &[
                Bytes(0, &[0xf8; 40]),
                Bytes(10, b"\xf8\x80\r134523198765432101\r"),
            ],
            expect![[r#"
                refused Noise { len: 21, masked: "\\xf8\\xf8\\xf8\\xf8…\\xf8\\xf8\\xf8\\xf8" }
                10ms scanned "134523198765432101"
            "#]],
        );
    }

    #[test]
    fn an_unknown_key_spoils_only_its_own_code() {
        check(
            rules(Suffix::Lf),
            &[
                Bytes(0, b"13452319"),
                UnknownKey(1, "KEY_F13"),
                Bytes(2, b"8765432101\n"),
                Bytes(3, b"2845231987654321\n"),
            ],
            expect![[r#"
                refused UnknownKey { key: "KEY_F13", masked: "1345…2101" }
                3ms scanned "2845231987654321"
            "#]],
        );
    }

    #[test]
    fn without_a_timeout_a_partial_line_waits_for_its_end() {
        check(
            FramingRules {
                inter_char_timeout: None,
                ..rules(Suffix::Lf)
            },
            &[Bytes(0, b"1345"), Bytes(60_000, b"23198765432101\n")],
            expect![[r#"
                60000ms scanned "134523198765432101"
            "#]],
        );
    }

    #[test]
    fn refusals_advise_only_keys_the_config_file_accepts() {
        // The config file refuses unknown keys, so advice naming one cannot be followed.
        let refusals = [
            Refusal::TooLong {
                max: 128,
                masked: "1345…2101".into(),
            },
            Refusal::Noise {
                len: 3,
                masked: "***".into(),
            },
            Refusal::Incomplete {
                len: 3,
                masked: "***".into(),
                gap_ms: 100,
            },
            Refusal::UnknownKey {
                key: "KEY_F13".into(),
                masked: "***".into(),
            },
        ];
        let mut named = 0;
        for refusal in refusals {
            let message = refusal.to_string();
            for (_, rest) in message
                .match_indices("[scanner] ")
                .map(|(i, _)| message.split_at(i + 10))
            {
                let key: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let toml = format!("[scanner]\n{key} = \"x\"\n");
                let unknown = crate::config::parse_raw(&toml)
                    .err()
                    .is_some_and(|p| p.message.contains("unknown field"));
                assert!(
                    !unknown,
                    "{message:?} names [scanner] {key}, which the config refuses"
                );
                named += 1;
            }
        }
        assert!(named >= 3, "the refusals name the keys to check");
        // A keyboard scanner on the wrong layout types 'é' for '2': that is no baud rate.
        let noise = Refusal::Noise {
            len: 2,
            masked: "**".into(),
        }
        .to_string();
        assert!(noise.contains("[scanner] layout"), "{noise}");
        // A keyboard scanner has no configurable suffix: it must press Enter.
        let incomplete = Refusal::Incomplete {
            len: 2,
            masked: "**".into(),
            gap_ms: 100,
        }
        .to_string();
        assert!(incomplete.contains("Enter"), "{incomplete}");
    }

    #[test]
    fn refusals_never_show_more_than_four_characters_each_side() {
        let mut framer = Framer::new(rules(Suffix::Lf));
        framer.handle_bytes(b"13452319876543", Instant::now());
        let debug = format!("{framer:?}");
        assert!(debug.contains("pending_bytes: 14"), "{debug}");
        assert!(!debug.contains("2319876"), "{debug}");

        let refusal = Refusal::Incomplete {
            len: 18,
            masked: crate::protocol::payment_code::mask("134523198765432101"),
            gap_ms: 100,
        };
        let message = refusal.to_string();
        assert!(message.contains("1345…2101"), "{message}");
        assert!(!message.contains("23198765"), "{message}");
        let scanned = ScannedText {
            text: "134523198765432101".into(),
            completed_at: Instant::now(),
        };
        assert_eq!(
            format!("{scanned:?} {scanned}"),
            "ScannedText(1345…2101) 1345…2101"
        );
    }
}
