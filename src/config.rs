//! Configuration from the environment (a public contract: DESIGN section 9)
//! with command-line flags that override it.

use std::net::SocketAddr;

use clap::Args;

/// Settings of `meetings serve` (and the parts it can run alone).
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Listen address; port 0 picks a free port (printed at start).
    #[arg(long, env = "MEETINGS_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// The event log and read models: `postgres://...`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/meetings.db"
    )]
    pub database_url: String,

    /// Connections in the database pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,

    /// Seconds a request waits for a database connection before it is
    /// answered 503 DATABASE_UNAVAILABLE.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_SECONDS", default_value_t = 3)]
    pub database_acquire_timeout_seconds: u64,

    /// Seconds one statement may run on PostgreSQL (migrations excepted).
    #[arg(long, env = "DATABASE_STATEMENT_TIMEOUT_SECONDS", default_value_t = 10)]
    pub database_statement_timeout_seconds: u64,

    /// NATS server (JetStream); unset = the in-process bus (one node).
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,

    /// Subjects `<prefix>.events.>`, stream `<PREFIX>_EVENTS`; one per deployment.
    #[arg(long, env = "NATS_PREFIX", default_value = "meetings")]
    pub nats_prefix: String,

    #[command(flatten)]
    pub nats: NatsConfig,

    #[command(flatten)]
    pub jwt: JwtConfig,

    /// Where this server is reached from outside; `http://<addr>` when
    /// unset.
    #[arg(long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,

    /// The meeting app people open a shared link in: `meeting_link` is
    /// `<FRONTEND_URL>/meeting/<room_code>`; `PUBLIC_URL` (this server's
    /// own join page) when unset.
    #[arg(long, env = "FRONTEND_URL")]
    pub frontend_url: Option<String>,

    #[command(flatten)]
    pub livekit: LiveKitConfig,

    #[command(flatten)]
    pub jitsi: JitsiConfig,

    /// How long a query with `X-Min-Position` waits for the read models
    /// before answering 503 PROJECTION_LAGGING.
    #[arg(long, env = "MEETINGS_MIN_POSITION_WAIT_MS", default_value_t = 5000)]
    pub min_position_wait_ms: u64,

    /// Run the projection runners in this process (the default). `false`
    /// makes an API node of a PostgreSQL deployment: `meetings project`
    /// keeps the read models elsewhere, and queries see how far it got
    /// through the checkpoint table.
    #[arg(
        long,
        env = "MEETINGS_PROJECTIONS",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub projections: bool,

    #[command(flatten)]
    pub http: HttpConfig,

    #[command(flatten)]
    pub websocket: WebSocketConfig,

    #[command(flatten)]
    pub edge: EdgeConfig,

    #[command(flatten)]
    pub webhooks: WebhookConfig,

    /// A local sign-in on the console that mints a token for a typed name,
    /// for trying the product on one machine: only on the embedded default
    /// (refused at start on PostgreSQL), off by default.
    #[arg(
        long,
        env = "MEETINGS_DEV_LOGIN",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub dev_login: bool,
}

/// NATS beyond its URL: credentials, TLS, and the key nodes seal what
/// they tell each other with (see [`crate::nats`]).
#[derive(Debug, Clone, Default, Args)]
pub struct NatsConfig {
    /// A NATS credentials file (a user JWT and its NKey seed, as `nsc`
    /// writes them).
    #[arg(long = "nats-creds-file", env = "NATS_CREDS_FILE")]
    pub creds_file: Option<std::path::PathBuf>,
    /// The CA certificate (PEM) that signed the NATS server's; set, TLS is
    /// required.
    #[arg(long = "nats-tls-ca", env = "NATS_TLS_CA")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// This node's client certificate (PEM), for a NATS that verifies
    /// clients (with `NATS_TLS_KEY`).
    #[arg(long = "nats-tls-cert", env = "NATS_TLS_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The key of `NATS_TLS_CERT` (PEM).
    #[arg(long = "nats-tls-key", env = "NATS_TLS_KEY")]
    pub tls_key: Option<std::path::PathBuf>,
    /// The key every node of the deployment shares to seal what they tell
    /// each other through NATS (events, forwarded commands): at least 32
    /// bytes. Unset: derived from the token key, which every node shares.
    #[arg(
        long = "node-shared-secret",
        env = "NODE_SHARED_SECRET",
        hide_env_values = true
    )]
    pub node_secret: Option<String>,
}

