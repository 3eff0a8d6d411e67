//! The example plugins' transforms as plain `no_std` Rust functions.
//!
//! The plugins are thin bindings over this crate, and the host's tests and
//! benchmarks use it as the native reference the composed pipeline must match.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

use alloc::format;
use alloc::string::String;

/// Why a transform refused its input; mirrors WIT's `transform-error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransformError {
    /// The input does not meet the transform's preconditions.
    InvalidInput(String),
    /// The input was well formed but could not be processed.
    ProcessingFailed(String),
}

/// Words a validator refuses, compared case-insensitively.
pub const FORBIDDEN_WORDS: [&str; 2] = ["spam", "abuse"];

/// Fewest words the validator accepts.
pub const MIN_WORDS: usize = 3;

/// Within each line collapses whitespace runs to one space and trims; drops
/// empty lines; joins the lines with `\n`. Never fails.
pub fn normalize(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for line in input.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(first);
        for word in words {
            out.push(' ');
            out.push_str(word);
        }
    }
    out
}

/// Refuses empty text, text of fewer than [`MIN_WORDS`] words and text with a
/// [forbidden word](FORBIDDEN_WORDS); otherwise returns the input unchanged.
///
/// One pass over the words, allocating nothing until the answer: the count
/// is checked before the forbidden words, as it always was.
pub fn validate(input: &str) -> Result<String, TransformError> {
    let mut words = 0;
    let mut forbidden = None;
    for word in input.split_whitespace() {
        words += 1;
        if forbidden.is_none() && is_forbidden(word) {
            forbidden = Some(word);
        }
    }
    if words == 0 {
        return Err(TransformError::InvalidInput(String::from("input is empty")));
    }
    if words < MIN_WORDS {
        return Err(TransformError::InvalidInput(format!(
            "expected at least {MIN_WORDS} words, found {words}"
        )));
    }
    if let Some(word) = forbidden {
        return Err(TransformError::ProcessingFailed(format!(
            "forbidden word `{word}`"
        )));
    }
    Ok(String::from(input))
}

fn is_forbidden(word: &str) -> bool {
    // Lowercasing never turns one char into none, so a word of more chars
    // than the longest forbidden word (at most 4 bytes each) cannot match;
    // skipping those keeps long words from being lowercased at all.
    const LONGEST_BYTES: usize = 4 * 5;
    if word.len() > LONGEST_BYTES {
        return false;
    }
    // Char by char, without a lowered copy: `str::to_lowercase` differs
    // from this only for a final `Σ`, which no forbidden word has.
    FORBIDDEN_WORDS
        .iter()
        .any(|f| word.chars().flat_map(char::to_lowercase).eq(f.chars()))
}

/// Word, line and character (Unicode scalar value) counts of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Whitespace-separated words.
    pub words: usize,
    /// Lines, as [`str::lines`] counts them.
    pub lines: usize,
    /// Unicode scalar values.
    pub chars: usize,
}

/// Counts words, lines and characters of `input`, in one pass.
pub fn counts(input: &str) -> Counts {
    let (mut words, mut newlines, mut chars) = (0, 0, 0);
    let mut in_word = false;
    for c in input.chars() {
        chars += 1;
        newlines += usize::from(c == '\n');
        let space = c.is_whitespace();
        words += usize::from(in_word && space);
        in_word = !space;
    }
    words += usize::from(in_word);
    Counts {
        words,
        // What `str::lines` counts: a last line needs no line feed.
        lines: newlines + usize::from(!input.is_empty() && !input.ends_with('\n')),
        chars,
    }
}

/// Whitespace-separated words in `input`.
pub fn word_count(input: &str) -> usize {
    input.split_whitespace().count()
}

/// Prefixes `Words: W, Lines: L, Chars: C` and a blank line to the input.
pub fn count(input: &str) -> String {
    let Counts {
        words,
        lines,
        chars,
    } = counts(input);
    let mut out = format!("Words: {words}, Lines: {lines}, Chars: {chars}\n\n");
    out.push_str(input);
    out
}

/// The state of a `running-counter`: a running total of words.
#[derive(Debug, Default, Clone)]
pub struct RunningCounter {
    total: u32,
}

impl RunningCounter {
    /// A counter whose total starts at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `input`'s words into the total and returns
    /// `This: N, Running total: T`, a blank line, then `input`.
    pub fn count(&mut self, input: &str) -> String {
        let this = u32::try_from(word_count(input)).unwrap_or(u32::MAX);
        self.total = self.total.saturating_add(this);
        let mut out = format!("This: {this}, Running total: {}\n\n", self.total);
        out.push_str(input);
        out
    }

    /// Words counted so far (saturating at `u32::MAX`).
    pub fn total_words(&self) -> u32 {
        self.total
    }
}

