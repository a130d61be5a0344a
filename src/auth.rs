//! Bearer-token authentication: JWTs signed with `JWT_SECRET` (HS256, the
//! tokens Meetings signs itself and `meetings token` makes), and, when
//! configured, by an identity provider: RS256/ES256 (and the other
//! asymmetric algorithms) with the keys of `JWT_JWKS_URL` or the one key of
//! `JWT_PUBLIC_KEY_FILE` ([`PublicKeys`]).
//!
//! The algorithm is pinned by the key, never taken from the token: an
//! HS256 token is checked with the secret only; any other with the
//! provider's key its `kid` names (or the file's key), with that key's own
//! algorithm, so a token that says `none`, or HS256 signed with a public
//! key, is refused. `exp` is required, `nbf` and `iat` may not lie in the
//! future, a token may not live longer than `JWT_MAX_TTL`, and `iss`/`aud`
//! are checked when configured (all with [`LEEWAY_SECS`] for clocks). The
//! claims are `sub` (the user id), `name` (or the claim `JWT_NAME_CLAIM`
//! names), `email` and `roles` (or the claim `JWT_ROLES_CLAIM` names, a
//! dotted path such as Keycloak's `realm_access.roles`; a list, or one
//! string of space-separated roles) with `admin` and `auditor` meaning
//! something here; their text follows [`events::text`]: a subject, email or
//! role with a control character is refused, a name longer than
//! [`events::text::MAX_NAME_CHARS`] is cut. The caller's name is the
//! token's name, else its email, else its subject.
//!
//! Meetings signs one kind of token itself: a guest's, for someone who
//! joined by link with a name. Its `guest_of` claim names the one meeting
//! it is good for ([`JwtKeys::issue_guest`]).

/// The shortest HS256 key Meetings accepts (the hash's own size); the
/// nodes' shared key too.
pub const MIN_SECRET_BYTES: usize = 32;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
    /// Checked by the validation when configured; a provider may send a
    /// list, so it is not read back.
    #[serde(default, skip_serializing_if = "Option::is_none", skip_deserializing)]
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

/// A key that verifies tokens, with the one algorithm it is for.
struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

/// The keys and rules for tokens.
pub struct JwtKeys {
    encoding: EncodingKey,
    /// `JWT_SECRET`: HS256.
    own: Verifier,
    /// An identity provider's keys, if configured.
    public: Option<PublicKeys>,
    issuer: Option<String>,
    audience: Option<String>,
    max_ttl: Duration,
    claims: ClaimNames,
}

/// Where the name and the roles are in a token (`JWT_NAME_CLAIM`,
/// `JWT_ROLES_CLAIM`): a claim, or a dotted path into nested claims.
#[derive(Debug, Clone)]
pub struct ClaimNames {
    pub name: String,
    pub roles: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            name: "name".into(),
            roles: "roles".into(),
        }
    }
}

impl JwtKeys {
    pub fn new(secret: &[u8], issuer: Option<String>, audience: Option<String>) -> Self {
        let mut keys = Self {
            encoding: EncodingKey::from_secret(secret),
            own: Verifier {
                key: DecodingKey::from_secret(secret),
                validation: Validation::new(Algorithm::HS256),
            },
            public: None,
            issuer,
            audience,
            max_ttl: DEFAULT_MAX_TTL,
            claims: ClaimNames::default(),
        };
        keys.own.validation = keys.validation(Algorithm::HS256);
        keys
    }

