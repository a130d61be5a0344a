//! Bearer-token authentication: HS256 JWTs signed with `JWT_SECRET`.
//!
//! The algorithm is pinned to HS256 (a token that says `none` or anything
//! else is refused), `exp` is required, `nbf` and `iat` may not lie in the
//! future, a token may not live longer than `JWT_MAX_TTL`, and `iss`/`aud`
//! are checked when configured (all with [`LEEWAY_SECS`] for clocks). The
//! claims are `sub` (the user id), `name`, `email` and `roles` (`admin`,
//! `auditor`); their text follows [`events::text`]: a subject, email or
//! role with a control character is refused, a name longer than
//! [`events::text::MAX_NAME_CHARS`] is cut. The caller's name is the
//! token's name, else its email, else its subject.
//!
//! Meetings signs one kind of token itself: a guest's, for someone who
//! joined by link with a name. Its `guest_of` claim names the one meeting
//! it is good for ([`JwtKeys::issue_guest`]).

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use command::meeting::{Caller, CallerKind};
use events::{MeetingId, UserId};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// A guest token's meeting: the token is good for that meeting only
    /// (and its roles count for nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_of: Option<String>,
}

/// Why a caller was refused: the client sees 401 with
/// [`AuthError::public_reason`] (what was wrong, never a key or a claim's
/// value) in the body and in `WWW-Authenticate`.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("token's {0}: {1}")]
    Claim(&'static str, events::text::TextError),
    #[error("token issued in the future")]
    IssuedInFuture,
    #[error("token lives longer than the longest accepted lifetime")]
    TooLong,
    /// The token names a signing key the server does not know.
    #[error("unknown signing key")]
    UnknownKey,
    /// A guest's token once its meeting is over.
    #[error("the guest token ended with its meeting")]
    MeetingOver,
    /// A media server's webhook whose signature does not verify.
    #[error("webhook signature: {0}")]
    Webhook(String),
}

impl AuthError {
    /// What was wrong, for the client: missing, malformed, expired, bad
    /// signature, wrong issuer or audience, and the like.
    pub fn public_reason(&self) -> String {
        use jsonwebtoken::errors::ErrorKind as K;
        match self {
            Self::Invalid(e) => match e.kind() {
                K::ExpiredSignature => "token expired".into(),
                K::ImmatureSignature => "token not yet valid (nbf)".into(),
                K::InvalidSignature => "bad signature".into(),
                K::InvalidIssuer => "wrong issuer".into(),
                K::InvalidAudience => "wrong audience".into(),
                K::InvalidAlgorithm => "signing algorithm not accepted".into(),
                K::MissingRequiredClaim(claim) => format!("missing claim {claim}"),
                K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => {
                    "malformed token".into()
                }
                _ => "invalid token".into(),
            },
            Self::Claim(name, e) => format!("invalid claim {name}: {e}"),
            Self::Webhook(_) => "webhook signature does not verify".into(),
            other => other.to_string(),
        }
    }

    /// Whether a token was sent at all (RFC 6750: no error code without).
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Missing)
    }
}

/// Seconds of clock difference allowed on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: u64 = 5;
/// The longest lifetime a token may have unless configured.
pub const DEFAULT_MAX_TTL: Duration = Duration::hours(24);

/// The keys and rules for tokens.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<String>,
    max_ttl: Duration,
}

impl JwtKeys {
    pub fn new(secret: &[u8], issuer: Option<String>, audience: Option<String>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        // A configured issuer or audience must be present, not merely
        // correct when present.
        let mut required = vec!["exp", "sub"];
        required.extend(issuer.as_ref().map(|_| "iss"));
        required.extend(audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        if let Some(iss) = &issuer {
            validation.set_issuer(&[iss]);
        }
        match &audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer,
            audience,
            max_ttl: DEFAULT_MAX_TTL,
        }
    }

    /// The longest lifetime a token may have (`exp` - `iat`, or `exp` -
    /// now without `iat`).
    pub fn with_max_ttl(mut self, max_ttl: Duration) -> Self {
        self.max_ttl = max_ttl;
        self
    }

