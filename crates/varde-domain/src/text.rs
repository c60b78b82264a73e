//! Rules for free text typed by people. Text is stored as typed and escaped
//! when shown; these rules only keep out what no person means to send.

use crate::DomainError;

pub const SHORT_DESCRIPTION_MAX: usize = 160;
pub const LONG_TEXT_MAX: usize = 64 * 1024;
pub const NAME_MAX: usize = 200;

/// A one-line text: trimmed, non-empty, at most `max` characters, no control characters.
pub fn line(field: &str, value: &str, max: usize) -> Result<String, DomainError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(DomainError::field(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(DomainError::field(field, format!("must be at most {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(DomainError::field(field, "must not contain control characters"));
    }
    Ok(v.to_string())
}

/// A multi-line text: may be empty, at most `max` characters; line breaks and
/// tabs are allowed but other control characters are not.
pub fn body(field: &str, value: &str, max: usize) -> Result<String, DomainError> {
    if value.chars().count() > max {
        return Err(DomainError::field(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(DomainError::field(field, "must not contain control characters"));
    }
    Ok(value.trim_end().to_string())
}

/// A required multi-line text.
pub fn required_body(field: &str, value: &str, max: usize) -> Result<String, DomainError> {
    let v = body(field, value, max)?;
    if v.trim().is_empty() {
        return Err(DomainError::field(field, "must not be empty"));
    }
    Ok(v)
}

/// An e-mail address as people type it: trimmed and lower-cased; one `@`
/// with something on both sides and a dot in the domain. Deliverability is
/// the mail server's business.
pub fn email(field: &str, value: &str) -> Result<String, DomainError> {
    let v = value.trim().to_lowercase();
    let ok = v.len() <= 254
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        && match v.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            }
            None => false,
        };
    if ok {
        Ok(v)
    } else {
        Err(DomainError::field(field, "must be an e-mail address like name@example.org"))
    }
}

/// Password policy: long enough to resist guessing, short enough to hash cheaply.
pub fn password(field: &str, value: &str) -> Result<(), DomainError> {
    let n = value.chars().count();
    if n < 10 {
        return Err(DomainError::field(field, "must be at least 10 characters"));
    }
    if n > 256 {
        return Err(DomainError::field(field, "must be at most 256 characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_rules() {
        assert_eq!(line("f", "  hi  ", 10).unwrap(), "hi");
        assert!(line("f", "   ", 10).is_err());
        assert!(line("f", "a\u{0}b", 10).is_err());
        assert!(line("f", &"x".repeat(11), 10).is_err());
        assert_eq!(line("f", "<script>alert(1)</script>", 100).unwrap(), "<script>alert(1)</script>");
    }

    #[test]
    fn body_allows_newlines() {
        assert_eq!(body("f", "a\nb\r\n\tc\n", 100).unwrap(), "a\nb\r\n\tc");
        assert!(body("f", "a\u{7}b", 100).is_err());
        assert!(required_body("f", " \n ", 100).is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(email("e", " Ann@Example.ORG ").unwrap(), "ann@example.org");
        for bad in ["", "ann", "ann@", "@x.org", "ann@org", "a b@x.org", "a@b@x.org", "a@.x"] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }
}