    /// The rules for a key of `algorithm`: only that algorithm, `exp` and
    /// `sub` required, and a configured issuer and audience required and
    /// checked.
    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        // A configured issuer or audience must be present, not merely
        // correct when present.
        let mut required = vec!["exp", "sub"];
        required.extend(self.issuer.as_ref().map(|_| "iss"));
        required.extend(self.audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
        }
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        validation
    }

    /// Accepts tokens an identity provider signs with these keys too.
    pub fn with_public_keys(mut self, public: PublicKeys) -> Self {
        self.public = Some(public);
        self
    }

    /// Reads the name and the roles from these claims.
    pub fn with_claim_names(mut self, claims: ClaimNames) -> Self {
        self.claims = claims;
        self
    }

    /// The identity provider's keys, if any (to fetch them at start).
    pub fn public_keys(&self) -> Option<&PublicKeys> {
        self.public.as_ref()
    }

    /// The longest lifetime a token may have (`exp` - `iat`, or `exp` -
    /// now without `iat`).
    pub fn with_max_ttl(mut self, max_ttl: Duration) -> Self {
        self.max_ttl = max_ttl;
        self
    }

    /// Checks a token and returns the caller it names; a token that names
    /// a provider's key this node has not seen fetches the provider's keys
    /// again (at most once per [`PublicKeys`]' refresh interval).
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        match self.verify_known(token) {
            Err(AuthError::UnknownKey) => {}
            known => return known,
        }
        let Some(public) = &self.public else {
            return Err(AuthError::UnknownKey);
        };
        if public.refresh(self).await {
            self.verify_known(token)
        } else {
            Err(AuthError::UnknownKey)
        }
    }

    /// Checks a token with the keys at hand.
    fn verify_known(&self, token: &str) -> Result<Caller, AuthError> {
        let header = jsonwebtoken::decode_header(token)?;
        let claims = if header.alg == Algorithm::HS256 {
            jsonwebtoken::decode::<Map<String, Value>>(token, &self.own.key, &self.own.validation)?
                .claims
        } else {
            let verifier = self
                .public
                .as_ref()
                .and_then(|p| p.key(header.kid.as_deref()))
                .ok_or(AuthError::UnknownKey)?;
            jsonwebtoken::decode::<Map<String, Value>>(token, &verifier.key, &verifier.validation)?
                .claims
        };
        self.caller(claims)
    }

    /// The caller these (verified) claims name.
    fn caller(&self, mut map: Map<String, Value>) -> Result<Caller, AuthError> {
        let name = path(&map, &self.claims.name).cloned();
        let roles = roles(path(&map, &self.claims.roles));
        map.remove("name");
        map.remove("roles");
        let mut claims: Claims = serde_json::from_value(Value::Object(map)).map_err(|e| {
            AuthError::Invalid(jsonwebtoken::errors::ErrorKind::Json(e.into()).into())
        })?;
        claims.name = name.and_then(|v| v.as_str().map(str::to_owned));
        claims.roles = roles;
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

/// The value at a dotted path of claims (`realm_access.roles`); a claim
/// whose own name holds the dots is found first.
fn path<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}