    /// Checks a token and returns the caller it names.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?;
        let claims = data.claims;
        let now = Utc::now().timestamp();
        let leeway = LEEWAY_SECS as i64;
        if claims.iat.is_some_and(|iat| iat > now + leeway) {
            return Err(AuthError::IssuedInFuture);
        }
        let since = claims.iat.unwrap_or(now).min(now);
        if claims.exp - since > self.max_ttl.num_seconds() + leeway {
            return Err(AuthError::TooLong);
        }
        let claim = |name, checked: Result<(), events::text::TextError>| {
            checked.map_err(|e| AuthError::Claim(name, e))
        };
        if claims.sub.trim().is_empty() {
            return Err(AuthError::Claim("sub", events::text::TextError::Empty));
        }
        claim("sub", events::text::id(&claims.sub))?;
        if let Some(email) = &claims.email {
            claim("email", events::text::line(email, 320))?;
        }
        for role in &claims.roles {
            claim("roles", events::text::line(role, 64))?;
        }
        let kind = match &claims.guest_of {
            None => CallerKind::Person,
            Some(meeting) => CallerKind::Guest(
                meeting
                    .parse()
                    .map_err(|_| AuthError::Claim("guest_of", events::text::TextError::Empty))?,
            ),
        };
        // The name a person goes by: the token's name, else the email,
        // else the id (a blank one counts as none).
        let given = |v: &Option<String>| v.clone().filter(|v| !v.trim().is_empty());
        let name = given(&claims.name)
            .or_else(|| given(&claims.email))
            .unwrap_or_else(|| claims.sub.clone());
        let name = events::text::name(&name).map_err(|e| AuthError::Claim("name", e))?;
        Ok(Caller {
            name,
            user_id: UserId(claims.sub),
            email: claims.email,
            roles: claims.roles,
            kind,
        })
    }

    /// Signs a guest's token: good for `meeting` only, for `lifetime` (cut
    /// to the longest lifetime a token may have).
    pub fn issue_guest(
        &self,
        guest: &Caller,
        meeting: MeetingId,
        lifetime: Duration,
    ) -> Result<(String, DateTime<Utc>), jsonwebtoken::errors::Error> {
        let now = Utc::now();
        let exp = now + lifetime.min(self.max_ttl);
        let claims = Claims {
            sub: guest.user_id.as_str().to_owned(),
            name: Some(guest.name.clone()),
            email: None,
            roles: Vec::new(),
            exp: exp.timestamp(),
            iat: Some(now.timestamp()),
            nbf: None,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            guest_of: Some(meeting.to_string()),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        let exp = DateTime::from_timestamp(exp.timestamp(), 0).unwrap_or(exp);
        Ok((token, exp))
    }

    /// Signs a token valid for `lifetime`.
    pub fn issue(
        &self,
        sub: &str,
        name: &str,
        email: Option<&str>,
        roles: &[String],
        lifetime: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = Utc::now();
        let claims = Claims {
            sub: sub.to_owned(),
            name: Some(name.to_owned()),
            email: email.map(str::to_owned),
            roles: roles.to_vec(),
            exp: (now + lifetime).timestamp(),
            iat: Some(now.timestamp()),
            nbf: None,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            guest_of: None,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }
}

/// The token in an `Authorization: Bearer <token>` header value.
pub fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    let value = header.ok_or(AuthError::Missing)?.trim();
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(n: i64) -> Duration {
        Duration::hours(n)
    }

    #[test]
    fn a_token_names_its_caller() {
        let keys = JwtKeys::new(b"secret", None, None);
        let roles = vec!["auditor".to_owned()];
        let token = keys
            .issue("alice", "Alice", Some("a@x.org"), &roles, hours(1))
            .unwrap();
        let caller = keys.verify(&token).unwrap();
        assert_eq!(caller.user_id.as_str(), "alice");
        assert_eq!(caller.name, "Alice");
        assert_eq!(caller.email.as_deref(), Some("a@x.org"));
        assert_eq!(caller.roles, roles);
        assert_eq!(caller.kind, CallerKind::Person);
    }

    #[test]
    fn without_a_name_a_caller_goes_by_their_email_then_their_id() {
        let keys = JwtKeys::new(b"secret", None, None);
        let exp = Utc::now().timestamp() + 3600;
        for (claims, name) in [
            (
                serde_json::json!({"sub": "u1", "name": "Ann", "email": "a@x.org", "exp": exp}),
                "Ann",
            ),
            (
                serde_json::json!({"sub": "u1", "name": "  ", "email": "a@x.org", "exp": exp}),
                "a@x.org",
            ),
            (
                serde_json::json!({"sub": "u1", "email": "a@x.org", "exp": exp}),
                "a@x.org",
            ),
            (
                serde_json::json!({"sub": "u1", "name": "", "email": " ", "exp": exp}),
                "u1",
            ),
            (serde_json::json!({"sub": "u1", "exp": exp}), "u1"),
        ] {
            assert_eq!(keys.verify(&sign(&claims)).unwrap().name, name, "{claims}");
        }
    }

    #[test]
    fn a_guest_token_names_its_meeting_and_no_role_of_it_counts() {
        let keys = JwtKeys::new(b"secret", None, None).with_max_ttl(hours(6));
        let meeting = MeetingId::new();
        let guest = Caller::person("guest-ann-0a1b2c3d", "Ann");
        let (token, expires) = keys.issue_guest(&guest, meeting, hours(12)).unwrap();
        let back = keys.verify(&token).unwrap();
        assert_eq!(back.kind, CallerKind::Guest(meeting));
        assert_eq!(back.name, "Ann");
        let lives = expires - Utc::now();
        assert!(
            lives <= hours(6) && lives > hours(5),
            "cut to the longest lifetime"
        );
        let exp = Utc::now().timestamp() + 60;
        let admin_guest = serde_json::json!({
            "sub": "g", "exp": exp, "roles": ["admin"], "guest_of": meeting.to_string()
        });
        assert!(!keys.verify(&sign(&admin_guest)).unwrap().is_admin());
        let bad = serde_json::json!({"sub": "g", "exp": exp, "guest_of": "not-a-meeting"});
        assert!(keys.verify(&sign(&bad)).is_err());
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let strict = JwtKeys::new(b"secret", Some("idp".into()), Some("meetings".into()));
        let other_issuer =
            JwtKeys::new(b"secret", Some("elsewhere".into()), Some("meetings".into()));
        let other_audience = JwtKeys::new(b"secret", Some("idp".into()), Some("billing".into()));
        let lax = JwtKeys::new(b"secret", None, None);

        let good = strict.issue("alice", "A", None, &[], hours(1)).unwrap();
        assert!(strict.verify(&good).is_ok());
        for (name, keys) in [
            ("issuer", &other_issuer),
            ("audience", &other_audience),
            ("neither", &lax),
        ] {
            let token = keys.issue("alice", "A", None, &[], hours(1)).unwrap();
            assert!(strict.verify(&token).is_err(), "wrong {name} accepted");
        }
        // Without configuration, a token's own iss/aud do not matter.
        assert!(lax.verify(&good).is_ok());
    }

    /// Signs arbitrary claims with the keys' secret.
    fn sign(claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap()
    }

    #[test]
    fn a_token_from_the_future_or_living_too_long_is_refused() {
        let keys = JwtKeys::new(b"secret", None, None);
        let now = Utc::now().timestamp();
        let hour = 3600;
        let good = serde_json::json!({"sub": "a", "exp": now + hour, "iat": now, "nbf": now});
        assert!(keys.verify(&sign(&good)).is_ok());
        for (what, claims) in [
            (
                "nbf ahead",
                serde_json::json!({"sub": "a", "exp": now + hour, "nbf": now + 60}),
            ),
            (
                "iat ahead",
                serde_json::json!({"sub": "a", "exp": now + hour, "iat": now + 60}),
            ),
            (
                "25 h",
                serde_json::json!({"sub": "a", "exp": now + 25 * hour, "iat": now}),
            ),
            (
                "year 9999",
                serde_json::json!({"sub": "a", "exp": 253_402_300_799_i64}),
            ),
        ] {
            assert!(keys.verify(&sign(&claims)).is_err(), "{what} accepted");
        }
        // A few seconds of clock difference are forgiven.
        let skewed =
            serde_json::json!({"sub": "a", "exp": now + hour, "iat": now + 3, "nbf": now + 3});
        assert!(keys.verify(&sign(&skewed)).is_ok());
        let longer = JwtKeys::new(b"secret", None, None).with_max_ttl(Duration::hours(48));
        let day_and_more = serde_json::json!({"sub": "a", "exp": now + 25 * hour, "iat": now});
        assert!(longer.verify(&sign(&day_and_more)).is_ok());
    }

    #[test]
    fn claims_with_control_characters_are_refused_and_a_long_name_is_cut() {
        let keys = JwtKeys::new(b"secret", None, None);
        let exp = Utc::now().timestamp() + 3600;
        for claims in [
            serde_json::json!({"sub": "al\u{0}ice", "exp": exp}),
            serde_json::json!({"sub": "alice", "name": "A\u{0}", "exp": exp}),
            serde_json::json!({"sub": "alice", "email": "a@x\u{0}", "exp": exp}),
            serde_json::json!({"sub": "\u{202E}ecila", "exp": exp}),
            serde_json::json!({"sub": "u".repeat(256), "exp": exp}),
        ] {
            assert!(keys.verify(&sign(&claims)).is_err(), "{claims}");
        }
        let long = serde_json::json!({"sub": "alice", "name": "n".repeat(390_000), "exp": exp});
        let caller = keys.verify(&sign(&long)).unwrap();
        assert_eq!(caller.name.chars().count(), events::text::MAX_NAME_CHARS);
    }

    #[test]
    fn a_bearer_header_needs_the_scheme_and_a_token() {
        assert_eq!(bearer(Some("Bearer abc")).ok(), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")).ok(), Some("abc"));
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Token abc"),
        ] {
            assert!(bearer(bad).is_err(), "{bad:?}");
        }
    }
}
