//! LiveKit: access tokens that carry a person's [`CallGrants`], and the
//! webhooks LiveKit sends about its rooms, checked and read as
//! [`MediaReport`]s. Both go through LiveKit's own crate (`livekit-api`,
//! its token and webhook parts only): the claims, the signature of a
//! webhook (a JWT from the API secret whose `sha256` claim is the body's
//! hash) and the webhook's protobuf JSON are LiveKit's definitions, not
//! our reading of them.
//!
//! The room is the meeting's room code. A token's claims: `iss` the API
//! key, `sub` the user id, `name` the name in the meeting, `nbf`, `exp`
//! (`LIVEKIT_TOKEN_TTL`), `metadata` (`{"meeting_id","role","is_host",
//! "is_admin"}`), and the `video` grant: `roomJoin` to that room,
//! `canSubscribe`, `canPublish`, `canPublishData` (chat), the sources the
//! meeting allows them (`microphone`; `camera` unless cameras are off for
//! them; `screen_share` and `screen_share_audio` when they may share),
//! and `roomAdmin` and `roomRecord` for moderators and admins.

use chrono::{DateTime, Utc};
use livekit_api::access_token::{
    AccessToken, AccessTokenError, Claims, TokenVerifier, VideoGrants,
};
use livekit_api::webhooks::{WebhookError, WebhookReceiver};
use livekit_protocol::participant_info::Kind;
use livekit_protocol::{DisconnectReason, WebhookEvent};
use serde::Serialize;

use command::meeting::grants::CallGrants;
use command::meeting::presence::{MediaHappening, MediaReport};
use events::UserId;
use events::event::{MediaProvider, Role};

use crate::config::LiveKitConfig;

/// A LiveKit deployment: where clients connect, and the key pair.
pub struct LiveKit {
    url: String,
    api_key: String,
    api_secret: String,
    ttl: std::time::Duration,
    receiver: WebhookReceiver,
}

/// A signed token and when it stops letting its holder connect.
#[derive(Debug, Clone, Serialize)]
pub struct MediaToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// What a token's `metadata` claim holds (JSON text, as LiveKit passes it
/// to every client in the room).
#[derive(Serialize)]
struct Metadata {
    meeting_id: String,
    role: Role,
    is_host: bool,
    is_admin: bool,
}

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
#[error("LiveKit token: {0}")]
pub struct TokenError(#[from] AccessTokenError);

impl LiveKit {
    /// `None` when LiveKit is not configured; an error when only part of
    /// it is.
    pub fn from_config(config: &LiveKitConfig) -> anyhow::Result<Option<Self>> {
        fn nonempty(v: &Option<String>) -> Option<&str> {
            v.as_deref().filter(|v| !v.trim().is_empty())
        }
        match (
            nonempty(&config.url),
            nonempty(&config.api_key),
            nonempty(&config.api_secret),
        ) {
            (None, None, None) => Ok(None),
            (Some(url), Some(key), Some(secret)) => {
                Ok(Some(Self::new(url, key, secret, config.token_ttl)))
            }
            _ => anyhow::bail!(
                "LiveKit needs LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET together"
            ),
        }
    }

    pub fn new(url: &str, api_key: &str, api_secret: &str, ttl: std::time::Duration) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            api_secret: api_secret.to_owned(),
            ttl,
            receiver: WebhookReceiver::new(TokenVerifier::with_api_key(api_key, api_secret)),
        }
    }

    /// Where clients connect.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A token that lets its holder into the meeting's room with exactly
    /// `grants`.
    pub fn token(&self, grants: &CallGrants) -> Result<MediaToken, TokenError> {
        let mut sources = vec!["microphone".to_owned()];
        if grants.camera {
            sources.push("camera".into());
        }
        if grants.screen_share {
            sources.extend(["screen_share".into(), "screen_share_audio".into()]);
        }
        let video = VideoGrants {
            room_join: true,
            room: grants.room.as_str().to_owned(),
            can_subscribe: Some(true),
            can_publish: Some(true),
            can_publish_data: Some(grants.chat),
            can_publish_sources: sources,
            room_admin: grants.moderator,
            room_record: grants.moderator,
            ..Default::default()
        };
        let metadata = serde_json::to_string(&Metadata {
            meeting_id: grants.meeting_id.to_string(),
            role: grants.role,
            is_host: grants.is_host,
            is_admin: grants.admin,
        })
        .expect("plain fields serialise");
        let token = AccessToken::with_api_key(&self.api_key, &self.api_secret)
            .with_identity(grants.user_id.as_str())
            .with_name(&grants.user_name)
            .with_metadata(&metadata)
            .with_ttl(self.ttl)
            .with_grants(video)
            .to_jwt()?;
        // The expiry the token itself carries (to the second).
        let exp = Claims::from_unverified(&token)?.exp;
        let expires_at = i64::try_from(exp)
            .ok()
            .and_then(super::from_epoch_seconds)
            .unwrap_or_else(Utc::now);
        Ok(MediaToken { token, expires_at })
    }

    /// Checks a webhook's signature (its `Authorization` header, with or
    /// without `Bearer`) against its body and reads it.
    pub fn receive(&self, body: &str, authorization: &str) -> Result<WebhookEvent, WebhookError> {
        let token = authorization
            .strip_prefix("Bearer ")
            .unwrap_or(authorization)
            .trim();
        self.receiver.receive(body, token)
    }
}

