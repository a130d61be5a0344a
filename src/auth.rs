//! Bearer-token authentication: HS256 JWTs signed with `JWT_SECRET`.
//!
//! The algorithm is pinned to HS256 (a token that says `none` or anything
//! else is refused), `exp` is required, and `iss`/`aud` are checked when
//! configured. The claims are `sub` (the user id), `name`, `email` and
//! `roles` (`admin`, `auditor`).

use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use command::meeting::Caller;
use events::UserId;

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
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Why a token was refused (logged, never sent: the client sees 401).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("token has an empty subject")]
    EmptySubject,
}

/// The keys and rules for tokens.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: Option<String>,
    audience: Option<String>,
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
        validation.leeway = 5;
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
        }
    }

    /// Checks a token and returns the caller it names.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?;
        let claims = data.claims;
        if claims.sub.trim().is_empty() {
            return Err(AuthError::EmptySubject);
        }
        Ok(Caller {
            name: claims.name.unwrap_or_else(|| claims.sub.clone()),
            user_id: UserId(claims.sub),
            email: claims.email,
            roles: claims.roles,
        })
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
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
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
