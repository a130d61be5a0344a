//! The state a decision needs, folded from the meeting's events: the
//! aggregate's `evolve`, which never fails.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Utc};
use events::event::{BreakoutRoom, MeetingScheduled, Role, SecurityPolicy};
use events::settings::MeetingSettings;
use events::views::MeetingStatus;
use events::{
    BreakoutRoomId, BreakoutSessionId, MeetingEvent, MeetingId, ParticipantId, RecordingId,
    RoomCode, SecretId, UserId,
};
use serde::{Deserialize, Serialize};

/// The shape of [`Meeting`] as a snapshot; bumped whenever the state
/// changes shape, so snapshots of another shape are ignored.
pub const SNAPSHOT_SCHEMA: i32 = 2;

/// A map whose keys are not strings, as a list of pairs (JSON objects
/// take string keys only).
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(deserializer: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

/// A present participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seat {
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub user_name: String,
    pub role: Role,
    pub device_type: Option<String>,
    pub is_muted: bool,
    pub is_video_enabled: bool,
    pub is_screen_sharing: bool,
    pub is_hand_raised: bool,
    pub joined_at: DateTime<Utc>,
}

/// A join parked in the waiting room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiter {
    pub participant_id: ParticipantId,
    pub user_id: UserId,
    pub user_name: String,
    pub device_type: Option<String>,
    pub is_muted: bool,
    pub is_video_enabled: bool,
    pub since: DateTime<Utc>,
    /// The role the join asked for (a guest's), if not the meeting's.
    #[serde(default)]
    pub role: Option<Role>,
}

/// Open breakout rooms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakout {
    pub session_id: BreakoutSessionId,
    pub rooms: Vec<BreakoutRoom>,
    pub allow_participants_to_choose: bool,
    pub allow_participants_to_return: bool,
    pub closes_at: Option<DateTime<Utc>>,
    pub assignments: BTreeMap<UserId, BreakoutRoomId>,
}

impl Breakout {
    pub fn occupancy(&self, room: BreakoutRoomId) -> usize {
        self.assignments.values().filter(|r| **r == room).count()
    }
}

/// The recording in progress.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub recording_id: RecordingId,
    pub started_at: DateTime<Utc>,
}

/// What the media server reported about the meeting's call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MediaPresence {
    /// The media server's notifications already recorded (a redelivery
    /// records nothing).
    pub notifications: BTreeSet<String>,
    /// Its connections by the media server's id: open, or closed for good.
    pub connections: BTreeMap<String, MediaConnection>,
}

/// One media connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MediaConnection {
    Open {
        user_id: UserId,
        since: DateTime<Utc>,
    },
    /// Closed (or reported closed before it was reported open): a late
    /// `connected` does not reopen it.
    Closed,
}

/// The state of one meeting. It is also kept as a snapshot (JSON) beside
/// the log: a change of its shape bumps [`SNAPSHOT_SCHEMA`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meeting {
    pub id: MeetingId,
    pub room_code: RoomCode,
    pub host_id: UserId,
    pub host_name: String,
    pub title: String,
    pub description: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub max_participants: u32,
    pub settings: MeetingSettings,
    pub status: MeetingStatus,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Present participants by user: one seat per user.
    pub present: BTreeMap<UserId, Seat>,
    /// Roles given by invitation or role change (the host is `host_id`).
    pub roles: BTreeMap<UserId, Role>,
    pub policy: SecurityPolicy,
    pub password_id: Option<SecretId>,
    /// Removed with a ban.
    pub banned: BTreeSet<UserId>,
    pub waiting: BTreeMap<ParticipantId, Waiter>,
    pub breakout: Option<Breakout>,
    pub recording: Option<Recording>,
    /// Every recording ever started.
    pub recordings: BTreeSet<RecordingId>,
    /// The latest reactions and chat messages of each user, newest last
    /// (at most as many as the rate limit counts).
    #[serde(with = "pairs")]
    pub recent: BTreeMap<(UserId, Throttled), VecDeque<DateTime<Utc>>>,
    /// What the media server reported.
    #[serde(default)]
    pub media: MediaPresence,
}

/// What is rate-limited per participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Throttled {
    Reaction,
    Chat,
}

impl Throttled {
    /// At most this many ...
    pub const fn limit(self) -> usize {
        match self {
            Self::Reaction => 10,
            Self::Chat => 60,
        }
    }

    /// ... in this many seconds.
    pub const fn window_secs(self) -> i64 {
        match self {
            Self::Reaction => 10,
            Self::Chat => 60,
        }
    }
}

impl Meeting {
    pub fn is_host(&self, user: &UserId) -> bool {
        &self.host_id == user
    }

    /// The user's role in the meeting, if they have one (host, invited,
    /// given a role, or present).
    pub fn role_of(&self, user: &UserId) -> Option<Role> {
        if self.is_host(user) {
            return Some(Role::Host);
        }
        self.roles
            .get(user)
            .copied()
            .or_else(|| self.present.get(user).map(|s| s.role))
    }

    /// Host or co-host.
    pub fn is_moderator(&self, user: &UserId) -> bool {
        matches!(self.role_of(user), Some(Role::Host | Role::CoHost))
    }

