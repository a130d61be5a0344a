//! Text from outside, checked in one place: how long a field may be and
//! which characters it may hold. Every id, name and text field a command
//! stores passes one of these checks (the areas' limits name the lengths),
//! and so do the token's subject and name.
//!
//! Refused everywhere: NUL and every other control character (C0, DEL,
//! C1), the bidirectional embedding, override and isolate controls
//! (U+202A-U+202E, U+2066-U+2069: text that displays other than it reads),
//! the byte-order mark U+FEFF and the interlinear annotation characters
//! (U+FFF9-U+FFFB). Running text (a description, a chat message) may hold
//! line breaks and tabs, and the marks and joiners real writing uses
//! (U+200B-U+200F: Thai word breaks, Persian joiners, the directional
//! marks of Arabic and Hebrew). A line (an id, a name, a title) may not:
//! nor the line and paragraph separators (U+2028, U+2029), the zero-width
//! space and the directional marks (U+200B, U+200E, U+200F, U+061C), the
//! invisible operators (U+2060-U+2064), the tag characters
//! (U+E0000-U+E007F) and the Hangul fillers (U+115F, U+1160, U+3164,
//! U+FFA0) that display as nothing. And a name or a title must show
//! something: at least one character that is neither white space nor
//! invisible ([`visible`]).

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
    #[error("must not contain invisible or formatting characters")]
    Invisible,
    #[error("must contain a visible character")]
    Blank,
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
/// [`MAX_JOIN_NAME_CHARS`] characters that shows something.
pub fn join_name(value: &str) -> Result<String, TextError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(TextError::Empty);
    }
    line(value, MAX_JOIN_NAME_CHARS)?;
    visible(value)?;
    Ok(value.to_owned())
}

/// Whether a text shows something: at least one character that is neither
/// white space nor one that displays as nothing (joiners, fillers, blank
/// patterns), so a name or a title cannot look empty.
pub fn visible(value: &str) -> Result<(), TextError> {
    let shows = |c: char| {
        !c.is_whitespace()
            && !c.is_control()
            && !matches!(
                c,
                '\u{00AD}'
                    | '\u{034F}'
                    | '\u{115F}'
                    | '\u{1160}'
                    | '\u{17B4}'
                    | '\u{17B5}'
                    | '\u{180B}'..='\u{180F}'
                    | '\u{200B}'..='\u{200F}'
                    | '\u{2060}'..='\u{2064}'
                    | '\u{2800}'
                    | '\u{3164}'
                    | '\u{FE00}'..='\u{FE0F}'
                    | '\u{FEFF}'
                    | '\u{FFA0}'
                    | '\u{E0000}'..='\u{E01EF}'
            )
    };
    if value.chars().any(shows) {
        Ok(())
    } else {
        Err(TextError::Blank)
    }
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
        if matches!(c, '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}') {
            return Err(TextError::Invisible);
        }
        let line_only = matches!(
            c,
            '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{2060}'..='\u{2064}'
                | '\u{3164}'
                | '\u{FFA0}'
                | '\u{E0000}'..='\u{E007F}'
        );
        if line_only && !breaks {
            return Err(TextError::Invisible);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_refuse_invisible_and_formatting_characters_running_text_keeps_writings_marks() {
        for bad in [
            "\u{200B}",
            "a\u{200E}",
            "\u{200F}b",
            "\u{3164}",
            "a\u{FEFF}b",
            "a\u{2028}b",
            "a\u{2029}",
            "\u{E0041}\u{E007F}",
            "a\u{2060}b",
            "\u{115F}",
            "\u{FFA0}",
        ] {
            assert_eq!(line(bad, 50), Err(TextError::Invisible), "{bad:?}");
        }
        // Persian with a zero-width non-joiner, an emoji family (joiners):
        // lines keep them.
        assert_eq!(line("می\u{200C}خواهم", 50), Ok(()));
        assert_eq!(line("👨\u{200D}👩\u{200D}👧", 50), Ok(()));
        // Running text keeps the marks and separators real writing uses,
        // and the tags of a flag emoji; not a byte-order mark.
        assert_eq!(
            running("שלום\u{200F} world\u{2028}next \u{200B}", 50),
            Ok(())
        );
        assert_eq!(
            running(
                "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}",
                50
            ),
            Ok(())
        );
        assert_eq!(running("a\u{FEFF}", 50), Err(TextError::Invisible));
    }

    #[test]
    fn a_name_or_title_must_show_something() {
        for blank in ["\u{3164}", "\u{200B}\u{200C}", " \u{2800} ", "\u{FE0F}"] {
            assert_eq!(visible(blank), Err(TextError::Blank), "{blank:?}");
        }
        assert_eq!(visible("\u{200C}a"), Ok(()));
        assert_eq!(visible("😀"), Ok(()));
        assert_eq!(join_name("\u{200C}\u{200D}"), Err(TextError::Blank));
    }

    #[test]
    fn lines_refuse_every_control_and_bidirectional_character() {
        assert_eq!(line("Weekly sync é ✓", 50), Ok(()));
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
