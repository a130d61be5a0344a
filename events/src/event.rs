//! Domain events (schema version 1) and their payloads.
//!
//! Every event is a past-tense variant of [`MeetingEvent`] with an explicit
//! snake_case name; that name is the log's `event_type` and the last token of
//! the NATS subject. Payloads are typed structs. New fields are added with
//! `#[serde(default)]`; a change of meaning needs a new schema version and an
//! upcaster.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{
    BreakoutRoomId, BreakoutSessionId, MeetingId, MessageId, ParticipantId, RecordingId, RoomCode,
    SecretId, UserId,
};
use crate::settings::{ConfigChange, MeetingSettings, SettingsChange};

/// Schema version written with every event of this catalogue.
pub const SCHEMA_VERSION: i16 = 1;

/// A participant's role inside one meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Host,
    CoHost,
    Participant,
    Guest,
}

impl Role {
    pub const ALL: [Self; 4] = [Self::Host, Self::CoHost, Self::Participant, Self::Guest];

    /// The role of a wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }

    /// The wire name (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::CoHost => "co_host",
            Self::Participant => "participant",
            Self::Guest => "guest",
        }
    }
}

/// Why a seat was freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    Left,
    Removed,
    MeetingEnded,
}

impl LeaveReason {
    /// The wire name (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Left => "left",
            Self::Removed => "removed",
            Self::MeetingEnded => "meeting_ended",
        }
    }
}

/// Who may use a feature (the security policy's `host | co_hosts | all`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// The host only.
    Host,
    /// The host and co-hosts.
    CoHosts,
    /// Everyone present.
    #[default]
    All,
}

impl Permission {
    /// Whether someone with `role` may use the feature.
    pub fn allows(self, role: Role) -> bool {
        match self {
            Self::Host => role == Role::Host,
            Self::CoHosts => matches!(role, Role::Host | Role::CoHost),
            Self::All => true,
        }
    }
}

/// A meeting's security policy, as the host last applied it. The password
/// itself is never here: [`SecurityPolicyApplied::password_id`] names its
/// hash, kept beside the log. Absent fields take the defaults of a
/// meeting without a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SecurityPolicy {
    pub require_waiting_room: bool,
    pub require_password: bool,
    /// When false, a caller whose token has no email may not join.
    pub allow_anonymous_join: bool,
    pub max_participants: Option<u32>,
    /// Email domains a joining caller must belong to (empty: any).
    pub allowed_domains: Vec<String>,
    pub blocked_users: Vec<UserId>,
    pub recording_permissions: Permission,
    pub screen_share_permissions: Permission,
    pub chat_permissions: Permission,
    pub mute_on_entry: bool,
    /// Participants join with their camera off.
    pub disable_camera: bool,
    pub lock_meeting: bool,
}

impl Default for SecurityPolicy {
    /// What a meeting without an applied policy enforces.
    fn default() -> Self {
        Self {
            require_waiting_room: false,
            require_password: false,
            allow_anonymous_join: true,
            max_participants: None,
            allowed_domains: Vec::new(),
            blocked_users: Vec::new(),
            recording_permissions: Permission::Host,
            screen_share_permissions: Permission::All,
            chat_permissions: Permission::All,
            mute_on_entry: false,
            disable_camera: false,
            lock_meeting: false,
        }
    }
}