    /// The open breakout room the user is in, if any.
    pub fn breakout_room_of(&self, user: &UserId) -> Option<&BreakoutRoom> {
        let breakout = self.breakout.as_ref()?;
        let room = breakout.assignments.get(user)?;
        breakout.rooms.iter().find(|r| r.room_id == *room)
    }

    /// Banned, or on the policy's blocked list.
    pub fn is_blocked(&self, user: &UserId) -> bool {
        self.banned.contains(user) || self.policy.blocked_users.contains(user)
    }

    fn set_role(&mut self, user: &UserId, role: Role) {
        if role == Role::Host {
            let previous = std::mem::replace(&mut self.host_id, user.clone());
            self.roles.remove(user);
            if let Some(seat) = self.present.get(user) {
                self.host_name = seat.user_name.clone();
            }
            if previous != *user {
                // Exactly one host: the one handing over stays a co-host.
                self.roles.insert(previous.clone(), Role::CoHost);
                if let Some(seat) = self.present.get_mut(&previous) {
                    seat.role = Role::CoHost;
                }
            }
        } else {
            self.roles.insert(user.clone(), role);
        }
        if let Some(seat) = self.present.get_mut(user) {
            seat.role = role;
        }
    }

    fn note(&mut self, user: &UserId, what: Throttled, at: DateTime<Utc>) {
        let recent = self.recent.entry((user.clone(), what)).or_default();
        recent.push_back(at);
        while recent.len() > what.limit() {
            recent.pop_front();
        }
    }
}

impl Meeting {
    /// The meeting its first event describes.
    pub fn scheduled(e: &MeetingScheduled) -> Self {
        Self {
            id: e.meeting_id,
            room_code: e.room_code.clone(),
            host_id: e.host_id.clone(),
            host_name: e.host_name.clone(),
            title: e.title.clone(),
            description: e.description.clone(),
            starts_at: e.starts_at,
            ends_at: e.ends_at,
            max_participants: e.max_participants,
            settings: e.settings,
            status: MeetingStatus::Scheduled,
            created_at: e.scheduled_at,
            started_at: None,
            ended_at: None,
            present: BTreeMap::new(),
            roles: BTreeMap::new(),
            policy: SecurityPolicy::default(),
            password_id: e.password_id,
            banned: BTreeSet::new(),
            waiting: BTreeMap::new(),
            breakout: None,
            recording: None,
            recordings: BTreeSet::new(),
            recent: BTreeMap::new(),
            media: MediaPresence::default(),
        }
    }

    /// How many entries the state holds (people present, waiting, with a
    /// role, banned; recent activity; recordings; breakout assignments): a
    /// measure of what writing it costs.
    pub fn entries(&self) -> usize {
        self.present.len()
            + self.waiting.len()
            + self.roles.len()
            + self.banned.len()
            + self.recent.len()
            + self.recordings.len()
            + self.breakout.as_ref().map_or(0, |b| b.assignments.len())
            + self.media.notifications.len()
            + self.media.connections.len()
    }

    /// The meeting as it stands after `events` (a copy: for the replies
    /// that show more than their events).
    pub fn after(&self, events: &[MeetingEvent]) -> Self {
        let mut after = self.clone();
        for event in events {
            after.apply(event);
        }
        after
    }

