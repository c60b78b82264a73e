//! Text search terms. Both database engines index and query the *same*
//! tokens, made here, so the same query finds the same records on SQLite
//! (FTS5) and PostgreSQL (tsvector).

use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

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

/// The languages whose Snowball stemmers index and query every text (ADR 0012).
pub const LANGUAGES: [Algorithm; 4] = [Algorithm::English, Algorithm::Danish, Algorithm::Swedish, Algorithm::Dutch];

static STEMMERS: LazyLock<Vec<Stemmer>> = LazyLock::new(|| LANGUAGES.iter().map(|a| Stemmer::create(*a)).collect());

/// The stems of a token in the four languages that differ from the token,
/// without repeats. Records carry no language (a Danish requester writes in
/// English as often as in Danish), so every text is stemmed in all four.
pub fn stems(token: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    // Numbers and very short words are left alone: stemming "10" or "it"
    // finds nothing new and only adds noise.
    if token.chars().count() < 4 || token.chars().all(|c| c.is_ascii_digit()) {
        return out;
    }
    for s in STEMMERS.iter() {
        let st = s.stem(token);
        if st != token && !st.is_empty() && st.chars().all(char::is_alphanumeric) && !out.iter().any(|o| o == &st) {
            out.push(st.into_owned());
        }
    }
    out
}

/// The English Snowball stem of a token (the first of [`LANGUAGES`]).
pub fn english_stem(token: &str) -> String {
    STEMMERS[0].stem(token).into_owned()
}

/// The normalised document text the engines index: tokens joined by spaces,
/// each followed by its stems (see [`stems`]), so that a query for
/// "printing" finds "printed" and "printer" on both engines.
pub fn document(parts: &[&str]) -> String {
    let mut out = String::new();
    for p in parts {
        for t in tokens(p) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&t);
            for s in stems(&t) {
                out.push(' ');
                out.push_str(&s);
            }
        }
    }
    out
}

/// The word that marks a requester document as readable by a user (the
/// requester and every watcher of the record): a private-use character and
/// the user id. [`tokens`] keeps letters and digits only, so no text and no
/// query can make it, and a search for a word never finds one. FTS5's
/// `unicode61` counts private-use characters as part of a token; PostgreSQL
/// is handed it as a lexeme, past its parser. A requester's search asks for
/// their token with the words, so the engine intersects the two lists in
/// its index instead of matching every record that has the words (ADR 0018).
pub fn reader_token(user_id: i64) -> String {
    format!("\u{E000}{user_id}")
}

/// One query word: matched as a prefix of an indexed word, or exactly as
/// one of its stems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryTerm {
    pub word: String,
    pub stems: Vec<String>,
}

/// The terms of a query with their stems; every term must match.
pub fn query(q: &str) -> Vec<QueryTerm> {
    query_terms(q).into_iter().map(|w| QueryTerm { stems: stems(&w), word: w }).collect()
}

impl QueryTerm {
    /// Does a word of a text match this term (the same rule the engines apply)?
    pub fn matches(&self, token: &str) -> bool {
        if token.starts_with(&self.word) {
            return true;
        }
        // A stem begins like the word it comes from: only words that share
        // a first letter with a stem are worth stemming (ranking stems every
        // word of every candidate, so this is the hot path).
        let first = token.chars().next();
        if !self.stems.iter().any(|s| s.chars().next() == first) {
            return false;
        }
        let own = stems(token);
        self.stems.iter().any(|s| token == s || own.contains(s))
    }
}