/// The room a webhook is about and what it reports, if it reports
/// presence: a person's connection opening or closing, or the room
/// finishing. Other events (tracks, egress) and machines in the room
/// (recorders, ingress, agents) report nothing.
pub fn report(event: &WebhookEvent, body: &str) -> Option<(String, MediaReport)> {
    let room = event.room.as_ref()?.name.clone();
    let at = super::from_epoch_seconds(event.created_at).unwrap_or_else(Utc::now);
    let person = || {
        let participant = event.participant.as_ref()?;
        let machine = matches!(
            Kind::try_from(participant.kind),
            Ok(Kind::Ingress | Kind::Egress | Kind::Agent)
        );
        (!machine).then_some(participant)
    };
    let happened = match event.event.as_str() {
        "participant_joined" => {
            let participant = person()?;
            MediaHappening::Connected {
                user_id: UserId(participant.identity.clone()),
                participant_sid: participant.sid.clone(),
            }
        }
        "participant_left" | "participant_connection_aborted" => {
            let participant = person()?;
            let reason = match DisconnectReason::try_from(participant.disconnect_reason) {
                Ok(reason) if reason != DisconnectReason::UnknownReason => reason.as_str_name(),
                _ if event.event == "participant_connection_aborted" => "CONNECTION_ABORTED",
                _ => DisconnectReason::UnknownReason.as_str_name(),
            };
            let connected_at = if participant.joined_at_ms > 0 {
                DateTime::from_timestamp_millis(participant.joined_at_ms)
            } else {
                super::from_epoch_seconds(participant.joined_at)
            };
            MediaHappening::Disconnected {
                user_id: UserId(participant.identity.clone()),
                participant_sid: participant.sid.clone(),
                connected_at,
                reason: reason.to_owned(),
            }
        }
        "room_finished" => MediaHappening::RoomFinished,
        _ => return None,
    };
    // LiveKit gives every event an id; without one, the body names it.
    let notification_id = if event.id.is_empty() {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(body)))
    } else {
        event.id.clone()
    };
    Some((
        room,
        MediaReport {
            provider: MediaProvider::Livekit,
            notification_id,
            at,
            happened,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use livekit_protocol::{ParticipantInfo, Room};

    fn event(kind: &str, participant: Option<ParticipantInfo>) -> WebhookEvent {
        WebhookEvent {
            event: kind.into(),
            room: Some(Room {
                name: "abc-defg-hij".into(),
                ..Default::default()
            }),
            participant,
            id: "EV_1".into(),
            created_at: 1_700_000_000,
            ..Default::default()
        }
    }

    fn person(kind: Kind) -> ParticipantInfo {
        ParticipantInfo {
            sid: "PA_1".into(),
            identity: "bob".into(),
            kind: kind as i32,
            joined_at: 1_699_999_000,
            ..Default::default()
        }
    }

    #[test]
    fn presence_events_of_people_become_reports_and_the_rest_does_not() {
        let (room, joined) = report(
            &event("participant_joined", Some(person(Kind::Standard))),
            "",
        )
        .unwrap();
        assert_eq!(room, "abc-defg-hij");
        assert_eq!(joined.notification_id, "EV_1");
        assert!(matches!(joined.happened, MediaHappening::Connected { .. }));
        let (_, left) = report(
            &event("participant_connection_aborted", Some(person(Kind::Sip))),
            "",
        )
        .unwrap();
        assert!(matches!(
            left.happened,
            MediaHappening::Disconnected { ref reason, connected_at: Some(_), .. }
                if reason == "CONNECTION_ABORTED"
        ));
        assert!(report(&event("participant_joined", Some(person(Kind::Egress))), "").is_none());
        assert!(report(&event("track_published", Some(person(Kind::Standard))), "").is_none());
        let (_, finished) = report(&event("room_finished", None), "").unwrap();
        assert_eq!(finished.happened, MediaHappening::RoomFinished);
    }
}