/// Webhooks out (Standard Webhooks).
#[derive(Debug, Clone, Args)]
pub struct WebhookConfig {
    /// Seconds before each attempt at an event, comma-separated: the first
    /// is the first attempt (0: at once), each next one a retry after the
    /// one before failed. The default is the Standard Webhooks schedule
    /// (at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    #[arg(
        long = "webhook-retry-schedule",
        env = "WEBHOOK_RETRY_SCHEDULE",
        default_value = "0,5,300,1800,7200,18000,36000,36000",
        value_parser = retry_schedule
    )]
    pub retry_schedule: RetrySchedule,

    /// Seconds one attempt may take (connect, send, answer).
    #[arg(
        long = "webhook-timeout-seconds",
        env = "WEBHOOK_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub timeout_seconds: u64,

    /// Allow receivers on loopback, private, link-local and metadata
    /// addresses: for development and tests only (SSRF otherwise).
    #[arg(
        long = "webhook-allow-private-networks",
        env = "WEBHOOK_ALLOW_PRIVATE_NETWORKS",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub allow_private_networks: bool,

    /// Days the delivery log keeps an attempt (0: for ever); each
    /// subscription's last attempt is always kept.
    #[arg(
        long = "webhook-delivery-log-days",
        env = "WEBHOOK_DELIVERY_LOG_DAYS",
        default_value_t = 30
    )]
    pub delivery_log_days: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            retry_schedule: retry_schedule("0,5,300,1800,7200,18000,36000,36000")
                .expect("the default schedule reads"),
            timeout_seconds: 10,
            allow_private_networks: false,
            delivery_log_days: 30,
        }
    }
}

/// The waits before each attempt at one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<std::time::Duration>);

fn retry_schedule(text: &str) -> Result<RetrySchedule, String> {
    let waits = text
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .map(std::time::Duration::from_secs)
                .map_err(|_| format!("{s:?} is not a whole number of seconds"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if waits.is_empty() {
        return Err("at least one attempt".into());
    }
    Ok(RetrySchedule(waits))
}

/// What callers from elsewhere meet at the edge: browser origins, metrics,
/// rate limits.
#[derive(Debug, Clone, Args)]
pub struct EdgeConfig {
    /// Browser origins allowed to call the API and open WebSockets: a
    /// comma-separated list (`https://app.example.org,https://x.org`), or
    /// `*` for any origin (development; no credentials then). Unset: no
    /// CORS answers, and WebSocket upgrades are not checked by origin.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS")]
    pub cors_allowed_origins: Option<String>,

    /// Serve `GET /metrics` (Prometheus text).
    #[arg(
        long,
        env = "METRICS_ENABLED",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub metrics_enabled: bool,

    /// Meeting management requests per caller per hour (0: no limit).
    #[arg(long, env = "RATE_LIMIT_MEETINGS_PER_HOUR", default_value_t = 100)]
    pub rate_limit_meetings_per_hour: u32,
    /// Participant actions per caller per hour (0: no limit).
    #[arg(long, env = "RATE_LIMIT_PARTICIPANTS_PER_HOUR", default_value_t = 1000)]
    pub rate_limit_participants_per_hour: u32,
    /// Chat messages and reactions per caller per minute (0: no limit).
    #[arg(long, env = "RATE_LIMIT_CHAT_PER_MINUTE", default_value_t = 60)]
    pub rate_limit_chat_per_minute: u32,
    /// Status updates per caller per minute (0: no limit).
    #[arg(long, env = "RATE_LIMIT_STATUS_PER_MINUTE", default_value_t = 120)]
    pub rate_limit_status_per_minute: u32,
    /// WebSocket frames per caller per minute (0: no limit).
    #[arg(
        long,
        env = "RATE_LIMIT_WS_MESSAGES_PER_MINUTE",
        default_value_t = 1000
    )]
    pub rate_limit_ws_messages_per_minute: u32,
    /// Password checks that may wait for a core (one hash per core runs at
    /// a time); more are answered 503 SERVER_BUSY at once.
    #[arg(long, env = "PASSWORD_HASH_QUEUE", default_value_t = 16)]
    pub password_hash_queue: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            cors_allowed_origins: None,
            metrics_enabled: true,
            rate_limit_meetings_per_hour: 100,
            rate_limit_participants_per_hour: 1000,
            rate_limit_chat_per_minute: 60,
            rate_limit_status_per_minute: 120,
            rate_limit_ws_messages_per_minute: 1000,
            password_hash_queue: 16,
        }
    }
}

