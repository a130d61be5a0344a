//! Breakout rooms: opening a session of rooms (with auto-assignment and a
//! time limit), assigning people (or letting them choose), closing, and
//! closing by the time limit.

use events::event::{
    BreakoutCloseReason, BreakoutRoom, BreakoutRoomSettings, BreakoutRoomsClosed,
    BreakoutRoomsOpened, ParticipantAssignedToBreakout, Role,
};
use events::views::{BreakoutRoomView, BreakoutView};
use events::{BreakoutRoomId, BreakoutSessionId, MeetingEvent, MeetingId, UserId};
use serde::{Deserialize, Serialize};

use super::Decision;
use super::context::Context;
use super::error::MeetingError;
use super::rules::{
    MAX_PARTICIPANTS_LIMIT, capacity, line, moderates, require_active, require_moderator, running,
    seat_of,
};
use super::state::{Meeting, Seat};
use events::views::MeetingStatus;

pub const BREAKOUT_ROOMS_MAX: i64 = 50;
const ROOM_NAME_MAX_CHARS: usize = 100;
const ROOM_DESCRIPTION_MAX_CHARS: usize = 500;
/// A day.
pub const BREAKOUT_TIME_LIMIT_MAX_MINUTES: i64 = 24 * 60;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RoomRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub capacity: Option<i64>,
    pub settings: Option<BreakoutRoomSettings>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenBreakout {
    pub session_id: BreakoutSessionId,
    pub room_count: Option<i64>,
    pub rooms: Vec<RoomRequest>,
    pub auto_assign: bool,
    pub allow_participants_to_choose: bool,
    pub allow_participants_to_return: bool,
    pub time_limit_minutes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssignedView {
    pub meeting_id: MeetingId,
    pub participant_user_id: UserId,
    pub breakout_room_id: BreakoutRoomId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreakoutClosedView {
    pub meeting_id: MeetingId,
    /// None when nothing was open (a time limit that had already closed).
    pub session_id: Option<BreakoutSessionId>,
    pub closed: bool,
}

/// The meeting's open breakout rooms and who is in each.
pub fn breakout_view(meeting: &Meeting) -> BreakoutView {
    let Some(b) = meeting.breakout.as_ref() else {
        return BreakoutView::closed(meeting.id);
    };
    let room = |r: &BreakoutRoom| {
        let participants: Vec<UserId> = b
            .assignments
            .iter()
            .filter(|(_, room)| **room == r.room_id)
            .map(|(user, _)| user.clone())
            .collect();
        BreakoutRoomView {
            room_id: r.room_id,
            name: r.name.clone(),
            description: r.description.clone(),
            capacity: r.capacity,
            settings: r.settings,
            current_participants: participants.len(),
            participants,
            is_active: true,
        }
    };
    BreakoutView {
        meeting_id: meeting.id,
        session_id: Some(b.session_id),
        is_open: true,
        allow_participants_to_choose: b.allow_participants_to_choose,
        allow_participants_to_return: b.allow_participants_to_return,
        closes_at: b.closes_at,
        rooms: b.rooms.iter().map(room).collect(),
    }
}

/// The id of the `index`th room of a session: derived, so `decide` stays
/// pure and a replay gives the same ids.
pub fn breakout_room_id(session: BreakoutSessionId, index: usize) -> BreakoutRoomId {
    BreakoutRoomId(uuid::Uuid::new_v5(&session.0, index.to_string().as_bytes()))
}

pub(super) fn open(
    meeting: &Meeting,
    ctx: &Context,
    cmd: &OpenBreakout,
) -> Result<Decision<BreakoutView>, MeetingError> {
    require_moderator(meeting, ctx)?;
    require_active(meeting)?;
    if meeting.breakout.is_some() {
        return Err(MeetingError::BreakoutOpen);
    }
    let count = if cmd.rooms.is_empty() {
        cmd.room_count
            .ok_or_else(|| MeetingError::invalid("room_count", "or rooms is required"))?
    } else {
        cmd.rooms.len() as i64
    };
    if !(1..=BREAKOUT_ROOMS_MAX).contains(&count) {
        return Err(MeetingError::invalid(
            "room_count",
            format!("must be between 1 and {BREAKOUT_ROOMS_MAX}"),
        ));
    }
    let mut rooms = Vec::new();
    for index in 0..count as usize {
        let request = cmd.rooms.get(index).cloned().unwrap_or_default();
        let name = request
            .name
            .map(|n| n.trim().to_owned())
            .unwrap_or_else(|| format!("Breakout Room {}", index + 1));
        if name.is_empty() {
            return Err(MeetingError::invalid("rooms.name", "must not be empty"));
        }
        line("rooms.name", &name, ROOM_NAME_MAX_CHARS)?;
        let description = request.description.unwrap_or_default();
        running(
            "rooms.description",
            &description,
            ROOM_DESCRIPTION_MAX_CHARS,
        )?;
        let capacity = request
            .capacity
            .map(|c| {
                capacity(c).map_err(|_| {
                    MeetingError::invalid(
                        "rooms.capacity",
                        format!("must be between 1 and {MAX_PARTICIPANTS_LIMIT}"),
                    )
                })
            })
            .transpose()?;
        rooms.push(BreakoutRoom {
            room_id: breakout_room_id(cmd.session_id, index),
            name,
            description,
            capacity,
            settings: request.settings.unwrap_or_default(),
        });
    }
    let closes_at = match cmd.time_limit_minutes {
        None => None,
        Some(m) if (1..=BREAKOUT_TIME_LIMIT_MAX_MINUTES).contains(&m) => {
            Some(ctx.at + chrono::Duration::minutes(m))
        }
        Some(_) => {
            return Err(MeetingError::invalid(
                "time_limit_minutes",
                format!("must be between 1 and {BREAKOUT_TIME_LIMIT_MAX_MINUTES}"),
            ));
        }
    };
    let mut events = Vec::new();
    if cmd.auto_assign {
        // Present non-moderators in the order they joined, dealt round
        // the rooms that still have space.
        let mut people: Vec<&Seat> = meeting
            .present
            .values()
            .filter(|s| !matches!(s.role, Role::Host | Role::CoHost))
            .collect();
        people.sort_by(|a, b| (a.joined_at, &a.user_id).cmp(&(b.joined_at, &b.user_id)));
        let mut filled = vec![0u32; rooms.len()];
        let mut next = 0;
        for seat in people {
            let Some(offset) = (0..rooms.len()).find(|k| {
                let room = (next + k) % rooms.len();
                rooms[room].capacity.is_none_or(|c| filled[room] < c)
            }) else {
                break;
            };
            let room = (next + offset) % rooms.len();
            filled[room] += 1;
            next = room + 1;
            events.push(MeetingEvent::ParticipantAssignedToBreakout(
                ParticipantAssignedToBreakout {
                    meeting_id: meeting.id,
                    session_id: cmd.session_id,
                    room_id: rooms[room].room_id,
                    user_id: seat.user_id.clone(),
                    assigned_by: ctx.caller.user_id.clone(),
                },
            ));
        }
    }
    events.insert(
        0,
        MeetingEvent::BreakoutRoomsOpened(BreakoutRoomsOpened {
            meeting_id: meeting.id,
            session_id: cmd.session_id,
            rooms,
            allow_participants_to_choose: cmd.allow_participants_to_choose,
            allow_participants_to_return: cmd.allow_participants_to_return,
            closes_at,
            opened_by: ctx.caller.user_id.clone(),
            opened_at: ctx.at,
        }),
    );
    let reply = breakout_view(&meeting.after(&events));
    Ok(Decision::new(events, reply))
}

/// A moderator assigns anyone present; a participant may pick their own
/// room when the session allows it. Capacity holds either way.
pub(super) fn assign(
    meeting: &Meeting,
    ctx: &Context,
    user: &UserId,
    room: BreakoutRoomId,
) -> Result<Decision<AssignedView>, MeetingError> {
    let moderator = moderates(meeting, ctx);
    let chooses_own = *user == ctx.caller.user_id
        && meeting
            .breakout
            .as_ref()
            .is_some_and(|b| b.allow_participants_to_choose);
    if !moderator && !chooses_own {
        return Err(MeetingError::NotModerator);
    }
    require_active(meeting)?;
    let breakout = meeting
        .breakout
        .as_ref()
        .ok_or(MeetingError::BreakoutNotOpen)?;
    seat_of(meeting, ctx, user)?;
    let target = breakout
        .rooms
        .iter()
        .find(|r| r.room_id == room)
        .ok_or_else(|| MeetingError::invalid("breakout_room_id", "no such breakout room"))?;
    let reply = AssignedView {
        meeting_id: meeting.id,
        participant_user_id: user.clone(),
        breakout_room_id: room,
    };
    if breakout.assignments.get(user) == Some(&room) {
        return Ok(Decision::new(vec![], reply));
    }
    if target
        .capacity
        .is_some_and(|c| breakout.occupancy(room) >= c as usize)
    {
        return Err(MeetingError::RoomFull);
    }
    let event = MeetingEvent::ParticipantAssignedToBreakout(ParticipantAssignedToBreakout {
        meeting_id: meeting.id,
        session_id: breakout.session_id,
        room_id: room,
        user_id: user.clone(),
        assigned_by: ctx.caller.user_id.clone(),
    });
    Ok(Decision::new(vec![event], reply))
}

/// The event of a session's rooms closing for `reason`.
pub(super) fn closed_by(
    meeting: &Meeting,
    ctx: &Context,
    session_id: BreakoutSessionId,
    reason: BreakoutCloseReason,
) -> MeetingEvent {
    MeetingEvent::BreakoutRoomsClosed(BreakoutRoomsClosed {
        meeting_id: meeting.id,
        session_id,
        reason,
        closed_by: ctx.caller.user_id.clone(),
        closed_at: ctx.at,
    })
}

fn closed_reply(meeting: &Meeting, session_id: Option<BreakoutSessionId>) -> BreakoutClosedView {
    BreakoutClosedView {
        meeting_id: meeting.id,
        session_id,
        closed: session_id.is_some(),
    }
}

pub(super) fn close(
    meeting: &Meeting,
    ctx: &Context,
) -> Result<Decision<BreakoutClosedView>, MeetingError> {
    require_moderator(meeting, ctx)?;
    require_active(meeting)?;
    let breakout = meeting
        .breakout
        .as_ref()
        .ok_or(MeetingError::BreakoutNotOpen)?;
    let event = closed_by(
        meeting,
        ctx,
        breakout.session_id,
        BreakoutCloseReason::Closed,
    );
    Ok(Decision::new(
        vec![event],
        closed_reply(meeting, Some(breakout.session_id)),
    ))
}

/// Closes the session's rooms once their time is up; before that, or once
/// they are closed, nothing happens (so any node's timer may ask, any
/// number of times).
pub(super) fn expire(
    meeting: &Meeting,
    ctx: &Context,
    session: BreakoutSessionId,
) -> Result<Decision<BreakoutClosedView>, MeetingError> {
    let due = meeting
        .breakout
        .as_ref()
        .is_some_and(|b| b.session_id == session && b.closes_at.is_some_and(|at| at <= ctx.at));
    if !due || meeting.status != MeetingStatus::Active {
        return Ok(Decision::new(vec![], closed_reply(meeting, None)));
    }
    let event = closed_by(meeting, ctx, session, BreakoutCloseReason::TimeLimit);
    Ok(Decision::new(
        vec![event],
        closed_reply(meeting, Some(session)),
    ))
}

#[cfg(test)]
mod tests {
    use super::super::given::*;
    use super::breakout_room_id;

    #[test]
    fn auto_assign_spreads_present_participants_evenly_within_capacity() {
        let mut given = Given::active("alice");
        given.joined("alice");
        for who in ["p1", "p2", "p3", "p4", "p5"] {
            given.joined(who).after(Duration::seconds(1));
        }
        let events = given
            .when(
                "alice",
                open_rooms(|o| {
                    o.room_count = None;
                    o.rooms = vec![
                        RoomRequest {
                            capacity: Some(1),
                            ..Default::default()
                        },
                        RoomRequest {
                            name: Some("Two".into()),
                            ..Default::default()
                        },
                        RoomRequest::default(),
                    ];
                    o.auto_assign = true;
                }),
            )
            .unwrap();
        let E::BreakoutRoomsOpened(opened) = &events[0] else {
            panic!()
        };
        assert_eq!(opened.rooms[1].name, "Two");
        assert_eq!(opened.rooms[2].name, "Breakout Room 3");
        let mut per_room = std::collections::HashMap::new();
        for e in &events[1..] {
            let E::ParticipantAssignedToBreakout(a) = e else {
                panic!()
            };
            assert_ne!(a.user_id, user("alice"), "the host stays in the main room");
            *per_room.entry(a.room_id).or_insert(0) += 1;
        }
        assert_eq!(events.len() - 1, 5);
        assert_eq!(per_room[&opened.rooms[0].room_id], 1, "capacity holds");
        assert_eq!(per_room[&opened.rooms[1].room_id], 2);
        assert_eq!(per_room[&opened.rooms[2].room_id], 2);
    }

    #[test]
    fn breakout_assignment_respects_capacity_choice_and_the_open_session() {
        let mut given = Given::active("alice");
        given.joined("bob").joined("carol");
        let assign = |who: &str, room| Command::AssignBreakout {
            user_id: user(who),
            room_id: room,
        };
        let any_room = events::BreakoutRoomId::new();
        assert_eq!(
            given.when("alice", assign("bob", any_room)),
            Err(MeetingError::BreakoutNotOpen)
        );
        let session = BreakoutSessionId::new();
        given.run(
            "alice",
            open_rooms(|o| {
                o.session_id = session;
                o.room_count = None;
                o.rooms = vec![RoomRequest {
                    capacity: Some(1),
                    ..Default::default()
                }];
                o.allow_participants_to_choose = true;
            }),
        );
        assert_eq!(
            given.when("alice", open_rooms(|_| {})),
            Err(MeetingError::BreakoutOpen)
        );
        let room = breakout_room_id(session, 0);
        assert_eq!(
            validation_field(given.when("alice", assign("bob", any_room))),
            "breakout_room_id"
        );
        assert_eq!(
            given.when("bob", assign("carol", room)),
            Err(MeetingError::NotModerator)
        );
        given.run("bob", assign("bob", room));
        assert_eq!(
            given.when("carol", assign("carol", room)),
            Err(MeetingError::RoomFull)
        );
        assert_eq!(
            given.when("bob", Command::CloseBreakout),
            Err(MeetingError::NotModerator)
        );
        let events = given.when("alice", Command::CloseBreakout).unwrap();
        assert!(
            matches!(events.as_slice(), [E::BreakoutRoomsClosed(c)] if c.reason == BreakoutCloseReason::Closed)
        );
        given.run("alice", Command::CloseBreakout);
        assert!(
            given.meeting().breakout.is_none(),
            "everyone is back in the main room"
        );
    }

    #[test]
    fn a_time_limit_closes_the_rooms_only_once_it_has_passed() {
        let mut given = Given::active("alice");
        let session = BreakoutSessionId::new();
        given.run(
            "alice",
            open_rooms(|o| {
                o.session_id = session;
                o.time_limit_minutes = Some(5);
            }),
        );
        assert_eq!(
            given.when("anyone", Command::ExpireBreakout(session)),
            Ok(vec![])
        );
        assert_eq!(
            validation_field(
                Given::active("alice")
                    .when("alice", open_rooms(|o| o.time_limit_minutes = Some(0)))
            ),
            "time_limit_minutes"
        );
        given.after(Duration::minutes(5));
        assert_eq!(
            given.when("anyone", Command::ExpireBreakout(BreakoutSessionId::new())),
            Ok(vec![])
        );
        let events = given
            .when("anyone", Command::ExpireBreakout(session))
            .unwrap();
        assert!(
            matches!(events.as_slice(), [E::BreakoutRoomsClosed(c)] if c.reason == BreakoutCloseReason::TimeLimit)
        );
    }
}
