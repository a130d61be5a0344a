//! `tokens`: media access issuance on one core. A LiveKit token for
//! someone in a meeting of 50 (their grants read from the meeting's state,
//! then signed through LiveKit's crate), and a personalized Jitsi link
//! (link grants, then prosody's token). Baseline in the same runs: a plain
//! bearer token of our own (`JwtKeys::issue`, HS256), the cost of signing
//! alone. One worker: the figures are one core's.

use std::sync::Arc;

use command::meeting::grants::{call_grants, link_grants};
use command::meeting::lifecycle::ScheduleMeeting;
use command::meeting::{Caller, Command, Meeting, decide, fold};
use events::settings::SettingsChange;
use events::{MeetingEvent, MeetingId, RoomCode};
use meetings::auth::JwtKeys;
use meetings::config::JitsiConfig;
use meetings::media::jitsi::Jitsi;
use meetings::media::livekit::LiveKit;

use crate::cli::Options;
use crate::fixtures::{SECRET, context, join_command};
use crate::harness::{Figures, Report, Sample, measure};

/// Tokens per second, and latencies in microseconds (milliseconds round
/// them all to nothing).
fn micros(sample: Sample) -> Figures {
    Figures::from([
        ("ops_per_sec", sample.ops_per_sec),
        ("p50_us", sample.p50_ms * 1000.0),
        ("p99_us", sample.p99_ms * 1000.0),
    ])
}

/// People in the meeting the tokens are for.
const PRESENT: usize = 50;

/// An active meeting with [`PRESENT`] people in it, folded in memory.
fn meeting() -> anyhow::Result<Meeting> {
    let mut state: Option<Meeting> = None;
    let mut run = |user: &str, command: Command| -> anyhow::Result<()> {
        let decision = decide(state.as_ref(), &context(user.into()), &command)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let events: Vec<MeetingEvent> = decision.events;
        state = fold(state.take(), &events);
        Ok(())
    };
    run(
        "host",
        Command::Schedule(ScheduleMeeting {
            meeting_id: MeetingId::new(),
            room_code: RoomCode::random(&mut rand::thread_rng()),
            title: "tokens".into(),
            description: None,
            starts_at: None,
            ends_at: None,
            max_participants: None,
            settings: SettingsChange::default(),
            start_now: true,
            password_id: None,
        }),
    )?;
    run("host", join_command())?;
    for n in 1..PRESENT {
        run(&format!("user{n}"), join_command())?;
    }
    state.ok_or_else(|| anyhow::anyhow!("no meeting"))
}

pub async fn report(options: &Options) -> anyhow::Result<Vec<Report>> {
    let meeting = Arc::new(meeting()?);
    let livekit = Arc::new(LiveKit::new(
        "wss://livekit.bench",
        "APIbench",
        SECRET,
        std::time::Duration::from_secs(3600),
    ));
    let jitsi = Arc::new(
        Jitsi::from_config(&JitsiConfig {
            domain: Some("meet.bench".into()),
            app_id: Some("bench".into()),
            app_secret: Some(SECRET.into()),
            ..JitsiConfig::default()
        })?
        .ok_or_else(|| anyhow::anyhow!("Jitsi is configured"))?,
    );
    let keys = Arc::new(JwtKeys::new(SECRET.as_bytes(), None, None));
    let caller = Arc::new(Caller::person("user7", "User Seven"));
    let (mut lk, mut links, mut bearer) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..options.runs {
        let (m, l, c) = (meeting.clone(), livekit.clone(), caller.clone());
        lk.push(
            measure(1, options.seconds, move |_, _| {
                let grants = call_grants(&m, &c);
                let minted = grants
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .and_then(|g| l.token(&g).map_err(|e| anyhow::anyhow!("{e}")));
                async move { minted.map(drop) }
            })
            .await
            .map(micros)?,
        );
        let (m, j, c) = (meeting.clone(), jitsi.clone(), caller.clone());
        links.push(
            measure(1, options.seconds, move |_, _| {
                let link = link_grants(&m, &c)
                    .map_err(|e| anyhow::anyhow!("{e}"))
                    .and_then(|g| {
                        j.link(&g, &c.name, None)
                            .map_err(|e| anyhow::anyhow!("{e}"))
                    });
                async move { link.map(drop) }
            })
            .await
            .map(micros)?,
        );
        let k = keys.clone();
        bearer.push(
            measure(1, options.seconds, move |_, _| {
                let token = k
                    .issue("user7", "User Seven", None, &[], chrono::Duration::hours(1))
                    .map_err(|e| anyhow::anyhow!("{e}"));
                async move { token.map(drop) }
            })
            .await
            .map(micros)?,
        );
    }
    Ok(vec![
        Report::new("tokens-livekit", lk)
            .concurrency(1)
            .against("bearer token (HS256)", bearer.clone())
            .ratio("ops_per_sec", "ops_per_sec"),
        Report::new("tokens-jitsi-link", links)
            .concurrency(1)
            .against("bearer token (HS256)", bearer)
            .ratio("ops_per_sec", "ops_per_sec"),
    ])
}