/// Roles from a claim: a list of strings, or one string of roles separated
/// by spaces (as OAuth scopes are); anything else is none.
fn roles(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// An identity provider's public keys: the keys of a JWKS document
/// (`JWT_JWKS_URL`, fetched at start and again when a token names a key
/// not seen yet, at most once per `min_refresh`) and the one key of a PEM
/// file (`JWT_PUBLIC_KEY_FILE`: RSA means RS256, EC means ES256).
pub struct PublicKeys {
    file: Option<Arc<Verifier>>,
    jwks: Option<Jwks>,
}

struct Jwks {
    url: String,
    client: reqwest::Client,
    min_refresh: std::time::Duration,
    keys: std::sync::RwLock<HashMap<String, Arc<Verifier>>>,
    /// When the document was last asked for; one fetch at a time.
    fetched: tokio::sync::Mutex<Option<std::time::Instant>>,
}

/// Why public keys could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading {0}: {1}")]
    File(String, std::io::Error),
    #[error("{0} holds no RSA or EC public key in PEM")]
    NotAKey(String),
    #[error("fetching the JWKS: {0}")]
    Fetch(#[from] reqwest::Error),
    #[error("the JWKS is not a JSON object with `keys`")]
    NotJwks,
}

impl PublicKeys {
    /// The keys of a JWKS at `url` (fetched by [`PublicKeys::refresh`])
    /// and of a PEM file; the file is read now.
    pub fn new(
        keys: &JwtKeys,
        jwks_url: Option<String>,
        key_file: Option<&std::path::Path>,
        min_refresh: std::time::Duration,
    ) -> Result<Self, KeyError> {
        let file = match key_file {
            None => None,
            Some(path) => {
                let shown = path.display().to_string();
                let pem = std::fs::read(path).map_err(|e| KeyError::File(shown.clone(), e))?;
                let (key, algorithm) = DecodingKey::from_rsa_pem(&pem)
                    .map(|k| (k, Algorithm::RS256))
                    .or_else(|_| DecodingKey::from_ec_pem(&pem).map(|k| (k, Algorithm::ES256)))
                    .map_err(|_| KeyError::NotAKey(shown))?;
                Some(Arc::new(Verifier {
                    key,
                    validation: keys.validation(algorithm),
                }))
            }
        };
        let jwks = jwks_url.map(|url| Jwks {
            url,
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            min_refresh,
            keys: Default::default(),
            fetched: Default::default(),
        });
        Ok(Self { file, jwks })
    }

    /// The key a token's `kid` names in the JWKS; without a `kid` (or
    /// without a JWKS), the file's key, else the JWKS's only key.
    fn key(&self, kid: Option<&str>) -> Option<Arc<Verifier>> {
        let jwks = self
            .jwks
            .as_ref()
            .map(|j| j.keys.read().unwrap_or_else(|e| e.into_inner()));
        match (kid, jwks) {
            (Some(kid), Some(keys)) => keys.get(kid).cloned(),
            (None, Some(keys)) if self.file.is_none() && keys.len() == 1 => {
                keys.values().next().cloned()
            }
            _ => self.file.clone(),
        }
    }

    /// Fetches the JWKS again unless it was asked for within the
    /// refresh interval; whether the keys were replaced.
    pub async fn refresh(&self, keys: &JwtKeys) -> bool {
        let Some(jwks) = &self.jwks else {
            return false;
        };
        let mut fetched = jwks.fetched.lock().await;
        if fetched.is_some_and(|at| at.elapsed() < jwks.min_refresh) {
            return false;
        }
        *fetched = Some(std::time::Instant::now());
        match jwks.fetch(keys).await {
            Ok(fresh) => {
                tracing::info!(keys = fresh.len(), url = %jwks.url, "JWKS fetched");
                *jwks.keys.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, url = %jwks.url, "JWKS not fetched");
                false
            }
        }
    }
}

