//! Typed ids, parsed once at the edge.
//!
//! Meetings, participants and events are identified by UUIDv7 (time-ordered,
//! so index inserts stay local). Users come from the JWT `sub` claim, which is
//! an opaque string chosen by the identity provider. Room codes are the
//! human-friendly `abc-defg-hij` aliases of a meeting.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A meeting; its event stream is `meeting-<id>`.
    MeetingId
);
uuid_id!(
    /// One seat of a user in a meeting (a join creates it, a leave frees it).
    ParticipantId
);
uuid_id!(
    /// A chat message.
    MessageId
);
uuid_id!(
    /// One opening of breakout rooms (rooms, assignments and the close
    /// that ends them belong to one session).
    BreakoutSessionId
);
uuid_id!(
    /// One breakout room of a session.
    BreakoutRoomId
);
uuid_id!(
    /// One recording of a meeting.
    RecordingId
);
uuid_id!(
    /// A secret kept beside the log (a meeting password's hash): events
    /// name it, never contain it.
    SecretId
);
uuid_id!(
    /// The unique id of one event; the idempotency key of an append and the
    /// NATS de-duplication id.
    EventId
);
uuid_id!(
    /// One execution of a command (one call, over HTTP, a WebSocket frame,
    /// a timer): the events it decides are named after it, wherever and
    /// however often it is decided.
    CommandId
);

impl EventId {
    /// The id of the `index`th event command `command` decided: the
    /// command's id with the index mixed into its last 32 random bits
    /// (version and variant stay those of a UUIDv7). The same command
    /// decided again (after a conflict, or on another node when its
    /// holder did not answer) names the same events, and the log takes
    /// an event id once.
    pub fn of_command(command: CommandId, index: usize) -> Self {
        Self(Uuid::from_u128(
            command.0.as_u128() ^ (index as u128 & 0xFFFF_FFFF),
        ))
    }
}

impl MeetingId {
    /// The stream that holds this meeting's events.
    pub fn stream_id(&self) -> StreamId {
        StreamId(format!("meeting-{}", self.0))
    }

    /// The meeting a stream id names, if it is a meeting stream.
    pub fn from_stream_id(stream: &StreamId) -> Option<Self> {
        stream
            .0
            .strip_prefix("meeting-")
            .and_then(|s| Uuid::parse_str(s).ok())
            .map(Self)
    }
}

/// The name of an event stream (`meeting-<uuid>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct StreamId(pub String);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user, as named by the token's `sub` claim.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct UserId(pub String);

impl UserId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A room code: three, four and three lowercase ASCII letters joined by
/// hyphens (`abc-defg-hij`). About 1.4e14 codes exist; uniqueness is still
/// enforced by the event log (a stream alias), never assumed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
pub struct RoomCode(String);

impl RoomCode {
    /// Parses a room code; anything but `[a-z]{3}-[a-z]{4}-[a-z]{3}` is refused.
    pub fn parse(s: &str) -> Option<Self> {
        let parts: Vec<&str> = s.split('-').collect();
        let shape_ok = parts.len() == 3
            && parts[0].len() == 3
            && parts[1].len() == 4
            && parts[2].len() == 3
            && parts
                .iter()
                .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()));
        shape_ok.then(|| Self(s.to_owned()))
    }

    /// A random room code.
    pub fn random<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let mut letters = |n: usize| -> String {
            (0..n)
                .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
                .collect()
        };
        let code = format!("{}-{}-{}", letters(3), letters(4), letters(3));
        Self(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stream alias under which the log keeps this code unique.
    pub fn alias(&self) -> String {
        format!("room_code:{}", self.0)
    }
}

impl TryFrom<String> for RoomCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s).ok_or_else(|| format!("invalid room code {s:?}"))
    }
}

impl From<RoomCode> for String {
    fn from(code: RoomCode) -> Self {
        code.0
    }
}

impl fmt::Display for RoomCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commands_events_are_named_after_it_distinctly_and_stay_v7() {
        let command = CommandId::new();
        let ids: Vec<EventId> = (0..1000).map(|i| EventId::of_command(command, i)).collect();
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        assert_eq!(
            ids[0].0, command.0,
            "the first event carries the command's id"
        );
        assert_eq!(
            EventId::of_command(command, 7),
            ids[7],
            "named the same again"
        );
        for id in &ids {
            assert_eq!(id.0.get_version_num(), 7);
            assert_eq!(id.0.get_variant(), uuid::Variant::RFC4122);
        }
        assert_ne!(EventId::of_command(CommandId::new(), 0), ids[0]);
    }

    #[test]
    fn random_room_codes_have_the_documented_shape() {
        let mut rng = rand::thread_rng();
        for _ in 0..1000 {
            let code = RoomCode::random(&mut rng);
            assert_eq!(RoomCode::parse(code.as_str()), Some(code));
        }
    }

    #[test]
    fn room_codes_of_the_wrong_shape_are_refused() {
        for bad in [
            "abc-defg-hi",
            "ABC-defg-hij",
            "abc_defg_hij",
            "abc-defg-hij-",
            "",
            "a1c-defg-hij",
        ] {
            assert_eq!(RoomCode::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_meeting_stream_id_round_trips() {
        let id = MeetingId::new();
        assert_eq!(MeetingId::from_stream_id(&id.stream_id()), Some(id));
        assert_eq!(MeetingId::from_stream_id(&StreamId("other-1".into())), None);
    }
}
