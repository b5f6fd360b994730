//! AFL++ harness: any text as an amount or a scanned payment code. An amount parses exactly
//! and formats back to itself, or is refused quoting the text; a code validates or not, and
//! a 10-character text is never shown in full.

use scanpay_core::protocol::{Fen, PaymentCode};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        for parsed in [Fen::parse_yuan(text), Fen::parse_fen(text)] {
            match parsed {
                Ok(fen) => {
                    assert_eq!(Fen::parse_yuan(&fen.yuan()), Ok(fen));
                    assert_eq!(Fen::parse_fen(&fen.fen_string()), Ok(fen));
                }
                Err(err) => assert_eq!(err.raw, text),
            }
        }
        // Debug output escapes: what it must not hold is the text escaped the same way.
        let escaped = text.escape_debug().to_string();
        let (shown, debug) = match PaymentCode::parse(text) {
            Ok(code) => {
                assert!(text.bytes().all(|b| b.is_ascii_digit()));
                let _ = code.payway();
                (vec![code.masked(), code.to_string()], format!("{code:?}"))
            }
            Err(err) => (vec![err.to_string()], format!("{err:?}")),
        };
        if text.chars().count() >= 10 {
            assert!(shown.iter().all(|s| !s.contains(text)), "{text:?} shown");
            assert!(!debug.contains(&escaped), "{text:?} shown by Debug");
        }
    });
}
