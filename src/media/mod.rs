//! The media servers Meetings hands people to: [`livekit`] (access tokens
//! and the webhooks it sends back) and [`jitsi`] (personalized links).
//! Both encode what `command::meeting::grants` decided from the meeting's
//! rules; neither decides anything itself.

pub mod jitsi;
pub mod livekit;

use crate::config::Config;

/// The configured media servers (either, both or none).
pub struct Media {
    pub livekit: Option<livekit::LiveKit>,
    pub jitsi: Option<jitsi::Jitsi>,
}

impl Media {
    /// From the settings; a half-configured server is an error at start,
    /// not a surprise at the first join.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            livekit: livekit::LiveKit::from_config(&config.livekit)?,
            jitsi: jitsi::Jitsi::from_config(&config.jitsi)?,
        })
    }
}

/// A way into the meeting's media room (a join's `media`).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MediaAccess {
    pub provider: &'static str,
    pub url: String,
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Seconds since the epoch as a time (the media servers' clocks count in
/// whole seconds); 0 or out of range: none.
pub fn from_epoch_seconds(seconds: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    (seconds > 0)
        .then(|| chrono::DateTime::from_timestamp(seconds, 0))
        .flatten()
}
