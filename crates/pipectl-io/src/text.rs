//! Text from plugins and registries, made safe for a terminal: control
//! characters escaped, length bounded, what was cut counted.

/// Escapes control characters (`\n` and `\t` included, as `\n`, `\t`,
/// `\u{1b}`, ...) and keeps at most `max_chars` characters, saying how many
/// were cut. Use it for one-line messages.
pub fn clean(s: &str, max_chars: usize) -> String {
    clean_inner(s, max_chars, false)
}

/// Like [`clean`], but keeps line breaks: for multi-line text such as a
/// plugin's stderr.
pub fn clean_lines(s: &str, max_chars: usize) -> String {
    clean_inner(s, max_chars, true)
}

fn clean_inner(s: &str, max_chars: usize, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars + 32));
    let mut chars = s.chars();
    for (kept, c) in chars.by_ref().enumerate() {
        if kept == max_chars {
            let rest = 1 + chars.count();
            out.push_str(&format!("… ({rest} more characters cut)"));
            return out;
        }
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // C0, DEL, C1 controls and the bidi overrides that can make a
            // terminal show something else than what is there.
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.push_str(&c.escape_unicode().to_string());
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_and_counts_what_it_cuts() {
        assert_eq!(clean("plain text", 100), "plain text");
        assert_eq!(clean("a\x1b[31mb\nc", 100), "a\\u{1b}[31mb\\nc");
        assert_eq!(clean_lines("a\nb\x07", 100), "a\nb\\u{7}");
        assert_eq!(clean("abcdef", 3), "abc… (3 more characters cut)");
        assert_eq!(clean("\u{202e}x", 10), "\\u{202e}x");
    }
}
