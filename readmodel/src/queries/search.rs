//! Turning a user's search text into a `tsquery` that cannot fail or be subverted.
//!
//! The text is cut into words of letters and digits (anything else separates words), each word
//! is quoted, and the words are joined with `&`; the last word also matches as a prefix (`:*`),
//! so results narrow while someone is still typing. Quotes, backslashes and the `tsquery`
//! operators (`& | ! ( ) : * <->`) are never letters or digits, so they can never reach the
//! parser: no input produces a syntax error (a 500) or changes the query's structure.

/// At most this many words are used; more than that narrows nothing in a shop catalog, and it
/// keeps the query (and the work PostgreSQL does for it) bounded whatever the input.
const MAX_WORDS: usize = 32;

/// PostgreSQL does not index words of 2,047 bytes or more and rejects them in a `tsquery`.
/// Lower-casing can grow a word, so the cut-off is well below that; no product contains a
/// word this long as a searchable word, so such a search matches nothing.
const MAX_WORD_BYTES: usize = 1_000;

/// What a search text asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Search {
    /// No text, or only blanks: no filter.
    All,
    /// Text that cannot match any product (no word in it, or a word too long to be indexed).
    Nothing,
    /// A `tsquery` in the syntax of `to_tsquery`.
    Query(String),
}

/// The search `q` stands for.
pub(super) fn search(q: Option<&str>) -> Search {
    let Some(q) = q.filter(|q| !q.trim().is_empty()) else {
        return Search::All;
    };
    let words: Vec<&str> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(MAX_WORDS)
        .collect();
    if words.is_empty() || words.iter().any(|word| word.len() > MAX_WORD_BYTES) {
        return Search::Nothing;
    }
    let last = words.len() - 1;
    let terms: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(index, word)| {
            if index == last {
                format!("'{word}':*")
            } else {
                format!("'{word}'")
            }
        })
        .collect();
    Search::Query(terms.join(" & "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_no_filter() {
        assert_eq!(search(None), Search::All);
        assert_eq!(search(Some("")), Search::All);
        assert_eq!(search(Some(" \t\n")), Search::All);
    }

    #[test]
    fn words_are_quoted_and_the_last_is_a_prefix() {
        assert_eq!(search(Some("shoe")), Search::Query("'shoe':*".to_owned()));
        assert_eq!(
            search(Some("  Red, running-shoe!")),
            Search::Query("'Red' & 'running' & 'shoe':*".to_owned())
        );
        assert_eq!(
            search(Some("'); DROP TABLE products; --")),
            Search::Query("'DROP' & 'TABLE' & 'products':*".to_owned())
        );
        assert_eq!(
            search(Some("café 日本語")),
            Search::Query("'café' & '日本語':*".to_owned())
        );
    }

    #[test]
    fn operators_and_quotes_never_pass() {
        for q in ["'", "\"", "&|!:*()", "<->", "\\", "\0", "''", ":*"] {
            assert_eq!(search(Some(q)), Search::Nothing, "{q:?}");
        }
        let Search::Query(query) = search(Some("a'b\\c:*d|e!f(g)h<->i")) else {
            panic!("words expected");
        };
        assert!(
            !query.contains(['\\', '|', '!', '(', ')', '<', '>']),
            "{query}"
        );
        assert_eq!(query.matches('\'').count(), 2 * 9, "{query}");
    }

    #[test]
    fn the_query_stays_bounded() {
        let Search::Query(query) = search(Some(&"shoe ".repeat(10_000))) else {
            panic!("words expected");
        };
        assert_eq!(query.matches("shoe").count(), MAX_WORDS);
        assert_eq!(
            search(Some(&"a".repeat(MAX_WORD_BYTES + 1))),
            Search::Nothing
        );
        assert!(matches!(
            search(Some(&"a".repeat(MAX_WORD_BYTES))),
            Search::Query(_)
        ));
    }
}