impl SecurityPolicy {
    /// The room settings the policy sets.
    pub fn settings_change(&self) -> ConfigChange {
        ConfigChange {
            settings: SettingsChange {
                waiting_room: Some(self.require_waiting_room),
                mute_on_entry: Some(self.mute_on_entry),
                lock_room: Some(self.lock_meeting),
                ..SettingsChange::default()
            },
            max_participants: self.max_participants,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingScheduled {
    pub meeting_id: MeetingId,
    pub room_code: RoomCode,
    pub host_id: UserId,
    pub host_name: String,
    pub title: String,
    pub description: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_participants: u32,
    pub settings: MeetingSettings,
    pub scheduled_at: DateTime<Utc>,
    /// The meeting password's hash, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_id: Option<SecretId>,
}

/// Details the host changed; absent fields are unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingDetailsUpdated {
    pub meeting_id: MeetingId,
    pub updated_by: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    /// Settings (and `max_participants`) this update changed.
    #[serde(default)]
    pub settings: ConfigChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingCancelled {
    pub meeting_id: MeetingId,
    pub cancelled_by: UserId,
    pub cancelled_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingStarted {
    pub meeting_id: MeetingId,
    pub started_by: UserId,
    pub started_at: DateTime<Utc>,
}

/// Why a meeting ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The host ended it.
    #[default]
    Ended,
    /// The host deleted it while it ran; a cancel follows.
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeetingEnded {
    pub meeting_id: MeetingId,
    pub ended_by: UserId,
    pub ended_at: DateTime<Utc>,
    /// round((ended_at - started_at) / 60 s)
    pub duration_minutes: i64,
    #[serde(default)]
    pub reason: EndReason,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomConfigUpdated {
    pub meeting_id: MeetingId,
    pub updated_by: UserId,
    /// Only the settings this update changed.
    pub settings: ConfigChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecurityPolicyApplied {
    pub meeting_id: MeetingId,
    pub applied_by: UserId,
    pub policy: SecurityPolicy,
    /// The password's hash while one is required (the same id when the
    /// password did not change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_id: Option<SecretId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParticipantInvited {
    pub meeting_id: MeetingId,
    pub user_id: UserId,
    pub role: Role,
    pub invited_by: UserId,
    pub invited_at: DateTime<Utc>,
}

/// A join parked in the waiting room (seen only by the host, co-hosts and
/// the one waiting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParticipantWaiting {
    pub meeting_id: MeetingId,
    /// The seat the join gets when admitted.
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub user_name: String,
    #[serde(default)]
    pub device_type: Option<String>,
    pub is_muted: bool,
    pub is_video_enabled: bool,
    pub waiting_since: DateTime<Utc>,
    /// The role the join asked for when it is not the one the meeting
    /// gives them (a guest's `guest`); absent: the meeting's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParticipantAdmitted {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub admitted_by: UserId,
    pub admitted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParticipantRejected {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub rejected_by: UserId,
    pub rejected_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParticipantJoined {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub user_name: String,
    pub role: Role,
    #[serde(default)]
    pub device_type: Option<String>,
    pub is_muted: bool,
    pub is_video_enabled: bool,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParticipantLeft {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub reason: LeaveReason,
    pub left_at: DateTime<Utc>,
    /// Removed and added to the blocked list.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub banned: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParticipantRoleChanged {
    pub meeting_id: MeetingId,
    pub user_id: UserId,
    pub role: Role,
    pub changed_by: UserId,
}

/// Media state a participant (or, for a mute, a moderator) changed;
/// absent fields are unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParticipantMediaChanged {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_muted: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_video_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_screen_sharing: Option<bool>,
    pub changed_by: UserId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HandRaised {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub raised_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HandLowered {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub lowered_by: UserId,
    pub lowered_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReactionSent {
    pub meeting_id: MeetingId,
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub reaction_type: String,
    pub sent_at: DateTime<Utc>,
}

/// A chat message; with a recipient it is private to sender and recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatMessageSent {
    pub meeting_id: MeetingId,
    pub message_id: MessageId,
    pub sender_id: UserId,
    pub sender_name: String,
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<UserId>,
    pub sent_at: DateTime<Utc>,
    /// A shared file: the message names it, the file lives elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<ChatFile>,
}

/// A file shared in the chat (spec 001's file message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatFile {
    /// An http(s) URL.
    pub file_url: String,
    pub file_name: String,
    /// Its media type, as the sender gave it.
    #[serde(default)]
    pub file_type: Option<String>,
    /// Bytes.
    #[serde(default)]
    pub file_size: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreakoutRoomSettings {
    pub allow_chat: bool,
    pub allow_screen_share: bool,
}

impl Default for BreakoutRoomSettings {
    fn default() -> Self {
        Self {
            allow_chat: true,
            allow_screen_share: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreakoutRoom {
    pub room_id: BreakoutRoomId,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// None: no limit of its own.
    pub capacity: Option<u32>,
    #[serde(default)]
    pub settings: BreakoutRoomSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreakoutRoomsOpened {
    pub meeting_id: MeetingId,
    pub session_id: BreakoutSessionId,
    pub rooms: Vec<BreakoutRoom>,
    pub allow_participants_to_choose: bool,
    pub allow_participants_to_return: bool,
    /// When the rooms close by themselves (a time limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closes_at: Option<DateTime<Utc>>,
    pub opened_by: UserId,
    pub opened_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ParticipantAssignedToBreakout {
    pub meeting_id: MeetingId,
    pub session_id: BreakoutSessionId,
    pub room_id: BreakoutRoomId,
    pub user_id: UserId,
    pub assigned_by: UserId,
}

/// Why breakout rooms closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BreakoutCloseReason {
    /// A host or co-host closed them.
    Closed,
    /// Their time limit ran out.
    TimeLimit,
    MeetingEnded,
}

impl BreakoutCloseReason {
    /// The wire name (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::TimeLimit => "time_limit",
            Self::MeetingEnded => "meeting_ended",
        }
    }
}

/// Everyone is back in the main room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreakoutRoomsClosed {
    pub meeting_id: MeetingId,
    pub session_id: BreakoutSessionId,
    pub reason: BreakoutCloseReason,
    pub closed_by: UserId,
    pub closed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordingStarted {
    pub meeting_id: MeetingId,
    pub recording_id: RecordingId,
    pub started_by: UserId,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordingStopped {
    pub meeting_id: MeetingId,
    pub recording_id: RecordingId,
    pub stopped_by: UserId,
    pub stopped_at: DateTime<Utc>,
    pub duration_seconds: i64,
}

/// A recorder reported where a recording's file is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordingFileReported {
    pub meeting_id: MeetingId,
    pub recording_id: RecordingId,
    pub file_url: String,
    pub size: i64,
    pub reported_by: UserId,
}

/// The media server the product hands people to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MediaProvider {
    Livekit,
}

/// A person's connection to the meeting's media room opened (LiveKit's
/// `participant_joined`): who was really in the call, beside who called
/// `/join`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaConnected {
    pub meeting_id: MeetingId,
    pub provider: MediaProvider,
    /// The identity the media token named (the user id).
    pub user_id: UserId,
    /// The media server's id of this connection (LiveKit's participant sid).
    pub participant_sid: String,
    pub connected_at: DateTime<Utc>,
    /// The media server's id of the notification (a redelivery carries
    /// the same one).
    pub notification_id: String,
}

/// A media connection closed (LiveKit's `participant_left`,
/// `participant_connection_aborted`, or its room finishing). It carries
/// when the connection opened, so it stands alone when it arrives first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaDisconnected {
    pub meeting_id: MeetingId,
    pub provider: MediaProvider,
    pub user_id: UserId,
    pub participant_sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_at: Option<DateTime<Utc>>,
    pub disconnected_at: DateTime<Utc>,
    /// The media server's reason (LiveKit's disconnect reason, such as
    /// `CLIENT_INITIATED`, or `CONNECTION_ABORTED`, `ROOM_FINISHED`).
    pub reason: String,
    pub notification_id: String,
}

/// The meeting's media room closed on the media server (LiveKit's
/// `room_finished`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MediaRoomFinished {
    pub meeting_id: MeetingId,
    pub provider: MediaProvider,
    pub finished_at: DateTime<Utc>,
    pub notification_id: String,
}

/// Declares the catalogue once: the enum, each variant's log name (its
/// serde tag too), and the direct decode from the log's columns.
/// The catalogue: every event with its log name and who may see it,
/// `public` (everyone who may read the meeting) or `private(e => the
/// audience of event e)`. There is no default: a new event says which it
/// is, or does not compile.
macro_rules! catalogue {
    (@audience $event:ident public) => {{
        let _ = $event;
        Audience::Everyone
    }};
    (@audience $event:ident private ($e:ident => $who:expr)) => {{
        let $e = $event;
        $who
    }};
    (@private public) => { false };
    (@private private) => { true };
    ($($variant:ident => $name:literal, $vis:ident $(($e:ident => $who:expr))?,)*) => {
        /// Everything that can happen to a meeting.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(tag = "type", content = "data", rename_all = "snake_case")]
        pub enum MeetingEvent {
            $($variant($variant),)*
        }

        impl MeetingEvent {
            /// Every event type of the catalogue.
            pub const TYPES: &'static [&'static str] = &[$($name),*];

            /// The log's `event_type`: the variant's snake_case name.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name,)*
                }
            }

            /// The meeting every event belongs to.
            pub fn meeting_id(&self) -> MeetingId {
                match self {
                    $(Self::$variant(e) => e.meeting_id,)*
                }
            }

            /// Who may see this event (the catalogue's word for its type).
            pub fn audience(&self) -> Audience<'_> {
                match self {
                    $(Self::$variant(event) => catalogue!(@audience event $vis $(($e => $who))?),)*
                }
            }

            /// Whether events of this log type may be private (a reader
            /// decodes only those to find their audience). A type the
            /// catalogue does not know may be: it is decoded, and refused
            /// if it does not decode.
            pub fn may_be_private(event_type: &str) -> bool {
                match event_type {
                    $($name => catalogue!(@private $vis),)*
                    _ => true,
                }
            }

            /// Straight into the variant's struct: no copy of the payload
            /// and no buffering of an adjacently tagged object.
            fn decode<'de, D>(event_type: &str, data: D) -> Result<Self, serde_json::Error>
            where
                D: serde::Deserializer<'de, Error = serde_json::Error>,
            {
                use serde::de::Error as _;
                match event_type {
                    $($name => $variant::deserialize(data).map(Self::$variant),)*
                    other => Err(serde_json::Error::custom(format!("unknown event type {other:?}"))),
                }
            }
        }
    };
}

catalogue! {
    MeetingScheduled => "meeting_scheduled", public,
    MeetingDetailsUpdated => "meeting_details_updated", public,
    MeetingCancelled => "meeting_cancelled", public,
    MeetingStarted => "meeting_started", public,
    MeetingEnded => "meeting_ended", public,
    RoomConfigUpdated => "room_config_updated", public,
    SecurityPolicyApplied => "security_policy_applied", public,
    ParticipantInvited => "participant_invited", public,
    // A waiting-room request: the person waiting and the moderators.
    ParticipantWaiting => "participant_waiting", private(e => Audience::ModeratorsAnd(&e.user_id)),
    ParticipantAdmitted => "participant_admitted", private(e => Audience::ModeratorsAnd(&e.user_id)),
    ParticipantRejected => "participant_rejected", private(e => Audience::ModeratorsAnd(&e.user_id)),
    ParticipantJoined => "participant_joined", public,
    ParticipantLeft => "participant_left", public,
    ParticipantRoleChanged => "participant_role_changed", public,
    ParticipantMediaChanged => "participant_media_changed", public,
    HandRaised => "hand_raised", public,
    HandLowered => "hand_lowered", public,
    ReactionSent => "reaction_sent", public,
    // A message with a recipient: its sender and recipient only.
    ChatMessageSent => "chat_message_sent", private(e => match &e.recipient_id {
        Some(recipient) => Audience::Pair(&e.sender_id, recipient),
        None => Audience::Everyone,
    }),
    BreakoutRoomsOpened => "breakout_rooms_opened", public,
    ParticipantAssignedToBreakout => "participant_assigned_to_breakout", public,
    BreakoutRoomsClosed => "breakout_rooms_closed", public,
    RecordingStarted => "recording_started", public,
    RecordingStopped => "recording_stopped", public,
    RecordingFileReported => "recording_file_reported", public,
    MediaConnected => "media_connected", public,
    MediaDisconnected => "media_disconnected", public,
    MediaRoomFinished => "media_room_finished", public,
}

/// Who may see an event live or in a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// Everyone who may read the meeting.
    Everyone,
    /// These two users only (a private chat message: sender, recipient).
    Pair(&'a UserId, &'a UserId),
    /// The host, co-hosts and this user (a waiting-room request about them).
    ModeratorsAnd(&'a UserId),
}

impl<'a> Audience<'a> {
    /// Whether `user`, with `role` in the meeting (if any), sees it.
    pub fn includes(self, user: &UserId, role: Option<Role>) -> bool {
        match self {
            Self::Everyone => true,
            Self::Pair(a, b) => user == a || user == b,
            Self::ModeratorsAnd(subject) => {
                user == subject || matches!(role, Some(Role::Host | Role::CoHost))
            }
        }
    }
}

/// An event payload that could not be decoded from the log.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode {event_type} v{schema_version}: {source}")]
pub struct DecodeError {
    pub event_type: String,
    pub schema_version: i16,
    #[source]
    pub source: serde_json::Error,
}

impl MeetingEvent {
    /// Splits the event into the log's `event_type` and `data` columns.
    pub fn to_parts(&self) -> (&'static str, serde_json::Value) {
        let data = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut map)) => {
                map.remove("data").unwrap_or(serde_json::Value::Null)
            }
            // Every variant is a struct of plain fields; serialising it cannot
            // fail and always yields the adjacently tagged object.
            _ => unreachable!("events serialise to a tagged object"),
        };
        (self.event_type(), data)
    }