/// The FTS5 MATCH expression of a query: `("word"* OR "stem") AND ...`.
/// Terms are plain words (see [`query_terms`]), so quoting is enough.
pub fn fts5_match(terms: &[QueryTerm]) -> String {
    terms
        .iter()
        .map(|t| {
            let mut alts = vec![format!("\"{}\"*", t.word)];
            alts.extend(t.stems.iter().map(|s| format!("\"{s}\"")));
            format!("({})", alts.join(" OR "))
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The tsquery of a query for the `simple` configuration: `(word:* | stem) & ...`;
/// `weight` (`A`) restricts matches to the requester-visible words.
pub fn tsquery(terms: &[QueryTerm], weight: &str) -> String {
    terms
        .iter()
        .map(|t| {
            let mut alts = vec![format!("{}:*{weight}", t.word)];
            alts.extend(t.stems.iter().map(|s| if weight.is_empty() { s.clone() } else { format!("{s}:{weight}") }));
            format!("({})", alts.join(" | "))
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// A snippet of `text` around the first matched word, HTML-escaped, with
/// matched words in `<mark>`. At most about `width` characters; made in Rust
/// so both engines highlight alike.
pub fn highlight(text: &str, terms: &[QueryTerm], width: usize) -> String {
    // Words with their byte ranges, in order.
    let mut words: Vec<(usize, usize, bool)> = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            let w: String = text[s..i].chars().flat_map(char::to_lowercase).collect();
            words.push((s, i, terms.iter().any(|t| t.matches(&w))));
        }
    }
    let first = words.iter().position(|w| w.2).unwrap_or(0);
    // Start a few words before the first match.
    let from = words.get(first.saturating_sub(4)).map(|w| w.0).unwrap_or(0);
    let end = text[from..].char_indices().nth(width).map(|(i, _)| from + i).unwrap_or(text.len());
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut pos = from;
    for &(s, e, _) in words.iter().filter(|w| w.2 && w.0 >= from && w.1 <= end) {
        escape_into(&mut out, &text[pos..s]);
        out.push_str("<mark>");
        escape_into(&mut out, &text[s..e]);
        out.push_str("</mark>");
        pos = e;
    }
    escape_into(&mut out, &text[pos..end]);
    if end < text.len() {
        out.push('…');
    }
    out
}

/// How well a text matches, for ranking: matched words in the title count
/// three times those in the body; every term found at all counts most.
/// Made in Rust over the candidates both engines return, so ranks agree.
pub fn score(title: &str, body: &str, terms: &[QueryTerm]) -> f64 {
    let mut s = 0.0;
    for (text, weight) in [(title, 3.0), (body, 1.0)] {
        let mut n = 0usize;
        let mut hits = 0usize;
        for w in tokens(text) {
            n += 1;
            if terms.iter().any(|t| t.matches(&w)) {
                hits += 1;
            }
        }
        if n > 0 {
            // Saturating in the hits, dampened by length (a BM25-like shape).
            s += weight * (hits as f64 / (hits as f64 + 1.0)) * (1.0 + 1.0 / (1.0 + n as f64 / 50.0));
        }
    }
    s
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
    fn stems_in_four_languages() {
        // English, Danish ("printerne" -> "printer"), Swedish, Dutch.
        assert!(stems("printing").contains(&"print".to_string()));
        // Danish "the printers" meets English "printing"; Swedish "the
        // printer" and "the printers" meet; Dutch plural meets singular.
        assert!(stems("printerne").contains(&"print".to_string()));
        assert!(stems("adgangskoden").contains(&"adgangskod".to_string()));
        assert!(stems("skrivaren").contains(&"skriv".to_string()) && stems("skrivarna").contains(&"skriv".to_string()));
        assert_eq!(stems("wachtwoorden"), vec!["wachtwoord".to_string()]);
        assert!(query("wachtwoord")[0].matches("wachtwoorden"));
        assert!(query("printerne")[0].matches("printing"));
        assert!(stems("vpn").is_empty());
        let q = query("printing");
        assert!(q[0].matches("printed"));
        assert!(!q[0].matches("paint"));
    }

    #[test]
    fn highlight_marks_and_escapes() {
        let h = highlight("The <b>printer</b> & spooler crashed when printing", &query("printing"), 200);
        assert_eq!(h, "The &lt;b&gt;<mark>printer</mark>&lt;/b&gt; &amp; spooler crashed when <mark>printing</mark>");
        let long = format!("{} vpn tunnel {}", "word ".repeat(50), "tail ".repeat(50));
        let h = highlight(&long, &query("vpn"), 40);
        assert!(h.starts_with('…') && h.ends_with('…') && h.contains("<mark>vpn</mark>"), "{h}");
    }

    #[test]
    fn match_expressions_are_the_same_words() {
        let q = query("printing vpn");
        assert_eq!(fts5_match(&q), "(\"printing\"* OR \"print\") AND (\"vpn\"*)");
        assert_eq!(tsquery(&q, "A"), "(printing:*A | print:A) & (vpn:*A)");
        assert_eq!(tsquery(&q, ""), "(printing:* | print) & (vpn:*)");
    }

    #[test]
    fn splits_like_a_person_reads() {
        assert_eq!(
            document(&["Outlook won't start!", "ann@Example.org"]),
            "outlook outlok won t start ann example exampl org"
        );
        assert_eq!(query_terms("VPN vpn  Tunnel"), vec!["vpn", "tunnel"]);
        assert_eq!(document(&["Ærø Straße"]), "ærø straße straß");
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

        /// No text puts a reader token into a document and no query asks
        /// for one: only `reader_token` makes them, so a word search cannot
        /// find whose records a document belongs to.
        #[test]
        fn reader_tokens_come_from_no_text(q in ".{0,200}", id in 1i64..1_000_000) {
            let token = reader_token(id);
            let doc = document(&[&q, &token]);
            let asked = query_terms(&[q.as_str(), token.as_str()].join(" "));
            let private = reader_token(0).chars().next().unwrap();
            prop_assert!(!doc.split(' ').any(|w| w == token));
            prop_assert!(!asked.iter().any(|t| t.contains(private)));
        }
    }
}
