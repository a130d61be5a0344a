//! `spawn_app()` and friends: a fresh database, a fresh NATS prefix, the
//! app on 127.0.0.1:0, and small HTTP helpers.

use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use events::{EventStore, RecordedEvent};
use meetings::app::App;
use meetings::auth::JwtKeys;
use meetings::config::Config;
use meetings::db::Backend;
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use uuid::Uuid;

pub const SECRET: &str = "test-secret-for-meetings-at-least-32-bytes";

pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

pub fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// The seal the tests' nodes share: derived from [`SECRET`], as every node
/// started with [`test_config`] derives it.
pub fn seal() -> live::seal::Seal {
    meetings::nats::seal(&Default::default(), || Ok(SECRET.to_owned())).expect("the tests' seal")
}

/// A NATS client as a node connects (credentials and TLS from the
/// defaults: none).
pub async fn nats_client(url: &str) -> async_nats::Client {
    meetings::nats::connect(url, &Default::default())
        .await
        .expect("nats")
}

/// A lowercase prefix no other test uses.
pub fn unique_prefix() -> String {
    let mut rng = rand::thread_rng();
    let tail: String = (0..10)
        .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
        .collect();
    format!("t{tail}")
}

/// Where a test runs: the event log's database and the bus. Variant names
/// are test names (`<test>::<setup>`), hence lowercase.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    /// Production: PostgreSQL and NATS JetStream.
    postgres,
    /// The embedded default: SQLite and the in-process bus.
    sqlite,
    /// PostgreSQL with the in-process bus.
    postgres_in_process,
    /// SQLite with NATS JetStream.
    sqlite_nats,
}

impl Setup {
    pub fn backend(self) -> Backend {
        match self {
            Self::postgres | Self::postgres_in_process => Backend::Postgres,
            Self::sqlite | Self::sqlite_nats => Backend::Sqlite,
        }
    }

    pub fn nats(self) -> bool {
        matches!(self, Self::postgres | Self::sqlite_nats)
    }
}

/// A database of its own, dropped when the test ends: a PostgreSQL
/// database, or a SQLite file in a folder of its own.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    name: String,
}

impl TestDb {
    /// A PostgreSQL database.
    pub async fn create() -> Self {
        Self::on(Backend::Postgres).await
    }

    pub async fn on(backend: Backend) -> Self {
        let name = format!("mt_{}", Uuid::new_v4().simple());
        match backend {
            Backend::Postgres => {
                let admin = admin_url();
                let pool = meetings::db::connect(&admin, 1)
                    .await
                    .expect("admin connection");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&pool)
                    .await
                    .expect("create test database");
                pool.close().await;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                Self {
                    url: format!("{base}/{name}"),
                    backend,
                    name,
                }
            }
            Backend::Sqlite => {
                let folder = std::env::temp_dir().join("meetings-tests").join(&name);
                Self {
                    url: format!("sqlite://{}", folder.join("meetings.db").display()),
                    backend,
                    name: folder.display().to_string(),
                }
            }
        }
    }

    /// The event log on this database, migrated, and its leases.
    pub async fn log(&self) -> meetings::app::Log {
        let config = Config::for_tests(self.url.clone(), None, String::new(), SECRET.into());
        meetings::app::open_store(&config).await.expect("event log")
    }

    /// The event log alone.
    pub async fn store(&self) -> std::sync::Arc<dyn EventStore> {
        self.log().await.store
    }

    /// A read-model pool on this database (through `sqlx::Any`).
    pub async fn reads(&self) -> sqlx::AnyPool {
        meetings::db::connect_reads(&self.url, 4)
            .await
            .expect("read pool")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        match self.backend {
            Backend::Sqlite => {
                let _ = std::fs::remove_dir_all(&name);
            }
            Backend::Postgres => on_own_runtime(async move {
                if let Ok(pool) = meetings::db::connect(&admin_url(), 1).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&pool)
                        .await;
                }
            }),
        }
    }
}