    /// Rebuilds an event from the log's columns, `data` as JSON text
    /// (upcasting old schema versions here when there are any).
    pub fn from_parts(
        event_type: &str,
        schema_version: i16,
        data: &str,
    ) -> Result<Self, DecodeError> {
        let mut parser = serde_json::Deserializer::from_str(data);
        Self::decode(event_type, &mut parser)
            .and_then(|event| parser.end().map(|()| event))
            .map_err(|source| DecodeError {
                event_type: event_type.to_owned(),
                schema_version,
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_round_trips_through_the_log_columns() {
        let event = MeetingEvent::MeetingStarted(MeetingStarted {
            meeting_id: MeetingId::new(),
            started_by: UserId("alice".into()),
            started_at: Utc::now(),
        });
        let (event_type, data) = event.to_parts();
        assert_eq!(event_type, "meeting_started");
        assert!(data.get("type").is_none(), "the tag is a column, not data");
        let back = MeetingEvent::from_parts(event_type, SCHEMA_VERSION, &data.to_string()).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn every_event_type_decodes_from_its_columns_and_an_unknown_type_is_refused() {
        let meeting_id = MeetingId::new();
        let user = UserId("alice".into());
        let at = Utc::now();
        let events = [
            MeetingEvent::MeetingScheduled(MeetingScheduled {
                meeting_id,
                room_code: RoomCode::random(&mut rand::thread_rng()),
                host_id: user.clone(),
                host_name: "Alice".into(),
                title: "t".into(),
                description: String::new(),
                starts_at: None,
                ends_at: Some(at),
                max_participants: 10,
                settings: MeetingSettings::default(),
                scheduled_at: at,
                password_id: Some(SecretId::new()),
            }),
            MeetingEvent::MeetingStarted(MeetingStarted {
                meeting_id,
                started_by: user.clone(),
                started_at: at,
            }),
            MeetingEvent::RoomConfigUpdated(RoomConfigUpdated {
                meeting_id,
                updated_by: user.clone(),
                settings: ConfigChange {
                    settings: SettingsChange {
                        lock_room: Some(true),
                        ..Default::default()
                    },
                    max_participants: None,
                },
            }),
            MeetingEvent::ParticipantJoined(ParticipantJoined {
                meeting_id,
                participant_id: ParticipantId::new(),
                user_id: user.clone(),
                user_name: "Alice".into(),
                role: Role::Host,
                device_type: None,
                is_muted: false,
                is_video_enabled: true,
                joined_at: at,
            }),
            MeetingEvent::ParticipantLeft(ParticipantLeft {
                meeting_id,
                participant_id: ParticipantId::new(),
                user_id: user.clone(),
                reason: LeaveReason::Removed,
                left_at: at,
                banned: true,
            }),
            MeetingEvent::MeetingEnded(MeetingEnded {
                meeting_id,
                ended_by: user,
                ended_at: at,
                duration_minutes: 3,
                reason: EndReason::Deleted,
            }),
            MeetingEvent::ChatMessageSent(ChatMessageSent {
                meeting_id,
                message_id: MessageId::new(),
                sender_id: UserId("bob".into()),
                sender_name: "Bob".into(),
                content: "psst".into(),
                recipient_id: Some(UserId("carol".into())),
                sent_at: at,
                file: None,
            }),
            MeetingEvent::BreakoutRoomsOpened(BreakoutRoomsOpened {
                meeting_id,
                session_id: BreakoutSessionId::new(),
                rooms: vec![BreakoutRoom {
                    room_id: BreakoutRoomId::new(),
                    name: "Room 1".into(),
                    description: String::new(),
                    capacity: Some(2),
                    settings: BreakoutRoomSettings::default(),
                }],
                allow_participants_to_choose: true,
                allow_participants_to_return: false,
                closes_at: Some(at),
                opened_by: UserId("alice".into()),
                opened_at: at,
            }),
            MeetingEvent::SecurityPolicyApplied(SecurityPolicyApplied {
                meeting_id,
                applied_by: UserId("alice".into()),
                policy: SecurityPolicy::default(),
                password_id: None,
            }),
            MeetingEvent::MediaConnected(MediaConnected {
                meeting_id,
                provider: MediaProvider::Livekit,
                user_id: UserId("bob".into()),
                participant_sid: "PA_1".into(),
                connected_at: at,
                notification_id: "EV_1".into(),
            }),
            MeetingEvent::MediaDisconnected(MediaDisconnected {
                meeting_id,
                provider: MediaProvider::Livekit,
                user_id: UserId("bob".into()),
                participant_sid: "PA_1".into(),
                connected_at: None,
                disconnected_at: at,
                reason: "CLIENT_INITIATED".into(),
                notification_id: "EV_2".into(),
            }),
            MeetingEvent::MediaRoomFinished(MediaRoomFinished {
                meeting_id,
                provider: MediaProvider::Livekit,
                finished_at: at,
                notification_id: "EV_3".into(),
            }),
        ];
        for event in events {
            let tag = serde_json::to_value(&event).unwrap()["type"].clone();
            assert_eq!(tag, event.event_type(), "the serde tag is the log name");
            assert!(MeetingEvent::TYPES.contains(&event.event_type()));
            let (event_type, data) = event.to_parts();
            let back =
                MeetingEvent::from_parts(event_type, SCHEMA_VERSION, &data.to_string()).unwrap();
            assert_eq!(back, event);
        }
        let error = MeetingEvent::from_parts("meeting_exploded", 1, "{}").unwrap_err();
        assert_eq!(error.event_type, "meeting_exploded");
    }

    #[test]
    fn a_private_message_is_for_its_pair_and_a_waiting_request_for_moderators() {
        let (sender, recipient, other) =
            (UserId("s".into()), UserId("r".into()), UserId("o".into()));
        let chat = MeetingEvent::ChatMessageSent(ChatMessageSent {
            meeting_id: MeetingId::new(),
            message_id: MessageId::new(),
            sender_id: sender.clone(),
            sender_name: "S".into(),
            content: "hi".into(),
            recipient_id: Some(recipient.clone()),
            sent_at: Utc::now(),
            file: None,
        });
        let audience = chat.audience();
        assert!(audience.includes(&sender, Some(Role::Participant)));
        assert!(audience.includes(&recipient, Some(Role::Participant)));
        assert!(!audience.includes(&other, Some(Role::Host)));
        assert!(MeetingEvent::may_be_private(chat.event_type()));
        assert!(!MeetingEvent::may_be_private("participant_joined"));
        assert!(
            MeetingEvent::may_be_private("meeting_exploded"),
            "an unknown type may be private: decode it"
        );

        let waiting = MeetingEvent::ParticipantWaiting(ParticipantWaiting {
            meeting_id: MeetingId::new(),
            participant_id: ParticipantId::new(),
            user_id: sender.clone(),
            user_name: "S".into(),
            device_type: None,
            is_muted: false,
            is_video_enabled: true,
            waiting_since: Utc::now(),
            role: None,
        });
        let audience = waiting.audience();
        assert!(audience.includes(&sender, None));
        assert!(audience.includes(&other, Some(Role::CoHost)));
        assert!(!audience.includes(&other, Some(Role::Participant)));
        assert!(!audience.includes(&other, None));
    }

    #[test]
    fn wire_names_match_serde() {
        for role in Role::ALL {
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for reason in [
            LeaveReason::Left,
            LeaveReason::Removed,
            LeaveReason::MeetingEnded,
        ] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        for reason in [
            BreakoutCloseReason::Closed,
            BreakoutCloseReason::TimeLimit,
            BreakoutCloseReason::MeetingEnded,
        ] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
    }
}
