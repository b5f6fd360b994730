//! The optional bearer token: `Authorization: Bearer <token>`, compared in constant time.

/// Whether an `Authorization` header value carries the expected token.
pub(crate) fn bearer_matches(header: Option<&[u8]>, expected: &str) -> bool {
    let Some(presented) = header.and_then(|h| strip_bearer(h)) else {
        return false;
    };
    constant_time_eq(presented, expected.as_bytes())
}

/// The token after the case-insensitive `Bearer ` scheme (RFC 6750 / RFC 9110).
fn strip_bearer(header: &[u8]) -> Option<&[u8]> {
    let scheme = header.get(..7)?;
    scheme
        .eq_ignore_ascii_case(b"Bearer ")
        .then(|| header[7..].trim_ascii())
}

/// Compares every byte of the expected token whatever the presented one holds, so the time
/// taken tells an attacker nothing about how much of a guess was right. (It does depend on the
/// expected token's length, which is not the secret.)
fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let mut difference = u8::from(presented.len() != expected.len());
    for (i, &e) in expected.iter().enumerate() {
        let p = presented.get(i).copied().unwrap_or(0);
        difference |= p ^ e;
    }
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_exact_token() {
        assert!(bearer_matches(Some(b"Bearer s3cret"), "s3cret"));
        assert!(bearer_matches(Some(b"bearer s3cret"), "s3cret"));
        for wrong in [
            &b"Bearer s3cre"[..],
            b"Bearer s3cret!",
            b"Bearer S3cret",
            b"Bearer ",
            b"Basic s3cret",
            b"s3cret",
            b"",
        ] {
            assert!(!bearer_matches(Some(wrong), "s3cret"), "{wrong:?}");
        }
        assert!(!bearer_matches(None, "s3cret"));
        // A prefix padded with NULs is not the token.
        assert!(!bearer_matches(Some(b"Bearer s3\0"), "s3"));
    }
}
