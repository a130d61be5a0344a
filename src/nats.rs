//! The node's NATS connection and the key nodes seal what they tell each
//! other with.
//!
//! - Servers: `NATS_URL`, one URL or several comma-separated (a cluster);
//!   `tls://` requires TLS.
//! - Credentials, as the operator runs NATS: a user and password
//!   (`nats://user:password@host`) or a token (`nats://token@host`) in the
//!   URL (percent-encoded), or a credentials file (`NATS_CREDS_FILE`: a
//!   user JWT and its NKey seed, as `nsc` writes them).
//! - TLS: `NATS_TLS_CA` (the CA that signed the server's certificate;
//!   TLS is then required), `NATS_TLS_CERT` and `NATS_TLS_KEY` (this
//!   node's certificate, for servers that verify clients).
//! - The seal ([`live::seal::Seal`]): `NODE_SHARED_SECRET`, at least 32
//!   bytes, the same on every node; unset, it is derived from the token
//!   key (`JWT_SECRET`), which every node of a deployment already shares,
//!   so that a deployment that set nothing is sealed too.

use anyhow::Context as _;
use async_nats::ServerAddr;
use hmac::{Hmac, Mac};
use live::seal::Seal;
use sha2::Sha256;

use crate::auth::MIN_SECRET_BYTES;
use crate::config::NatsConfig;

/// What the derivation of the nodes' key from the token key is keyed
/// with: a key for one purpose, never the token key itself.
const DERIVED_FROM_TOKEN_KEY: &[u8] = b"meetings: the key nodes seal NATS messages with, v1";

/// Connects to NATS with the settings' credentials and TLS; connects in
/// the background while NATS is down.
pub async fn connect(url: &str, nats: &NatsConfig) -> anyhow::Result<async_nats::Client> {
    let servers = servers(url)?;
    let mut options = async_nats::ConnectOptions::new().retry_on_initial_connect();
    if let Some(first) = servers.iter().find(|s| s.username().is_some()) {
        let user = decode(first.username().unwrap_or_default());
        options = match first.password() {
            Some(password) => options.user_and_password(user, decode(password)),
            None => options.token(user),
        };
    }
    if let Some(file) = &nats.creds_file {
        options = options
            .credentials_file(file)
            .await
            .with_context(|| format!("reading NATS_CREDS_FILE {}", file.display()))?;
    }
    if let Some(ca) = &nats.tls_ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    match (&nats.tls_cert, &nats.tls_key) {
        (Some(cert), Some(key)) => {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        (None, None) => {}
        _ => anyhow::bail!("NATS_TLS_CERT and NATS_TLS_KEY are set together or not at all"),
    }
    options
        .connect(servers.as_slice())
        .await
        .with_context(|| format!("connecting to NATS at {}", without_secrets(&servers)))
}

/// The servers of `NATS_URL`.
fn servers(url: &str) -> anyhow::Result<Vec<ServerAddr>> {
    let servers = url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .context("NATS_URL")?;
    anyhow::ensure!(!servers.is_empty(), "NATS_URL names no server");
    Ok(servers)
}

/// A percent-encoded part of a URL, as the text it stands for.
fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// The servers, for messages: never a password or a token.
fn without_secrets(servers: &[ServerAddr]) -> String {
    servers
        .iter()
        .map(|s| format!("{}://{}:{}", s.scheme(), s.host(), s.port()))
        .collect::<Vec<_>>()
        .join(",")
}

/// `NODE_SHARED_SECRET` is shorter than a key may be (its length).
#[derive(Debug, thiserror::Error)]
#[error("NODE_SHARED_SECRET must be at least {MIN_SECRET_BYTES} bytes (it has {0})")]
pub struct ShortNodeSecret(pub usize);

/// The seal every node of the deployment shares: `NODE_SHARED_SECRET`,
/// else derived from the token key (`token_key`, read only then).
pub fn seal(
    nats: &NatsConfig,
    token_key: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<Seal> {
    if let Some(secret) = &nats.node_secret {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ShortNodeSecret(secret.len()).into());
        }
        return Ok(Seal::new(secret.as_bytes()));
    }
    let token_key = token_key().context(
        "NATS needs the key every node shares: set NODE_SHARED_SECRET (or JWT_SECRET, which it is then derived from)",
    )?;
    let mut derive = <Hmac<Sha256>>::new_from_slice(token_key.as_bytes())
        .expect("HMAC takes a key of any length");
    derive.update(DERIVED_FROM_TOKEN_KEY);
    Ok(Seal::new(&derive.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_may_name_several_servers_and_carry_encoded_credentials() {
        let two = servers("nats://meet%40ings:p%3Ass@a.example:4223, tls://b.example").unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(decode(two[0].username().unwrap()), "meet@ings");
        assert_eq!(decode(two[0].password().unwrap()), "p:ss");
        assert!(two[1].tls_required());
        let shown = without_secrets(&two);
        assert_eq!(shown, "nats://a.example:4223,tls://b.example:4222");
        assert!(servers("").is_err());
        assert!(servers("http://a.example").is_err());
    }

    #[test]
    fn the_nodes_key_is_the_setting_or_one_derived_from_the_token_key() {
        let jwt = "a token key of at least thirty-two bytes";
        let token_key = || anyhow::Ok(jwt.to_owned());
        let derived = seal(&NatsConfig::default(), token_key).unwrap();
        let tag = derived.sign(&[b"event"]);
        assert!(!Seal::new(jwt.as_bytes()).verify(&[b"event"], &tag));
        let again = seal(&NatsConfig::default(), token_key).unwrap();
        assert!(
            again.verify(&[b"event"], &tag),
            "every node derives the same"
        );
        let set = NatsConfig {
            node_secret: Some("n".repeat(32)),
            ..NatsConfig::default()
        };
        let own = seal(&set, token_key).unwrap();
        assert!(!own.verify(&[b"event"], &tag));
        let short = NatsConfig {
            node_secret: Some("short".into()),
            ..NatsConfig::default()
        };
        let refused = seal(&short, token_key).unwrap_err();
        assert!(matches!(
            refused.downcast_ref::<ShortNodeSecret>(),
            Some(ShortNodeSecret(5))
        ));
    }
}
