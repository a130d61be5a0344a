//! Chat (public and private messages) and reactions, each rate-limited
//! per participant by a sliding window counted from the meeting's own
//! events (so every node agrees and a restart forgets nothing).

use chrono::{DateTime, Utc};
use events::event::{ChatFile, ChatMessageSent, ReactionSent};
use events::views::ChatView;
use events::{MeetingEvent, MeetingId, MessageId, UserId};
use serde::{Deserialize, Serialize};

use super::Decision;
use super::context::Context;
use super::error::MeetingError;
use super::rules::{line, may_chat, own_seat, require_active, running};
use super::state::{Meeting, Throttled};

pub const CHAT_MAX_CHARS: usize = 1000;
const REACTION_TYPE_MAX_CHARS: usize = 32;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendChat {
    pub message_id: MessageId,
    /// The text; a file message's caption (may be empty).
    pub content: String,
    pub recipient_id: Option<UserId>,
    /// A shared file (spec 001's `message_type: "file"`).
    pub file: Option<ChatFile>,
}

const FILE_URL_MAX_CHARS: usize = 2048;
const FILE_NAME_MAX_CHARS: usize = 255;
/// A media type's longest form (RFC 6838: 127 + "/" + 127).
const FILE_TYPE_MAX_CHARS: usize = 255;
/// A terabyte: a size is what the sender says, the file lives elsewhere.
pub const FILE_SIZE_MAX: i64 = 1 << 40;