impl Jwks {
    /// The document's signing keys by `kid`, each with its own algorithm
    /// (its `alg`, else the one its type implies); keys for encryption,
    /// without a `kid` or of a kind this server cannot use are skipped.
    async fn fetch(&self, keys: &JwtKeys) -> Result<HashMap<String, Arc<Verifier>>, KeyError> {
        use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
        let document: Value = self
            .client
            .get(&self.url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let listed = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeyError::NotJwks)?;
        let mut found = HashMap::new();
        for entry in listed {
            let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
                continue;
            };
            if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
                continue;
            }
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let declared = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok());
            let implied = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
                AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                    EllipticCurve::P256 => Some(Algorithm::ES256),
                    EllipticCurve::P384 => Some(Algorithm::ES384),
                    _ => None,
                },
                AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
                // A shared secret has no business in a public key set.
                AlgorithmParameters::OctetKey(_) => None,
            };
            let Some(algorithm) = declared.or(implied) else {
                continue;
            };
            if matches!(
                algorithm,
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            ) {
                continue;
            }
            let Ok(key) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            found.insert(
                kid,
                Arc::new(Verifier {
                    key,
                    validation: keys.validation(algorithm),
                }),
            );
        }
        Ok(found)
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

    #[tokio::test]
    async fn a_token_names_its_caller() {
        let keys = JwtKeys::new(b"secret", None, None);
        let roles = vec!["auditor".to_owned()];
        let token = keys
            .issue("alice", "Alice", Some("a@x.org"), &roles, hours(1))
            .unwrap();
        let caller = keys.verify(&token).await.unwrap();
        assert_eq!(caller.user_id.as_str(), "alice");
        assert_eq!(caller.name, "Alice");
        assert_eq!(caller.email.as_deref(), Some("a@x.org"));
        assert_eq!(caller.roles, roles);
        assert_eq!(caller.kind, CallerKind::Person);
    }

    #[tokio::test]
    async fn without_a_name_a_caller_goes_by_their_email_then_their_id() {
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
            assert_eq!(
                keys.verify(&sign(&claims)).await.unwrap().name,
                name,
                "{claims}"
            );
        }
    }

    #[tokio::test]
    async fn a_guest_token_names_its_meeting_and_no_role_of_it_counts() {
        let keys = JwtKeys::new(b"secret", None, None).with_max_ttl(hours(6));
        let meeting = MeetingId::new();
        let guest = Caller::person("guest-ann-0a1b2c3d", "Ann");
        let (token, expires) = keys.issue_guest(&guest, meeting, hours(12)).unwrap();
        let back = keys.verify(&token).await.unwrap();
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
        assert!(!keys.verify(&sign(&admin_guest)).await.unwrap().is_admin());
        let bad = serde_json::json!({"sub": "g", "exp": exp, "guest_of": "not-a-meeting"});
        assert!(keys.verify(&sign(&bad)).await.is_err());
    }

    #[tokio::test]
    async fn issuer_and_audience_are_checked_when_configured() {
        let strict = JwtKeys::new(b"secret", Some("idp".into()), Some("meetings".into()));
        let other_issuer =
            JwtKeys::new(b"secret", Some("elsewhere".into()), Some("meetings".into()));
        let other_audience = JwtKeys::new(b"secret", Some("idp".into()), Some("billing".into()));
        let lax = JwtKeys::new(b"secret", None, None);

        let good = strict.issue("alice", "A", None, &[], hours(1)).unwrap();
        assert!(strict.verify(&good).await.is_ok());
        for (name, keys) in [
            ("issuer", &other_issuer),
            ("audience", &other_audience),
            ("neither", &lax),
        ] {
            let token = keys.issue("alice", "A", None, &[], hours(1)).unwrap();
            assert!(
                strict.verify(&token).await.is_err(),
                "wrong {name} accepted"
            );
        }
        // Without configuration, a token's own iss/aud do not matter.
        assert!(lax.verify(&good).await.is_ok());
        // The client is told which one was wrong.
        for (keys, reason) in [
            (&other_issuer, "wrong issuer"),
            (&other_audience, "wrong audience"),
        ] {
            let refused = keys.verify(&good).await.unwrap_err();
            assert_eq!(refused.public_reason(), reason);
        }
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

    #[tokio::test]
    async fn a_token_from_the_future_or_living_too_long_is_refused() {
        let keys = JwtKeys::new(b"secret", None, None);
        let now = Utc::now().timestamp();
        let hour = 3600;
        let good = serde_json::json!({"sub": "a", "exp": now + hour, "iat": now, "nbf": now});
        assert!(keys.verify(&sign(&good)).await.is_ok());
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
            assert!(
                keys.verify(&sign(&claims)).await.is_err(),
                "{what} accepted"
            );
        }
        // A few seconds of clock difference are forgiven.
        let skewed =
            serde_json::json!({"sub": "a", "exp": now + hour, "iat": now + 3, "nbf": now + 3});
        assert!(keys.verify(&sign(&skewed)).await.is_ok());
        let longer = JwtKeys::new(b"secret", None, None).with_max_ttl(Duration::hours(48));
        let day_and_more = serde_json::json!({"sub": "a", "exp": now + 25 * hour, "iat": now});
        assert!(longer.verify(&sign(&day_and_more)).await.is_ok());
    }

    #[tokio::test]
    async fn claims_with_control_characters_are_refused_and_a_long_name_is_cut() {
        let keys = JwtKeys::new(b"secret", None, None);
        let exp = Utc::now().timestamp() + 3600;
        for claims in [
            serde_json::json!({"sub": "al\u{0}ice", "exp": exp}),
            serde_json::json!({"sub": "alice", "name": "A\u{0}", "exp": exp}),
            serde_json::json!({"sub": "alice", "email": "a@x\u{0}", "exp": exp}),
            serde_json::json!({"sub": "\u{202E}ecila", "exp": exp}),
            serde_json::json!({"sub": "u".repeat(256), "exp": exp}),
        ] {
            assert!(keys.verify(&sign(&claims)).await.is_err(), "{claims}");
        }
        let long = serde_json::json!({"sub": "alice", "name": "n".repeat(390_000), "exp": exp});
        let caller = keys.verify(&sign(&long)).await.unwrap();
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
