//! How text that a peer controls (command and stream names, URLs, error messages quoting
//! them) appears in log lines: control characters escaped, so a line stays one line and
//! cannot forge another, and cut to a few hundred characters, so a peer cannot make the
//! server write megabytes of log. Use [`Peer`] wherever such text is formatted into a log line.

use std::fmt;

/// Characters of peer text a log line shows; the rest is counted, not shown.
pub const MAX_SHOWN_CHARS: usize = 200;

/// Peer text as a log line shows it: escaped (`\n`, `\u{1b}`) and cut after
/// [`MAX_SHOWN_CHARS`] characters with a note of how much was left out.
#[derive(Clone, Copy)]
pub struct Peer<'a>(pub &'a str);

impl fmt::Display for Peer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.char_indices();
        for (_, c) in chars.by_ref().take(MAX_SHOWN_CHARS) {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        if let Some((cut, _)) = chars.next() {
            write!(f, "… ({} more bytes)", self.0.len() - cut)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Peer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        let shown = Peer("a\nb\u{1b}[31mc\r").to_string();
        assert_eq!(shown, "a\\nb\\u{1b}[31mc\\r");
        assert!(!shown.chars().any(char::is_control));
    }

    #[test]
    fn long_text_is_cut_with_a_count() {
        let text = "é".repeat(100_000);
        let shown = Peer(&text).to_string();
        assert!(shown.starts_with(&"é".repeat(MAX_SHOWN_CHARS)));
        assert!(shown.ends_with(&format!(
            "… ({} more bytes)",
            2 * (100_000 - MAX_SHOWN_CHARS)
        )));
        assert_eq!(Peer("short").to_string(), "short");
        assert_eq!(format!("{:?}", Peer("x")), "\"x\"");
    }
}