/// A shared file names an http(s) URL, a name, and optionally its media
/// type and a size.
fn valid_file(file: &ChatFile) -> Result<(), MeetingError> {
    let url = &file.file_url;
    let web = url.starts_with("https://") || url.starts_with("http://");
    if !web || url.contains(char::is_whitespace) {
        return Err(MeetingError::invalid("file_url", "must be an http(s) URL"));
    }
    line("file_url", url, FILE_URL_MAX_CHARS)?;
    if file.file_name.trim().is_empty() {
        return Err(MeetingError::invalid("file_name", "must not be empty"));
    }
    line("file_name", &file.file_name, FILE_NAME_MAX_CHARS)?;
    if let Some(kind) = &file.file_type {
        line("file_type", kind, FILE_TYPE_MAX_CHARS)?;
    }
    if file
        .file_size
        .is_some_and(|size| !(0..=FILE_SIZE_MAX).contains(&size))
    {
        return Err(MeetingError::invalid(
            "file_size",
            format!("must be between 0 and {FILE_SIZE_MAX} bytes"),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReactionView {
    pub meeting_id: MeetingId,
    pub user_id: UserId,
    pub reaction_type: String,
    pub sent_at: DateTime<Utc>,
}

/// Refuses when `user` already did `what` as often as its limit allows
/// within its window before `at`.
fn throttle(
    meeting: &Meeting,
    user: &UserId,
    what: Throttled,
    at: DateTime<Utc>,
) -> Result<(), MeetingError> {
    let Some(recent) = meeting.recent.get(&(user.clone(), what)) else {
        return Ok(());
    };
    if recent.len() < what.limit() {
        return Ok(());
    }
    let oldest = recent[recent.len() - what.limit()];
    let frees_at = oldest + chrono::Duration::seconds(what.window_secs());
    if frees_at <= at {
        return Ok(());
    }
    let wait_ms = (frees_at - at).num_milliseconds().max(1);
    Err(MeetingError::RateLimited {
        limit: what.limit() as u32,
        window_secs: what.window_secs() as u32,
        retry_after_secs: ((wait_ms + 999) / 1000) as u32,
    })
}

/// Present participants chat when the room's chat is on, the policy lets
/// their role, and their breakout room (if any) allows it.
pub(super) fn send(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &SendChat,
) -> Result<Decision<ChatView>, MeetingError> {
    require_active(meeting)?;
    let seat = own_seat(meeting, ctx)?;
    if !may_chat(meeting, seat) {
        return Err(MeetingError::ChatDisabled);
    }
    match &cmd.file {
        None if cmd.content.trim().is_empty() => {
            return Err(MeetingError::invalid("content", "must not be empty"));
        }
        None => {}
        Some(file) => valid_file(file)?,
    }
    running("content", &cmd.content, CHAT_MAX_CHARS)?;
    if let Some(recipient) = &cmd.recipient_id {
        if *recipient == seat.user_id {
            return Err(MeetingError::invalid(
                "recipient_id",
                "must be someone else",
            ));
        }
        if !meeting.present.contains_key(recipient) {
            return Err(MeetingError::ParticipantNotFound(recipient.clone()));
        }
    }
    throttle(meeting, &seat.user_id, Throttled::Chat, ctx.at)?;
    let sent = ChatMessageSent {
        meeting_id: meeting.id,
        message_id: cmd.message_id,
        sender_id: seat.user_id.clone(),
        sender_name: seat.user_name.clone(),
        content: cmd.content.clone(),
        recipient_id: cmd.recipient_id.clone(),
        sent_at: ctx.at,
        file: cmd.file.clone(),
    };
    let reply = ChatView::of(&sent);
    Ok(Decision::new(
        vec![MeetingEvent::ChatMessageSent(sent)],
        reply,
    ))
}

pub(super) fn react(
    meeting: &Meeting,
    ctx: &Context,
    reaction_type: &str,
) -> Result<Decision<ReactionView>, MeetingError> {
    require_active(meeting)?;
    let seat = own_seat(meeting, ctx)?;
    let well_formed = !reaction_type.is_empty()
        && reaction_type.len() <= REACTION_TYPE_MAX_CHARS
        && reaction_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return Err(MeetingError::invalid(
            "reaction_type",
            format!("must be 1 to {REACTION_TYPE_MAX_CHARS} of a-z, 0-9 and _"),
        ));
    }
    throttle(meeting, &seat.user_id, Throttled::Reaction, ctx.at)?;
    let reply = ReactionView {
        meeting_id: meeting.id,
        user_id: seat.user_id.clone(),
        reaction_type: reaction_type.to_owned(),
        sent_at: ctx.at,
    };
    let event = MeetingEvent::ReactionSent(ReactionSent {
        meeting_id: meeting.id,
        participant_id: seat.participant_id,
        user_id: seat.user_id.clone(),
        reaction_type: reaction_type.to_owned(),
        sent_at: ctx.at,
    });
    Ok(Decision::new(vec![event], reply))
}

#[cfg(test)]
mod tests {
    use super::super::given::*;
    use super::{CHAT_MAX_CHARS, FILE_SIZE_MAX};
    use crate::meeting::Throttled;
    use events::event::ChatFile;

    #[test]
    fn chat_needs_presence_an_enabled_chat_and_a_present_recipient() {
        let mut given = Given::active("alice");
        given.joined("alice").joined("bob");
        assert!(
            matches!(given.when("bob", chat("hi", None)).unwrap().as_slice(), [E::ChatMessageSent(c)] if c.recipient_id.is_none())
        );
        assert!(given.when("bob", chat("psst", Some("alice"))).is_ok());
        assert_eq!(
            given.when("bob", chat("psst", Some("zed"))),
            Err(MeetingError::ParticipantNotFound(user("zed")))
        );
        assert_eq!(
            validation_field(given.when("bob", chat("me", Some("bob")))),
            "recipient_id"
        );
        assert_eq!(
            validation_field(given.when("bob", chat("  ", None))),
            "content"
        );
        assert_eq!(
            validation_field(given.when("bob", chat(&"x".repeat(CHAT_MAX_CHARS + 1), None))),
            "content"
        );
        assert!(
            given
                .when("bob", chat(&"é".repeat(CHAT_MAX_CHARS), None))
                .is_ok()
        );
        assert_eq!(
            given.when("zed", chat("hi", None)),
            Err(MeetingError::NotPresent)
        );
        given.run("alice", policy(|p| p.chat_permissions = Permission::Host));
        assert_eq!(
            given.when("bob", chat("hi", None)),
            Err(MeetingError::ChatDisabled)
        );
        assert!(given.when("alice", chat("hi", None)).is_ok());
        given.run("alice", policy(|_| {}));
        given.run(
            "alice",
            config(
                SettingsChange {
                    enable_chat: Some(false),
                    ..Default::default()
                },
                None,
            ),
        );
        assert_eq!(
            given.when("alice", chat("hi", None)),
            Err(MeetingError::ChatDisabled)
        );
    }

    #[test]
    fn a_file_message_names_a_web_file_and_may_have_no_caption() {
        let mut given = Given::active("alice");
        given.joined("bob");
        let file = |url: &str, name: &str, size| {
            Command::Chat(SendChat {
                message_id: MessageId::new(),
                content: String::new(),
                recipient_id: None,
                file: Some(ChatFile {
                    file_url: url.into(),
                    file_name: name.into(),
                    file_type: Some("application/pdf".into()),
                    file_size: size,
                }),
            })
        };
        let events = given
            .when(
                "bob",
                file("https://files.example.com/a.pdf", "a.pdf", Some(1024)),
            )
            .unwrap();
        assert!(
            matches!(events.as_slice(), [E::ChatMessageSent(c)] if c.file.is_some() && c.content.is_empty())
        );
        for (bad, field) in [
            (
                file("ftp://files.example.com/a.pdf", "a.pdf", None),
                "file_url",
            ),
            (file("javascript:alert(1)", "a.pdf", None), "file_url"),
            (file("https://x.example/a b", "a.pdf", None), "file_url"),
            (file("https://x.example/a", "", None), "file_name"),
            (
                file("https://x.example/a", "a\u{202E}fdp.exe", None),
                "file_name",
            ),
            (file("https://x.example/a", "a.pdf", Some(-1)), "file_size"),
            (
                file("https://x.example/a", "a.pdf", Some(FILE_SIZE_MAX + 1)),
                "file_size",
            ),
        ] {
            assert_eq!(validation_field(given.when("bob", bad)), field);
        }
    }

    #[test]
    fn reactions_are_limited_per_participant_within_a_sliding_window() {
        let mut given = Given::active("alice");
        given.joined("bob").joined("carol");
        for _ in 0..Throttled::Reaction.limit() {
            given.run("bob", react()).after(Duration::milliseconds(100));
        }
        match given.when("bob", react()) {
            Err(MeetingError::RateLimited {
                limit,
                retry_after_secs,
                ..
            }) => {
                assert_eq!(limit as usize, Throttled::Reaction.limit());
                assert!(retry_after_secs >= 1);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            given.when("carol", react()).is_ok(),
            "the limit is per participant"
        );
        given.after(Duration::seconds(Throttled::Reaction.window_secs()));
        assert!(given.when("bob", react()).is_ok());
        let bad = Command::React {
            reaction_type: "<script>".into(),
        };
        assert_eq!(validation_field(given.when("bob", bad)), "reaction_type");
    }

    #[test]
    fn chat_messages_are_rate_limited_too() {
        let mut given = Given::active("alice");
        given.joined("bob");
        for _ in 0..Throttled::Chat.limit() {
            given.run("bob", chat("hi", None));
        }
        assert!(matches!(
            given.when("bob", chat("hi", None)),
            Err(MeetingError::RateLimited { .. })
        ));
    }
}
