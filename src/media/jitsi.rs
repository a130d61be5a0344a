//! Jitsi: personalized links (spec 002). A link opens the meeting's room
//! on `JITSI_DOMAIN` with the caller's name filled in, starting muted or
//! without video as the meeting says, and, with `JITSI_APP_SECRET`, a JWT
//! in prosody's token format (`mod_auth_token`) that makes moderators
//! moderators and carries the meeting's features:
//!
//! `iss` = `JITSI_APP_ID`, `aud` = `JITSI_AUDIENCE`, `sub` = the domain,
//! `room` = the room code (lower-case), `iat`, `nbf`, `exp`
//! (`JITSI_TOKEN_TTL`), `context.user` = `{id, name, email, moderator}`
//! (strings, never null: an unknown email is `""`, `moderator` is
//! `"true"`/`"false"`), `context.features` = `{recording,
//! screen-sharing, transcription, livestreaming, outbound-call}` (the same
//! strings).
//!
//! `https://<domain>/<room>?jwt=<token>#userInfo.displayName="<name>"&config.startWithAudioMuted=<b>&config.startWithVideoMuted=<b>`:
//! Jitsi reads each fragment value as URI-encoded JSON, so the name is a
//! JSON string whose characters outside `A-Za-z0-9-._~` are
//! percent-encoded.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use command::meeting::grants::LinkGrants;

use crate::config::JitsiConfig;

/// A Jitsi deployment.
pub struct Jitsi {
    domain: String,
    app_id: Option<String>,
    key: Option<EncodingKey>,
    audience: String,
    ttl: Duration,
}

/// A personalized link and when its token expires (none without a
/// secret).
#[derive(Debug, Clone)]
pub struct JitsiLink {
    pub url: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The claims prosody's token plugin reads.
#[derive(Debug, Serialize)]
pub struct JitsiClaims<'a> {
    pub iss: &'a str,
    pub aud: &'a str,
    pub sub: &'a str,
    pub room: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub context: Context<'a>,
}

#[derive(Debug, Serialize)]
pub struct Context<'a> {
    pub user: User<'a>,
    pub features: Features,
}

#[derive(Debug, Serialize)]
pub struct User<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub moderator: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Features {
    pub recording: &'static str,
    #[serde(rename = "screen-sharing")]
    pub screen_sharing: &'static str,
    pub transcription: &'static str,
    pub livestreaming: &'static str,
    #[serde(rename = "outbound-call")]
    pub outbound_call: &'static str,
}

/// prosody's booleans are strings.
fn flag(on: bool) -> &'static str {
    if on { "true" } else { "false" }
}

impl Jitsi {
    /// `None` without a domain; an error for a secret without an app id
    /// (prosody checks the issuer).
    pub fn from_config(config: &JitsiConfig) -> anyhow::Result<Option<Self>> {
        let nonempty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let Some(domain) = nonempty(&config.domain) else {
            return Ok(None);
        };
        let app_id = nonempty(&config.app_id);
        let secret = nonempty(&config.app_secret);
        if secret.is_some() && app_id.is_none() {
            anyhow::bail!("JITSI_APP_SECRET needs JITSI_APP_ID (the tokens' issuer)");
        }
        let ttl = Duration::from_std(config.token_ttl)
            .map_err(|_| anyhow::anyhow!("JITSI_TOKEN_TTL is too long"))?;
        Ok(Some(Self {
            domain: domain
                .trim_start_matches("https://")
                .trim_end_matches('/')
                .to_owned(),
            app_id,
            key: secret.map(|s| EncodingKey::from_secret(s.as_bytes())),
            audience: config.audience.clone(),
            ttl,
        }))
    }

    /// The caller's link to the meeting's room.
    pub fn link(
        &self,
        grants: &LinkGrants,
        name: &str,
        email: Option<&str>,
    ) -> Result<JitsiLink, jsonwebtoken::errors::Error> {
        let room = grants.room.as_str().to_lowercase();
        let mut url = format!("https://{}/{room}", self.domain);
        let mut expires_at = None;
        if let (Some(key), Some(app_id)) = (&self.key, &self.app_id) {
            let now = Utc::now();
            let exp = now + self.ttl;
            let claims = JitsiClaims {
                iss: app_id,
                aud: &self.audience,
                sub: &self.domain,
                room: room.clone(),
                iat: now.timestamp(),
                nbf: now.timestamp(),
                exp: exp.timestamp(),
                context: Context {
                    user: User {
                        id: grants.user_id.as_str(),
                        name,
                        email: email.unwrap_or(""),
                        moderator: flag(grants.is_moderator),
                    },
                    features: Features {
                        recording: flag(grants.recording),
                        screen_sharing: flag(grants.screen_sharing),
                        transcription: flag(grants.transcription),
                        livestreaming: flag(false),
                        outbound_call: flag(false),
                    },
                },
            };
            let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)?;
            url.push_str("?jwt=");
            url.push_str(&token);
            expires_at = DateTime::from_timestamp(exp.timestamp(), 0);
        }
        let display_name = serde_json::to_string(name).expect("a string serialises");
        let inner = &display_name[1..display_name.len() - 1];
        url.push_str(&format!(
            "#userInfo.displayName=\"{}\"&config.startWithAudioMuted={}&config.startWithVideoMuted={}",
            percent_encode(inner),
            grants.start_muted,
            grants.start_without_video,
        ));
        Ok(JitsiLink { url, expires_at })
    }
}

/// Every byte outside the unreserved characters (`A-Za-z0-9-._~`) as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_percent_encoded_inside_its_json_quotes() {
        assert_eq!(percent_encode("John Doe"), "John%20Doe");
        assert_eq!(
            percent_encode("Zoë & \\\"co\\\""),
            "Zo%C3%AB%20%26%20%5C%22co%5C%22"
        );
    }
}
