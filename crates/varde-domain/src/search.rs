//! Text search terms. Both database engines index and query the *same*
//! tokens, made here, so the same query finds the same records on SQLite
//! (FTS5) and PostgreSQL (tsvector).

/// At most this many terms of a query are used; more only slow the engine down.
pub const MAX_QUERY_TERMS: usize = 8;
const MAX_TOKEN_CHARS: usize = 40;

/// Splits text into lower-case word tokens: runs of letters and digits.
/// Anything else (punctuation, `@`, `.`, `-`) separates words, so
/// `ann@example.org` yields `ann`, `example`, `org` on both engines.
pub fn tokens(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.chars()
                .take(MAX_TOKEN_CHARS)
                .flat_map(char::to_lowercase)
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
        })
        .filter(|t| !t.is_empty())
}

/// The normalised document text the engines index: tokens joined by spaces.
pub fn document(parts: &[&str]) -> String {
    let mut out = String::new();
    for p in parts {
        for t in tokens(p) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&t);
        }
    }
    out
}

/// The terms of a query, deduplicated, at most [`MAX_QUERY_TERMS`]. Each is
/// matched as a prefix, and all must match.
pub fn query_terms(q: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for t in tokens(q) {
        if !terms.contains(&t) {
            terms.push(t);
        }
        if terms.len() == MAX_QUERY_TERMS {
            break;
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_like_a_person_reads() {
        assert_eq!(document(&["Outlook won't start!", "ann@Example.org"]), "outlook won t start ann example org");
        assert_eq!(query_terms("VPN vpn  Tunnel"), vec!["vpn", "tunnel"]);
        assert_eq!(document(&["Ærø Straße"]), "ærø straße");
    }

    proptest! {
        /// Query terms only ever hold characters the engines treat as word characters,
        /// so no query can inject FTS5 or tsquery syntax.
        #[test]
        fn terms_are_plain_words(q in ".{0,200}") {
            let terms = query_terms(&q);
            prop_assert!(terms.len() <= MAX_QUERY_TERMS);
            for t in terms {
                prop_assert!(!t.is_empty());
                prop_assert!(t.chars().all(char::is_alphanumeric));
            }
        }
    }
}