/// Runs async clean-up from `Drop` (which cannot await) to completion on a
/// runtime of its own, on a thread of its own.
fn on_own_runtime(work: impl Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            rt.block_on(work);
        }
    })
    .join();
}

/// The test's JetStream stream, deleted when the test ends.
pub struct TestStream {
    pub prefix: String,
}

impl TestStream {
    pub fn new() -> Self {
        Self {
            prefix: unique_prefix(),
        }
    }

    pub fn name(&self) -> String {
        format!("{}_EVENTS", self.prefix.to_uppercase())
    }

    /// Every message in the stream: (position header, msg id header,
    /// subject, payload), in stream order.
    pub async fn messages(&self) -> Vec<Published> {
        let client = async_nats::connect(nats_url()).await.expect("nats");
        let js = jetstream::new(client);
        let Ok(mut stream) = js.get_stream(self.name()).await else {
            return vec![];
        };
        let last = stream
            .info()
            .await
            .expect("stream info")
            .state
            .last_sequence;
        let mut out = Vec::new();
        for seq in 1..=last {
            let message = stream.get_raw_message(seq).await.expect("message");
            let header = |name: &str| {
                message
                    .headers
                    .get(name)
                    .map(|v| v.as_str().to_owned())
                    .unwrap_or_default()
            };
            let sealed = seal().verify(&[&message.payload], &header("Meetings-Seal"));
            out.push(Published {
                sealed,
                position: header("Meetings-Position").parse().unwrap_or(-1),
                msg_id: header("Nats-Msg-Id"),
                event_type: header("Meetings-Event-Type"),
                subject: message.subject.to_string(),
                payload: serde_json::from_slice(&message.payload).unwrap_or(Value::Null),
            });
        }
        out
    }

    /// Waits until the stream holds a message for `position`.
    pub async fn wait_for_position(&self, position: i64) -> Vec<Published> {
        eventually(Duration::from_secs(30), || async {
            let messages = self.messages().await;
            let last = messages.last().map(|m| m.position).unwrap_or(0);
            (last >= position).then_some(messages)
        })
        .await
    }
}

impl Drop for TestStream {
    fn drop(&mut self) {
        let name = self.name();
        on_own_runtime(async move {
            if let Ok(client) = async_nats::connect(nats_url()).await {
                let _ = jetstream::new(client).delete_stream(name).await;
            }
        });
    }
}

#[derive(Debug, Clone)]
pub struct Published {
    /// Whether its seal checks with the tests' nodes' key.
    pub sealed: bool,
    pub position: i64,
    pub msg_id: String,
    pub event_type: String,
    pub subject: String,
    pub payload: Value,
}

/// Polls `probe` until it answers `Some`, failing the test after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "condition not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub struct TestApp {
    pub app: App,
    pub base: String,
    pub client: reqwest::Client,
    pub keys: JwtKeys,
    pub stream: TestStream,
    /// Kept for its drop, which removes the database.
    pub _db: TestDb,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Response {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The `X-Event-Position` header.
    pub fn position_header(&self) -> Option<i64> {
        self.headers
            .get("x-event-position")?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }
}

/// The production setup's configuration on `db` and `stream`.
pub fn test_config(db: &TestDb, stream: &TestStream) -> Config {
    Config::for_tests(
        db.url.clone(),
        Some(nats_url()),
        stream.prefix.clone(),
        SECRET.into(),
    )
}

/// The configuration of `setup` on `db` and (when it uses NATS) `stream`.
pub fn setup_config(setup: Setup, db: &TestDb, stream: &TestStream) -> Config {
    let mut config = test_config(db, stream);
    if !setup.nats() {
        config.nats_url = None;
    }
    config
}

/// The app on a fresh database and stream of `setup`.
pub async fn spawn_app_on(setup: Setup) -> TestApp {
    let db = TestDb::on(setup.backend()).await;
    let stream = TestStream::new();
    spawn_app_with(setup_config(setup, &db, &stream), db, stream).await
}

