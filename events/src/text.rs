//! Text from outside, checked in one place: how long a field may be and
//! which characters it may hold. Every id, name and text field a command
//! stores passes one of these checks (the areas' limits name the lengths),
//! and so do the token's subject and name.
//!
//! Refused everywhere: NUL and every other control character (C0, DEL,
//! C1), and the bidirectional embedding, override and isolate controls
//! (U+202A-U+202E, U+2066-U+2069: text that displays other than it reads).
//! Running text (a description, a chat message) may hold line breaks and
//! tabs; a line (an id, a name, a title) may not. The directional marks
//! (U+200E, U+200F) are ordinary text.

/// Most characters of a user id (a token's `sub`, a body's `user_id`).
pub const MAX_ID_CHARS: usize = 255;
/// Most characters of a display name; a longer name in a token is cut.
pub const MAX_NAME_CHARS: usize = 200;
/// Most characters of a name someone gives when joining (a guest's name,
/// a display name for one meeting), after trimming.
pub const MAX_JOIN_NAME_CHARS: usize = 100;

/// Why a text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters")]
    Control,
    #[error("must not contain bidirectional control characters")]
    Bidirectional,
}

/// A single line of at most `max` characters (may be empty).
pub fn line(value: &str, max: usize) -> Result<(), TextError> {
    check(value, max, false)
}

/// Running text of at most `max` characters: line breaks and tabs allowed.
pub fn running(value: &str, max: usize) -> Result<(), TextError> {
    check(value, max, true)
}

/// An id: a line of 1 to [`MAX_ID_CHARS`] characters.
pub fn id(value: &str) -> Result<(), TextError> {
    if value.is_empty() {
        return Err(TextError::Empty);
    }
    line(value, MAX_ID_CHARS)
}

/// A display name as it is kept: a line, cut to [`MAX_NAME_CHARS`].
pub fn name(value: &str) -> Result<String, TextError> {
    line(value, usize::MAX)?;
    Ok(value.chars().take(MAX_NAME_CHARS).collect())
}

/// A name given when joining: trimmed, then a line of 1 to
/// [`MAX_JOIN_NAME_CHARS`] characters.
pub fn join_name(value: &str) -> Result<String, TextError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(TextError::Empty);
    }
    line(value, MAX_JOIN_NAME_CHARS)?;
    Ok(value.to_owned())
}

fn check(value: &str, max: usize, breaks: bool) -> Result<(), TextError> {
    let mut count = 0;
    for c in value.chars() {
        count += 1;
        if count > max {
            return Err(TextError::TooLong(max));
        }
        if c.is_control() && !(breaks && matches!(c, '\n' | '\r' | '\t')) {
            return Err(TextError::Control);
        }
        if matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
            return Err(TextError::Bidirectional);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_refuse_every_control_and_bidirectional_character() {
        assert_eq!(line("Weekly sync é ✓ \u{200F}", 50), Ok(()));
        for bad in ["a\0b", "a\nb", "tab\t", "\u{7f}", "\u{85}", "\u{1b}[31m"] {
            assert_eq!(line(bad, 50), Err(TextError::Control), "{bad:?}");
        }
        for bad in ["\u{202E}gnp.exe", "a\u{2066}b", "\u{202A}"] {
            assert_eq!(line(bad, 50), Err(TextError::Bidirectional), "{bad:?}");
        }
    }

    #[test]
    fn running_text_keeps_its_line_breaks_but_no_other_control() {
        assert_eq!(running("one\ntwo\r\n\tthree", 50), Ok(()));
        assert_eq!(running("nul\0", 50), Err(TextError::Control));
        assert_eq!(running("bell\u{7}", 50), Err(TextError::Control));
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        assert_eq!(line(&"é".repeat(10), 10), Ok(()));
        assert_eq!(line(&"é".repeat(11), 10), Err(TextError::TooLong(10)));
        assert_eq!(id(""), Err(TextError::Empty));
        assert_eq!(id(&"u".repeat(MAX_ID_CHARS)), Ok(()));
        assert_eq!(
            id(&"u".repeat(MAX_ID_CHARS + 1)),
            Err(TextError::TooLong(MAX_ID_CHARS))
        );
    }

    #[test]
    fn a_long_name_is_cut_and_a_name_with_a_control_refused() {
        let long = "n".repeat(400_000);
        assert_eq!(name(&long).unwrap().chars().count(), MAX_NAME_CHARS);
        assert_eq!(name("Ann").unwrap(), "Ann");
        assert_eq!(name("A\0nn"), Err(TextError::Control));
    }

    #[test]
    fn a_name_given_at_a_join_is_trimmed_and_from_one_to_a_hundred_characters() {
        assert_eq!(join_name("  John Doe \t").unwrap(), "John Doe");
        assert_eq!(
            join_name(&"é".repeat(MAX_JOIN_NAME_CHARS))
                .unwrap()
                .chars()
                .count(),
            100
        );
        assert_eq!(join_name("   "), Err(TextError::Empty));
        assert_eq!(
            join_name(&"n".repeat(MAX_JOIN_NAME_CHARS + 1)),
            Err(TextError::TooLong(MAX_JOIN_NAME_CHARS))
        );
        assert_eq!(join_name("A\u{202E}B"), Err(TextError::Bidirectional));
    }
}