/// The example pipeline, normalizer → validator → counter, natively.
pub fn pipeline(input: &str) -> Result<String, TransformError> {
    let normalized = normalize(input);
    let validated = validate(&normalized)?;
    Ok(count(&validated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_collapses_trims_and_drops_empty_lines() {
        assert_eq!(normalize("  a \t b  \n\n   \n c\u{3000}d \r\n"), "a b\nc d");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" \n\t\n"), "");
    }

    #[test]
    fn validate_reports_each_refusal() {
        assert_eq!(
            validate("   "),
            Err(TransformError::InvalidInput("input is empty".into()))
        );
        assert_eq!(
            validate("two words"),
            Err(TransformError::InvalidInput(
                "expected at least 3 words, found 2".into()
            ))
        );
        assert_eq!(
            validate("this is SPAM indeed"),
            Err(TransformError::ProcessingFailed(
                "forbidden word `SPAM`".into()
            ))
        );
        assert_eq!(
            validate("no Abuse here"),
            Err(TransformError::ProcessingFailed(
                "forbidden word `Abuse`".into()
            ))
        );
        assert_eq!(validate("spammy but fine"), Ok("spammy but fine".into()));
        assert_eq!(validate(" kept  as is "), Ok(" kept  as is ".into()));
    }

    #[test]
    fn forbidden_words_match_unicode_case_folding() {
        // `ſ` (long s) does not lowercase to `s`, so it is not `spam`.
        assert!(is_forbidden("SPAM"));
        assert!(!is_forbidden("\u{17f}pam"));
    }

    #[test]
    fn count_prefixes_counts() {
        assert_eq!(
            count("héllo world\nx"),
            "Words: 3, Lines: 2, Chars: 13\n\nhéllo world\nx"
        );
        assert_eq!(count(""), "Words: 0, Lines: 0, Chars: 0\n\n");
    }

    #[test]
    fn running_counter_accumulates() {
        let mut c = RunningCounter::new();
        assert_eq!(c.count("a b"), "This: 2, Running total: 2\n\na b");
        assert_eq!(c.count("c d e"), "This: 3, Running total: 5\n\nc d e");
        assert_eq!(c.total_words(), 5);
    }

    /// The transforms as they were before the one-pass rewrite: the
    /// reference the rewrite must match on every input.
    mod reference {
        use super::super::{FORBIDDEN_WORDS, MIN_WORDS, TransformError};
        use alloc::format;
        use alloc::string::String;

        pub fn validate(input: &str) -> Result<String, TransformError> {
            if input.trim().is_empty() {
                return Err(TransformError::InvalidInput(String::from("input is empty")));
            }
            let words = input.split_whitespace().count();
            if words < MIN_WORDS {
                return Err(TransformError::InvalidInput(format!(
                    "expected at least {MIN_WORDS} words, found {words}"
                )));
            }
            if let Some(word) = input
                .split_whitespace()
                .find(|w| w.len() <= 20 && FORBIDDEN_WORDS.contains(&w.to_lowercase().as_str()))
            {
                return Err(TransformError::ProcessingFailed(format!(
                    "forbidden word `{word}`"
                )));
            }
            Ok(String::from(input))
        }

        pub fn counts(input: &str) -> (usize, usize, usize) {
            (
                input.split_whitespace().count(),
                input.lines().count(),
                input.chars().count(),
            )
        }
    }

    /// Texts that probe every edge: whitespace of every kind, line ends,
    /// case folding (`İ`, `ſ`, the Kelvin sign, final sigma), long words.
    fn probes() -> alloc::vec::Vec<String> {
        let atoms = [
            "",
            " ",
            "\t",
            "\n",
            "\r\n",
            "\r",
            "\u{3000}",
            "\u{85}",
            "\u{a0}",
            "a",
            "bb",
            "spam",
            "SPAM",
            "Spam",
            "ABUSE",
            "abuse",
            "spammy",
            "\u{17f}pam",
            "\u{130}",
            "\u{212a}",
            "ΣΑΣ",
            "größe",
            "x\u{301}",
            "aaaaaaaaaaaaaaaaaaaaaaaa",
            "sp\u{200b}am",
        ];
        let mut out = alloc::vec::Vec::new();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let mut text = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            for k in 0..(seed % 9) {
                text.push_str(atoms[((seed >> (k * 5)) % atoms.len() as u64) as usize]);
            }
            out.push(text);
        }
        out
    }

    #[test]
    fn the_one_pass_transforms_match_the_reference_on_every_probe() {
        for text in probes() {
            assert_eq!(validate(&text), reference::validate(&text), "{text:?}");
            let c = counts(&text);
            assert_eq!(
                (c.words, c.lines, c.chars),
                reference::counts(&text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn pipeline_chains_in_order() {
        assert_eq!(
            pipeline("  one   two\n\n three "),
            Ok("Words: 3, Lines: 2, Chars: 13\n\none two\nthree".into())
        );
        assert!(matches!(
            pipeline("one two"),
            Err(TransformError::InvalidInput(_))
        ));
    }
}