/// The app on a fresh database and stream of `setup`, its configuration
/// changed by `change` first.
pub async fn app_with(setup: Setup, change: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDb::on(setup.backend()).await;
    let stream = TestStream::new();
    let mut config = setup_config(setup, &db, &stream);
    change(&mut config);
    spawn_app_with(config, db, stream).await
}

pub async fn spawn_app_with(config: Config, db: TestDb, stream: TestStream) -> TestApp {
    let app = App::start(config).await.expect("app starts");
    TestApp {
        base: format!("http://{}", app.addr),
        app,
        client: reqwest::Client::new(),
        keys: JwtKeys::new(SECRET.as_bytes(), None, None),
        stream,
        _db: db,
    }
}

impl TestApp {
    pub fn token(&self, user: &str) -> String {
        let name = format!("{}{}", user[..1].to_uppercase(), &user[1..]);
        self.keys
            .issue(
                user,
                &name,
                Some(&format!("{user}@example.com")),
                &[],
                chrono::Duration::hours(1),
            )
            .expect("token")
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Response {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, path: &str, user: &str, body: Option<&Value>) -> Response {
        let token = self.token(user);
        self.send(reqwest::Method::POST, path, Some(&token), body, &[])
            .await
    }

    pub async fn patch(&self, path: &str, user: &str, body: &Value) -> Response {
        let token = self.token(user);
        self.send(reqwest::Method::PATCH, path, Some(&token), Some(body), &[])
            .await
    }

    /// Creates a meeting hosted by `host` and returns its body.
    pub async fn create_meeting(&self, host: &str, body: Value) -> Value {
        let response = self.post("/api/v1/meetings", host, Some(&body)).await;
        assert_eq!(response.status, StatusCode::CREATED, "{:?}", response.body);
        response.body
    }

    /// Creates an active meeting and returns its id.
    pub async fn active_meeting(&self, host: &str, extra: Value) -> String {
        let mut body = serde_json::json!({"title": "Standup", "start_now": true});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.create_meeting(host, body).await["meeting_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Every event in the log.
    pub async fn log(&self) -> Vec<RecordedEvent> {
        self.app
            .store
            .read_all(0, 1_000_000)
            .await
            .expect("read log")
    }

    pub async fn head(&self) -> i64 {
        self.app.store.head_position().await.expect("head")
    }
}

impl TestApp {
    /// The text of a page anyone may read (no token): HTML, a script,
    /// `/metrics`.
    pub async fn text(&self, path: &str) -> String {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent");
        response.text().await.expect("body")
    }

    pub async fn get(&self, path: &str, user: &str, headers: &[(&str, &str)]) -> Response {
        let token = self.token(user);
        self.send(reqwest::Method::GET, path, Some(&token), None, headers)
            .await
    }

    /// Waits until every read model has applied the log's head.
    pub async fn wait_projected(&self) -> i64 {
        let head = self.head().await;
        self.app
            .progress
            .wait_for(head, Duration::from_secs(30))
            .await
            .expect("read models catch up");
        head
    }
}

/// Every read-model row as text, in a stable order: what a rebuild must
/// reproduce exactly (portable: the same on every read-model database).
pub async fn read_model_snapshot(reads: &sqlx::AnyPool) -> Vec<String> {
    use sqlx::{Column, Row};
    let mut rows = Vec::new();
    for (table, key) in [
        ("rm_meetings", "meeting_id"),
        ("rm_meeting_attendees", "meeting_id, user_id"),
        ("rm_participants", "participant_id"),
        ("rm_meeting_members", "meeting_id, user_id"),
        ("rm_chat_messages", "position"),
        ("rm_recordings", "recording_id"),
        ("rm_breakout_sessions", "session_id"),
        ("rm_breakout_rooms", "room_id"),
        ("rm_breakout_assignments", "session_id, user_id"),
        ("projection_checkpoints", "name"),
    ] {
        let query = format!("SELECT * FROM {table} ORDER BY {key}");
        for row in sqlx::query(&query)
            .fetch_all(reads)
            .await
            .expect("snapshot")
        {
            let cells: Vec<String> = row
                .columns()
                .iter()
                .map(|column| {
                    let i = column.ordinal();
                    let value = row
                        .try_get::<Option<String>, _>(i)
                        .map(|v| format!("{v:?}"))
                        .or_else(|_| row.try_get::<Option<i64>, _>(i).map(|v| format!("{v:?}")))
                        .or_else(|_| row.try_get::<Option<bool>, _>(i).map(|v| format!("{v:?}")))
                        .unwrap_or_else(|e| format!("undecodable: {e}"));
                    format!("{}={value}", column.name())
                })
                .collect();
            rows.push(format!("{table}: {}", cells.join(", ")));
        }
    }
    rows
}

impl TestApp {
    pub fn token_with_roles(&self, user: &str, roles: &[&str]) -> String {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        self.keys
            .issue(user, user, None, &roles, chrono::Duration::hours(1))
            .expect("token")
    }
}

/// A command context for `user` (no deployment roles), now.
pub fn ctx(user: &str) -> command::meeting::Context {
    command::meeting::Context {
        caller: command::meeting::Caller::person(user, user),
        at: chrono::Utc::now(),
        request_id: None,
    }
}

/// A join that takes a new seat.
pub fn join() -> command::meeting::Command {
    command::meeting::Command::Join(command::meeting::admission::JoinMeeting {
        participant_id: events::ParticipantId::new(),
        ..Default::default()
    })
}

/// Schedules a meeting hosted by `host` through a command handler (room
/// for 1000); started at once when `start_now`.
pub async fn schedule(
    commands: &command::CommandHandler,
    host: &str,
    start_now: bool,
) -> events::MeetingId {
    let id = events::MeetingId::new();
    let command = command::meeting::lifecycle::ScheduleMeeting {
        meeting_id: id,
        room_code: events::RoomCode::random(&mut rand::thread_rng()),
        title: "in-process".into(),
        description: None,
        starts_at: None,
        ends_at: None,
        max_participants: Some(1000),
        settings: events::settings::SettingsChange::default(),
        start_now,
        password_id: None,
    };
    commands
        .schedule(&ctx(host), command, None)
        .await
        .expect("schedule");
    id
}

/// A NATS server of this test's own, on a free port, with JetStream.
pub struct PrivateNats {
    child: tokio::process::Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl PrivateNats {
    pub async fn start(port: u16, dir: PathBuf) -> Self {
        Self::start_with(port, dir, None).await
    }

    /// With `max_payload` set, the server takes no larger message.
    pub async fn start_with(port: u16, dir: PathBuf, max_payload: Option<usize>) -> Self {
        let extra = max_payload.map_or(String::new(), |m| format!("max_payload: {m}\n"));
        Self::start_configured(port, dir, &extra).await
    }

    /// With `extra` added to its configuration (an `authorization` block,
    /// a `max_payload`).
    pub async fn start_configured(port: u16, dir: PathBuf, extra: &str) -> Self {
        let binary = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("nats-server is installed (scripts/test provisions it)");
        std::fs::create_dir_all(&dir).expect("the server's folder");
        let config = dir.join("nats.conf");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:{port}\njetstream {{ store_dir: {:?} }}\n{extra}",
                dir.join("js"),
            ),
        )
        .expect("the server's config");
        let child = tokio::process::Command::new(binary)
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start nats-server");
        eventually(Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        Self { child, port, dir }
    }

    pub async fn stop(mut self) -> (u16, PathBuf) {
        self.child.kill().await.expect("stop nats-server");
        (self.port, self.dir.clone())
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
