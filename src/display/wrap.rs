//! Fitting text into a width: line wrapping and truncation with an ellipsis.
//!
//! Pure and font-agnostic: the caller passes a `measure` closure giving a text's width in
//! pixels. English breaks at spaces; Chinese (no spaces) breaks between any two characters.

/// The mark that ends a truncated line.
pub const ELLIPSIS: char = '…';

/// Breaks `text` into at most `max_lines` lines no wider than `max_width`.
/// Text that does not fit ends with `…` on the last line. Never returns an empty line list
/// for non-empty text; a single character wider than the line is kept alone (clipped later).
pub fn wrap(
    text: &str,
    max_width: u32,
    max_lines: usize,
    measure: impl Fn(&str) -> u32,
) -> Vec<String> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() || max_lines == 0 {
        return Vec::new();
    }
    let mut lines: Vec<String> = Vec::new();
    let mut rest: &str = &text;
    while !rest.is_empty() {
        if lines.len() + 1 == max_lines {
            lines.push(truncate(rest, max_width, &measure));
            return lines;
        }
        let (line, next) = take_line(rest, max_width, &measure);
        lines.push(line.trim_end().to_string());
        rest = next.trim_start();
    }
    lines
}

/// Shortens `text` to fit `max_width`, ending it with `…` when anything was cut.
pub fn truncate(text: &str, max_width: u32, measure: impl Fn(&str) -> u32) -> String {
    if measure(text) <= max_width {
        return text.to_string();
    }
    let mut cut: String = text.to_string();
    while cut.pop().is_some() {
        let candidate = format!("{}{ELLIPSIS}", cut.trim_end());
        if measure(&candidate) <= max_width || cut.is_empty() {
            return candidate;
        }
    }
    ELLIPSIS.to_string()
}

/// The longest first line of `text` that fits, and the text after it.
fn take_line<'a>(
    text: &'a str,
    max_width: u32,
    measure: &impl Fn(&str) -> u32,
) -> (&'a str, &'a str) {
    let mut fit_end = 0; // byte index: text[..fit_end] fits
    let mut last_space = None; // byte index of the last space inside the fitting part
    for (i, ch) in text.char_indices() {
        let end = i + ch.len_utf8();
        if measure(&text[..end]) > max_width {
            break;
        }
        if ch == ' ' {
            last_space = Some(i);
        }
        fit_end = end;
    }
    if fit_end == text.len() {
        return (text, "");
    }
    if fit_end == 0 {
        // Not even one character fits: take one anyway so the loop always advances.
        let first = text.chars().next().map_or(0, char::len_utf8);
        return text.split_at(first);
    }
    let next = text[fit_end..].chars().next();
    let breaks_cleanly = next == Some(' ') || is_cjk_boundary(text, fit_end);
    match last_space {
        Some(space) if !breaks_cleanly => text.split_at(space),
        _ => text.split_at(fit_end),
    }
}

/// True when a line may end at `at` without splitting a word: next to a CJK character.
fn is_cjk_boundary(text: &str, at: usize) -> bool {
    let before = text[..at].chars().next_back();
    let after = text[at..].chars().next();
    before.is_some_and(is_cjk) || after.is_some_and(is_cjk)
}

fn is_cjk(ch: char) -> bool {
    matches!(ch as u32, 0x2E80..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character is 1 pixel wide: widths are character counts.
    fn chars(text: &str) -> u32 {
        text.chars().count() as u32
    }

    #[test]
    fn short_text_stays_on_one_line() {
        assert_eq!(wrap("pay now", 10, 2, chars), vec!["pay now"]);
    }

    #[test]
    fn english_breaks_at_spaces() {
        assert_eq!(
            wrap("ask for another payment method", 12, 3, chars),
            vec!["ask for", "another", "payment met…"]
        );
        assert_eq!(
            wrap("ask for another payment method", 12, 4, chars),
            vec!["ask for", "another", "payment", "method"]
        );
    }

    #[test]
    fn chinese_breaks_anywhere() {
        assert_eq!(
            wrap("余额不足请换其他支付方式", 5, 3, chars),
            vec!["余额不足请", "换其他支付", "方式"]
        );
    }

    #[test]
    fn overflow_ends_with_ellipsis_within_width() {
        let lines = wrap("一二三四五六七八九十", 4, 2, chars);
        assert_eq!(lines, vec!["一二三四", "五六七…"]);
        assert!(lines.iter().all(|l| chars(l) <= 4));
    }

    #[test]
    fn long_word_is_split_and_nothing_loops() {
        assert_eq!(
            wrap("ORDER_NOTFOUND_FOREVER", 8, 5, chars),
            vec!["ORDER_NO", "TFOUND_F", "OREVER"]
        );
        assert_eq!(wrap("abc", 0, 2, chars), vec!["a", "…"]);
        assert_eq!(wrap("   ", 5, 2, chars), Vec::<String>::new());
    }

    #[test]
    fn truncate_keeps_what_fits() {
        assert_eq!(truncate("abcdef", 4, chars), "abc…");
        assert_eq!(truncate("abcd", 4, chars), "abcd");
    }
}