impl EdgeConfig {
    /// No rate limits at all (the benchmarks measure the machinery, not
    /// the budgets).
    pub fn unlimited(self) -> Self {
        Self {
            rate_limit_meetings_per_hour: 0,
            rate_limit_participants_per_hour: 0,
            rate_limit_chat_per_minute: 0,
            rate_limit_status_per_minute: 0,
            rate_limit_ws_messages_per_minute: 0,
            ..self
        }
    }
}

/// What an HTTP client may hold of the server.
#[derive(Debug, Clone, Args)]
pub struct HttpConfig {
    /// Seconds a client has to send a request's headers, counted from when
    /// the server waits for them: also how long an idle keep-alive
    /// connection is kept.
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    pub header_timeout_seconds: u64,
    /// Seconds a request may take to be answered (408 then).
    #[arg(long, env = "HTTP_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,
    /// Connections open at once, WebSockets included; more are closed at
    /// once.
    #[arg(long, env = "MEETINGS_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Connections open at once from one client network (an IPv4 address,
    /// an IPv6 /64), WebSockets included; more are closed at once (0: no
    /// bound).
    #[arg(
        long,
        env = "MEETINGS_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 1_000
    )]
    pub max_connections_per_address: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_timeout_seconds: 10,
            request_timeout_seconds: 30,
            max_connections: 10_000,
            max_connections_per_address: 1_000,
        }
    }
}

/// How the WebSocket gateway treats its clients.
#[derive(Debug, Clone, Args)]
pub struct WebSocketConfig {
    /// How long one write to a client may block (a client that reads
    /// nothing for this long is dropped).
    #[arg(long, env = "WS_SEND_TIMEOUT_SECONDS", default_value_t = 10)]
    pub send_timeout_seconds: u64,
    /// Seconds between the server's pings to a client.
    #[arg(long, env = "WS_PING_SECONDS", default_value_t = 30)]
    pub ping_seconds: u64,
    /// Seconds without any frame from a client (a pong counts) before the
    /// server closes the connection.
    #[arg(long, env = "WS_IDLE_TIMEOUT_SECONDS", default_value_t = 90)]
    pub idle_timeout_seconds: u64,
    /// Seconds a connection may stay quiet, answering pings but sending
    /// no frame of its own and being sent no event, before the server
    /// closes it (0: never).
    #[arg(long, env = "WS_QUIET_TIMEOUT_SECONDS", default_value_t = 900)]
    pub quiet_timeout_seconds: u64,
    /// WebSockets one caller (a token's subject) holds open on this node
    /// at once (0: no bound).
    #[arg(long, env = "WS_MAX_PER_CALLER", default_value_t = 16)]
    pub max_per_caller: usize,
    /// WebSockets one client network (an IPv4 address, an IPv6 /64) holds
    /// open on this node at once (0: no bound).
    #[arg(long, env = "WS_MAX_PER_ADDRESS", default_value_t = 256)]
    pub max_per_address: usize,
}