    /// Folds one event into an existing meeting. Never fails: an event is
    /// a fact, and an event that does not fit the state (which `decide`
    /// never produces) leaves the state as it was.
    pub fn apply(&mut self, event: &MeetingEvent) {
        use MeetingEvent as E;
        let meeting = self;
        match event {
            E::MeetingScheduled(_) => {}
            E::MeetingDetailsUpdated(e) => {
                if let Some(title) = &e.title {
                    meeting.title = title.clone();
                }
                if let Some(description) = &e.description {
                    meeting.description = description.clone();
                }
                meeting.starts_at = e.starts_at.or(meeting.starts_at);
                meeting.ends_at = e.ends_at.or(meeting.ends_at);
                meeting.settings.apply(&e.settings.settings);
                if let Some(max) = e.settings.max_participants {
                    meeting.max_participants = max;
                }
            }
            E::MeetingCancelled(_) => {
                meeting.status = MeetingStatus::Cancelled;
                meeting.waiting.clear();
            }
            E::MeetingStarted(e) => {
                meeting.status = MeetingStatus::Active;
                meeting.started_at = Some(e.started_at);
            }
            E::MeetingEnded(e) => {
                meeting.status = MeetingStatus::Ended;
                meeting.ended_at = Some(e.ended_at);
                meeting.waiting.clear();
            }
            E::RoomConfigUpdated(e) => {
                meeting.settings.apply(&e.settings.settings);
                if let Some(max) = e.settings.max_participants {
                    meeting.max_participants = max;
                }
            }
            E::SecurityPolicyApplied(e) => {
                let change = e.policy.settings_change();
                meeting.settings.apply(&change.settings);
                if let Some(max) = change.max_participants {
                    meeting.max_participants = max;
                }
                meeting.policy = e.policy.clone();
                meeting.password_id = e.password_id;
            }
            E::ParticipantInvited(e) => meeting.set_role(&e.user_id, e.role),
            E::ParticipantRoleChanged(e) => meeting.set_role(&e.user_id, e.role),
            E::ParticipantWaiting(e) => {
                meeting.waiting.insert(
                    e.participant_id,
                    Waiter {
                        participant_id: e.participant_id,
                        user_id: e.user_id.clone(),
                        user_name: e.user_name.clone(),
                        device_type: e.device_type.clone(),
                        is_muted: e.is_muted,
                        is_video_enabled: e.is_video_enabled,
                        since: e.waiting_since,
                        role: e.role,
                    },
                );
            }
            E::ParticipantAdmitted(e) => {
                meeting.waiting.remove(&e.participant_id);
            }
            E::ParticipantRejected(e) => {
                meeting.waiting.remove(&e.participant_id);
            }
            E::ParticipantJoined(e) => {
                meeting.present.insert(
                    e.user_id.clone(),
                    Seat {
                        participant_id: e.participant_id,
                        user_id: e.user_id.clone(),
                        user_name: e.user_name.clone(),
                        role: e.role,
                        device_type: e.device_type.clone(),
                        is_muted: e.is_muted,
                        is_video_enabled: e.is_video_enabled,
                        is_screen_sharing: false,
                        is_hand_raised: false,
                        joined_at: e.joined_at,
                    },
                );
            }
            E::ParticipantLeft(e) => {
                meeting.present.remove(&e.user_id);
                if e.banned {
                    meeting.banned.insert(e.user_id.clone());
                }
                if let Some(breakout) = &mut meeting.breakout {
                    breakout.assignments.remove(&e.user_id);
                }
            }
            E::ParticipantMediaChanged(e) => {
                if let Some(seat) = meeting.present.get_mut(&e.user_id) {
                    seat.is_muted = e.is_muted.unwrap_or(seat.is_muted);
                    seat.is_video_enabled = e.is_video_enabled.unwrap_or(seat.is_video_enabled);
                    seat.is_screen_sharing = e.is_screen_sharing.unwrap_or(seat.is_screen_sharing);
                }
            }
            E::HandRaised(e) => {
                if let Some(seat) = meeting.present.get_mut(&e.user_id) {
                    seat.is_hand_raised = true;
                }
            }
            E::HandLowered(e) => {
                if let Some(seat) = meeting.present.get_mut(&e.user_id) {
                    seat.is_hand_raised = false;
                }
            }
            E::ReactionSent(e) => meeting.note(&e.user_id, Throttled::Reaction, e.sent_at),
            E::ChatMessageSent(e) => meeting.note(&e.sender_id, Throttled::Chat, e.sent_at),
            E::BreakoutRoomsOpened(e) => {
                meeting.breakout = Some(Breakout {
                    session_id: e.session_id,
                    rooms: e.rooms.clone(),
                    allow_participants_to_choose: e.allow_participants_to_choose,
                    allow_participants_to_return: e.allow_participants_to_return,
                    closes_at: e.closes_at,
                    assignments: BTreeMap::new(),
                });
            }
            E::ParticipantAssignedToBreakout(e) => {
                if let Some(breakout) = &mut meeting.breakout {
                    breakout.assignments.insert(e.user_id.clone(), e.room_id);
                }
            }
            E::BreakoutRoomsClosed(_) => meeting.breakout = None,
            E::RecordingStarted(e) => {
                meeting.recording = Some(Recording {
                    recording_id: e.recording_id,
                    started_at: e.started_at,
                });
                meeting.recordings.insert(e.recording_id);
            }
            E::RecordingStopped(_) => meeting.recording = None,
            E::RecordingFileReported(_) => {}
            E::MediaConnected(e) => {
                let media = &mut meeting.media;
                media.notifications.insert(e.notification_id.clone());
                media
                    .connections
                    .entry(e.participant_sid.clone())
                    .or_insert_with(|| MediaConnection::Open {
                        user_id: e.user_id.clone(),
                        since: e.connected_at,
                    });
            }
            E::MediaDisconnected(e) => {
                let media = &mut meeting.media;
                media.notifications.insert(e.notification_id.clone());
                media
                    .connections
                    .insert(e.participant_sid.clone(), MediaConnection::Closed);
            }
            E::MediaRoomFinished(e) => {
                meeting
                    .media
                    .notifications
                    .insert(e.notification_id.clone());
            }
        }
    }
}

/// Folds one event into the state; a meeting exists from its
/// `meeting_scheduled` on.
pub fn evolve(state: Option<Meeting>, event: &MeetingEvent) -> Option<Meeting> {
    match (state, event) {
        (None, MeetingEvent::MeetingScheduled(e)) => Some(Meeting::scheduled(e)),
        (None, _) => None,
        (Some(mut meeting), event) => {
            meeting.apply(event);
            Some(meeting)
        }
    }
}

/// Folds events in order.
pub fn fold<'a>(
    state: Option<Meeting>,
    events: impl IntoIterator<Item = &'a MeetingEvent>,
) -> Option<Meeting> {
    events.into_iter().fold(state, evolve)
}
