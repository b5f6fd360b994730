//! A JSON reader that keeps every number exactly as written, for verifying signatures.
//!
//! The spec's Decision: numbers inside `result_response` are re-emitted exactly as they
//! appear in the received text. serde_json (even with arbitrary_precision) rewrites exponents
//! (`1e3` becomes `1e+3`, `1E3` becomes `1e+3`), which would make a correctly signed answer
//! fail to verify. This reader is only used to rebuild the signed text; the fields are still
//! read with serde_json.

/// A JSON value whose numbers are their literal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Literal>),
    /// In the order received; duplicate keys are refused when reading.
    Object(Vec<(String, Literal)>),
}

/// Why a text is not one JSON value this reader accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LiteralError {
    /// An object names a key twice: which of the two values counts cannot be known (for a
    /// signed answer: which one was signed), so the text is refused, never read either way.
    #[error("duplicate key {key:?} at byte {at}")]
    DuplicateKey { key: String, at: usize },
    #[error("{0}")]
    Syntax(String),
}

/// Deeper nesting than this is refused (a hostile answer must not exhaust the stack); the
/// gateway's answers are two levels deep.
const MAX_DEPTH: usize = 128;

/// Reads one JSON document (surrounding whitespace allowed, nothing else).
pub fn parse(text: &str) -> Result<Literal, LiteralError> {
    let mut reader = Reader {
        bytes: text.as_bytes(),
        text,
        pos: 0,
    };
    reader.skip_ws();
    let value = reader.value(0)?;
    reader.skip_ws();
    if reader.pos != reader.bytes.len() {
        return Err(reader.error("trailing characters after the JSON value"));
    }
    Ok(value)
}

/// Canonical text (keys sorted by byte order, no whitespace, minimal escaping, numbers as
/// received), exactly like `signing::canonical_json` but for literals.
pub fn write_canonical(value: &Literal, out: &mut String) {
    match value {
        Literal::Null => out.push_str("null"),
        Literal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Literal::Number(n) => out.push_str(n),
        Literal::String(s) => super::signing::write_json_string(s, out),
        Literal::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Literal::Object(entries) => {
            let mut sorted: Vec<&(String, Literal)> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                super::signing::write_json_string(key, out);
                out.push(':');
                write_canonical(item, out);
            }
            out.push('}');
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Reader<'_> {
    fn error(&self, what: &str) -> LiteralError {
        LiteralError::Syntax(format!("{what} at byte {}", self.pos))
    }

    fn skip_ws(&mut self) {
        while matches!(self.bytes.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, word: &str) -> Result<(), LiteralError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error(&format!("expected {word}")))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Literal, LiteralError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        match self.bytes.get(self.pos) {
            Some(b'n') => self.expect("null").map(|()| Literal::Null),
            Some(b't') => self.expect("true").map(|()| Literal::Bool(true)),
            Some(b'f') => self.expect("false").map(|()| Literal::Bool(false)),
            Some(b'"') => self.string().map(Literal::String),
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            Some(b'-' | b'0'..=b'9') => self.number().map(Literal::Number),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end")),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Literal, LiteralError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Literal::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Literal::Array(items));
                }
                _ => return Err(self.error("expected , or ]")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Literal, LiteralError> {
        self.pos += 1;
        let mut entries: Vec<(String, Literal)> = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Literal::Object(entries));
        }
        loop {
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.error("expected a key"));
            }
            let key = self.string()?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(LiteralError::DuplicateKey { key, at: self.pos });
            }
            self.skip_ws();
            self.expect(":")?;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            entries.push((key, value));
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Literal::Object(entries));
                }
                _ => return Err(self.error("expected , or }")),
            }
        }
    }

    /// A number per RFC 8259, returned as the exact text.
    fn number(&mut self) -> Result<String, LiteralError> {
        let start = self.pos;
        let digits = |r: &mut Self| {
            let from = r.pos;
            while matches!(r.bytes.get(r.pos), Some(b'0'..=b'9')) {
                r.pos += 1;
            }
            r.pos - from
        };
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.error("expected digits")),
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(self.error("expected digits after ."));
            }
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("expected exponent digits"));
            }
        }
        Ok(self.text[start..self.pos].to_string())
    }

    fn string(&mut self) -> Result<String, LiteralError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            // Copy the run up to the next quote, backslash or control character at once.
            let run = rest
                .find(|c: char| c == '"' || c == '\\' || (c as u32) < 0x20)
                .unwrap_or(rest.len());
            out.push_str(&rest[..run]);
            self.pos += run;
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = match self.bytes.get(self.pos) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{08}',
                        Some(b'f') => '\u{0c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let first = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&first) {
                                self.expect("\\u")?;
                                let second = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&second) {
                                    return Err(self.error("unpaired surrogate"));
                                }
                                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                            } else {
                                first
                            };
                            out.push(
                                char::from_u32(code)
                                    .ok_or_else(|| self.error("invalid \\u escape"))?,
                            );
                            continue;
                        }
                        _ => return Err(self.error("invalid escape")),
                    };
                    out.push(escaped);
                    self.pos += 1;
                }
                Some(_) => return Err(self.error("control character in a string")),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, LiteralError> {
        let hex = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("short \\u escape"))?;
        let code = u32::from_str_radix(hex, 16).map_err(|_| self.error("invalid \\u escape"))?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.error("invalid \\u escape"));
        }
        self.pos += 4;
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        let mut out = String::new();
        write_canonical(&parse(text).unwrap(), &mut out);
        out
    }

    #[test]
    fn keeps_every_number_literal_and_sorts_keys() {
        assert_eq!(
            canonical(r#" {"z":1e3, "a":[12.50,-0,1E-8,2.5e+2], "m":{"y":null,"b":true}} "#),
            r#"{"a":[12.50,-0,1E-8,2.5e+2],"m":{"b":true,"y":null},"z":1e3}"#
        );
    }

    #[test]
    fn decodes_strings_like_serde_json_and_writes_them_like_signing() {
        let text = r#"{"s":"\u62ff\u94c1 \ud83e\uddcb \"q\" \\ \/ \n\t\u0007 plain"}"#;
        let literal = canonical(text);
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(literal, super::super::signing::canonical_json(&value));
    }

    #[test]
    fn refuses_what_is_not_one_json_value() {
        for bad in [
            "",
            "{",
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":1e}"#,
            r#"{"a":"x"} extra"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\ud800"}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":1,"a":2}"#,
            r#"{"a":tru}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":"\u12"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse(&deep)
            .unwrap_err()
            .to_string()
            .contains("nested too deeply"));
        assert_eq!(
            parse(r#"{"a":{"b":1,"b":2}}"#),
            Err(LiteralError::DuplicateKey {
                key: "b".into(),
                at: 15
            })
        );
    }
}