impl Default for WebSocketConfig {
    fn default() -> Self {
        Self {
            send_timeout_seconds: 10,
            ping_seconds: 30,
            idle_timeout_seconds: 90,
            quiet_timeout_seconds: 900,
            max_per_caller: 16,
            max_per_address: 256,
        }
    }
}

/// The LiveKit server people are handed to (tokens and webhooks); unset
/// URL, key or secret: no LiveKit.
#[derive(Debug, Clone, Args)]
pub struct LiveKitConfig {
    /// The URL clients connect to (`wss://...`).
    #[arg(
        id = "livekit_url",
        value_name = "URL",
        long = "livekit-url",
        env = "LIVEKIT_URL"
    )]
    pub url: Option<String>,
    /// The API key: the tokens' issuer.
    #[arg(
        id = "livekit_api_key",
        value_name = "KEY",
        long = "livekit-api-key",
        env = "LIVEKIT_API_KEY"
    )]
    pub api_key: Option<String>,
    /// The API secret: signs the tokens, checks the webhooks.
    #[arg(
        id = "livekit_api_secret",
        value_name = "SECRET",
        long = "livekit-api-secret",
        env = "LIVEKIT_API_SECRET",
        hide_env_values = true
    )]
    pub api_secret: Option<String>,
    /// How long a LiveKit token lets its holder connect.
    #[arg(id = "livekit_token_ttl",
        value_name = "DURATION", long = "livekit-token-ttl", env = "LIVEKIT_TOKEN_TTL", default_value = "1h", value_parser = duration)]
    pub token_ttl: std::time::Duration,
}

impl Default for LiveKitConfig {
    fn default() -> Self {
        Self {
            url: None,
            api_key: None,
            api_secret: None,
            token_ttl: std::time::Duration::from_secs(3600),
        }
    }
}

/// The Jitsi deployment personalized links lead to; unset domain: no
/// Jitsi.
#[derive(Debug, Clone, Args)]
pub struct JitsiConfig {
    /// The Jitsi Meet domain (`meet.example.org`).
    #[arg(
        id = "jitsi_domain",
        value_name = "DOMAIN",
        long = "jitsi-domain",
        env = "JITSI_DOMAIN"
    )]
    pub domain: Option<String>,
    /// prosody's `app_id`: the tokens' issuer.
    #[arg(
        id = "jitsi_app_id",
        value_name = "APP_ID",
        long = "jitsi-app-id",
        env = "JITSI_APP_ID"
    )]
    pub app_id: Option<String>,
    /// prosody's `app_secret`: signs the tokens; unset, links carry none.
    #[arg(
        id = "jitsi_app_secret",
        value_name = "SECRET",
        long = "jitsi-app-secret",
        env = "JITSI_APP_SECRET",
        hide_env_values = true
    )]
    pub app_secret: Option<String>,
    /// The tokens' audience (prosody's `asap_accepted_audiences`).
    #[arg(
        id = "jitsi_audience",
        value_name = "AUDIENCE",
        long = "jitsi-audience",
        env = "JITSI_AUDIENCE",
        default_value = "jitsi"
    )]
    pub audience: String,
    /// How long a link's token lets its holder in.
    #[arg(id = "jitsi_token_ttl",
        value_name = "DURATION", long = "jitsi-token-ttl", env = "JITSI_TOKEN_TTL", default_value = "1h", value_parser = duration)]
    pub token_ttl: std::time::Duration,
}

impl Default for JitsiConfig {
    fn default() -> Self {
        Self {
            domain: None,
            app_id: None,
            app_secret: None,
            audience: "jitsi".into(),
            token_ttl: std::time::Duration::from_secs(3600),
        }
    }
}

/// How bearer tokens are signed and checked.
#[derive(Debug, Clone, Args)]
pub struct JwtConfig {
    /// HS256 key for bearer tokens: at least 32 bytes.
    #[arg(long = "jwt-secret", env = "JWT_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// The longest lifetime a token may have (`exp` - `iat`): `86400`,
    /// `1440m`, `24h` or `1d`.
    #[arg(long = "jwt-max-ttl", env = "JWT_MAX_TTL", default_value = "24h", value_parser = duration)]
    pub max_ttl: std::time::Duration,

    /// Required in tokens and checked against their `iss` when set.
    #[arg(long = "jwt-issuer", env = "JWT_ISSUER")]
    pub issuer: Option<String>,

    /// Required in tokens and checked against their `aud` when set.
    #[arg(long = "jwt-audience", env = "JWT_AUDIENCE")]
    pub audience: Option<String>,

    /// An identity provider's JWKS (RS256, ES256 and other asymmetric
    /// keys, chosen by each token's `kid`).
    #[arg(long = "jwt-jwks-url", env = "JWT_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// The least time between two fetches of the JWKS (a token naming an
    /// unknown key fetches it again).
    #[arg(long = "jwt-jwks-min-refresh", env = "JWT_JWKS_MIN_REFRESH", default_value = "60s", value_parser = duration)]
    pub jwks_min_refresh: std::time::Duration,

    /// An identity provider's public key in PEM (RSA: RS256, EC: ES256).
    #[arg(long = "jwt-public-key-file", env = "JWT_PUBLIC_KEY_FILE")]
    pub public_key_file: Option<std::path::PathBuf>,

    /// The claim holding the caller's roles: a name, or a dotted path
    /// (`realm_access.roles` for Keycloak).
    #[arg(
        long = "jwt-roles-claim",
        env = "JWT_ROLES_CLAIM",
        default_value = "roles"
    )]
    pub roles_claim: String,

    /// The claim holding the caller's display name.
    #[arg(
        long = "jwt-name-claim",
        env = "JWT_NAME_CLAIM",
        default_value = "name"
    )]
    pub name_claim: String,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            secret: None,
            max_ttl: std::time::Duration::from_secs(24 * 3600),
            issuer: None,
            audience: None,
            jwks_url: None,
            jwks_min_refresh: std::time::Duration::from_secs(60),
            public_key_file: None,
            roles_claim: "roles".into(),
            name_claim: "name".into(),
        }
    }
}

/// A duration: a whole number with an optional unit, `s` (the default),
/// `m`, `h` or `d`.
pub fn duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let seconds_per = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("unknown unit {other:?} (s, m, h or d)")),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number with a unit"))?;
    number
        .checked_mul(seconds_per)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

impl Config {
    /// How the pools wait for the database.
    pub fn waits(&self) -> crate::db::Waits {
        let seconds = std::time::Duration::from_secs;
        crate::db::Waits {
            acquire: seconds(self.database_acquire_timeout_seconds),
            statement: Some(seconds(self.database_statement_timeout_seconds)),
        }
    }

    /// A configuration for tests and benchmarks: any free port, the given
    /// database and bus.
    pub fn for_tests(
        database_url: String,
        nats_url: Option<String>,
        nats_prefix: String,
        jwt_secret: String,
    ) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url,
            database_max_connections: 8,
            database_acquire_timeout_seconds: 3,
            database_statement_timeout_seconds: 10,
            nats_url,
            nats_prefix,
            nats: NatsConfig::default(),
            jwt: JwtConfig {
                secret: Some(jwt_secret),
                ..Default::default()
            },
            public_url: None,
            frontend_url: None,
            livekit: LiveKitConfig::default(),
            jitsi: JitsiConfig::default(),
            min_position_wait_ms: 5000,
            projections: true,
            http: HttpConfig::default(),
            websocket: WebSocketConfig::default(),
            edge: EdgeConfig::default(),
            webhooks: WebhookConfig::default(),
            dev_login: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_or_without_a_unit() {
        let hours = |h: u64| std::time::Duration::from_secs(h * 3600);
        assert_eq!(duration("24h"), Ok(hours(24)));
        assert_eq!(duration("1d"), Ok(hours(24)));
        assert_eq!(duration("1440m"), Ok(hours(24)));
        assert_eq!(duration("86400"), Ok(hours(24)));
        for bad in ["", "h", "24 hours", "-1h", "1.5h"] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
    }
}
