//! Prometheus metrics (`GET /metrics`, on unless `METRICS_ENABLED=false`).
//!
//! Counters and histograms go through the `metrics` facade to one
//! process-wide recorder (`metrics-exporter-prometheus`, without its HTTP
//! server: the API serves the text): commands by name and outcome and
//! their latency (`command`), the group commit's batch size (`eventlog`),
//! the relay's position (`live`), WebSocket connections and HTTP requests
//! by route template and status ([`http`]). Positions that a scrape can
//! read are read then, from this node: the log's head and each read
//! model's checkpoint and lag ([`render`]).
//!
//! Labels are bounded: route templates (never a raw path), command names,
//! outcomes and status codes; never a user, meeting or request id.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Upper bounds (seconds) of the latency histograms' buckets.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds of the append batch size histogram's buckets.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use; `None` if another
/// recorder was installed first.
pub fn recorder() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        metrics_exporter_prometheus::Matcher::Full(
                            "meetings_append_batch_size".into(),
                        ),
                        BATCH_BUCKETS,
                    )
                });
            let recorder = match builder {
                Ok(builder) => builder.build_recorder(),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are off");
                    return None;
                }
            };
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    describe();
                    // Histograms keep their samples until upkeep folds
                    // them into buckets: without it, an unscraped node's
                    // memory would grow with every request.
                    let upkeep = handle.clone();
                    std::thread::Builder::new()
                        .name("metrics-upkeep".into())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(UPKEEP_EVERY);
                                upkeep.run_upkeep();
                            }
                        })
                        .ok()?;
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed");
                    None
                }
            }
        })
        .as_ref()
}

/// One series' labels: (name, value) pairs.
type Series = &'static [(&'static str, &'static str)];

/// What a metric is.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric the process exports (but the positions [`render`] adds):
/// its name, kind, help, and the series shown from the start (label sets
/// known before first use; `&[]` is the unlabelled series), so a dashboard
/// sees 0 rather than "no data". Series of open-ended labels (a command,
/// a route) appear with their first use.
const METRICS: [(&str, Kind, &str, &[Series]); 15] = [
    (
        "meetings_commands_total",
        Kind::Counter,
        "Commands run on this node, by command and outcome (ok, refused, not_found, conflict, error).",
        &[],
    ),
    (
        "meetings_command_duration_seconds",
        Kind::Histogram,
        "How long a command took on this node, by command.",
        &[],
    ),
    (
        "meetings_commands_forwarded_total",
        Kind::Counter,
        "Commands sent to a hot meeting's holder and answered there, by command.",
        &[],
    ),
    (
        "meetings_forwarded_refused_total",
        Kind::Counter,
        "Forwarded commands this node refused, by reason (unsealed, stale).",
        &[&[("reason", "unsealed")], &[("reason", "stale")]],
    ),
    (
        "meetings_append_batch_size",
        Kind::Histogram,
        "Appends written by one group commit.",
        &[&[]],
    ),
    (
        "meetings_relay_position",
        Kind::Gauge,
        "The last position the relay published to the bus.",
        &[&[]],
    ),
    (
        "meetings_bus_unsealed_total",
        Kind::Counter,
        "Messages on the bus whose seal did not check, dropped.",
        &[&[]],
    ),
    (
        "meetings_undecodable_events_total",
        Kind::Counter,
        "Events of the log that did not decode where they were to be shown or sent (shown to nobody; a webhook gives them up).",
        &[&[]],
    ),
    (
        "meetings_feed_unchained_total",
        Kind::Counter,
        "Live events that did not chain to the last one a subscription delivered (read from the log instead).",
        &[&[]],
    ),
    (
        "meetings_websocket_connections",
        Kind::Gauge,
        "WebSocket connections open on this node.",
        &[&[]],
    ),
    (
        "meetings_database_up",
        Kind::Gauge,
        "1 while the database answers this node's probe, 0 while it does not.",
        &[&[]],
    ),
    (
        "meetings_http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by method, route template and status.",
        &[],
    ),
    (
        "meetings_http_request_duration_seconds",
        Kind::Histogram,
        "How long an HTTP request took, by method and route template.",
        &[],
    ),
    (
        "meetings_webhook_deliveries_total",
        Kind::Counter,
        "Webhook delivery attempts, by outcome (delivered, failed).",
        &[&[("outcome", "delivered")], &[("outcome", "failed")]],
    ),
    (
        "meetings_rate_limited_total",
        Kind::Counter,
        "Requests and WebSocket frames refused over a budget, by category.",
        &[
            &[("category", "meetings")],
            &[("category", "participants")],
            &[("category", "chat")],
            &[("category", "status")],
            &[("category", "websocket")],
        ],
    ),
];

/// Describes every metric, and shows its known series at their start
/// (counters 0, gauges 0, the database up until a probe says otherwise).
fn describe() {
    for (name, kind, help, series) in METRICS {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, help),
            Kind::Gauge => metrics::describe_gauge!(name, help),
            Kind::Histogram => metrics::describe_histogram!(name, help),
        }
        for labels in series {
            let labels: Vec<metrics::Label> = labels
                .iter()
                .map(|(k, v)| metrics::Label::new(*k, *v))
                .collect();
            match kind {
                Kind::Counter => metrics::counter!(name, labels).absolute(0),
                Kind::Gauge => {
                    let start = if name == "meetings_database_up" {
                        1.0
                    } else {
                        0.0
                    };
                    metrics::gauge!(name, labels).set(start);
                }
                Kind::Histogram => drop(metrics::histogram!(name, labels)),
            }
        }
    }
}

/// Counts and times every HTTP request by method, route template and
/// status (`meetings_http_requests_total`,
/// `meetings_http_request_duration_seconds`).
pub async fn http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = method_label(request.method());
    let response = next.run(request).await;
    let status = status_label(response.status());
    metrics::histogram!(
        "meetings_http_request_duration_seconds",
        "method" => method, "route" => route.clone()
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "meetings_http_requests_total",
        "method" => method, "route" => route, "status" => status
    )
    .increment(1);
    response
}

/// A status as a label, without an allocation for the usual ones.
fn status_label(status: axum::http::StatusCode) -> metrics::SharedString {
    const USUAL: [(u16, &str); 16] = [
        (200, "200"),
        (201, "201"),
        (202, "202"),
        (204, "204"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (409, "409"),
        (410, "410"),
        (422, "422"),
        (429, "429"),
        (500, "500"),
        (503, "503"),
        (101, "101"),
        (405, "405"),
    ];
    let code = status.as_u16();
    match USUAL.iter().find(|(c, _)| *c == code) {
        Some((_, label)) => metrics::SharedString::const_str(label),
        None => metrics::SharedString::from(code.to_string()),
    }
}

/// A method as a label: the standard ones, every other as `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method as M;
    match *method {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::PATCH => "PATCH",
        M::DELETE => "DELETE",
        M::HEAD => "HEAD",
        M::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A WebSocket connection, counted in `meetings_websocket_connections`
/// while it lives.
pub struct WebSocketGauge(());

impl WebSocketGauge {
    pub fn open() -> Self {
        metrics::gauge!("meetings_websocket_connections").increment(1.0);
        Self(())
    }
}

impl Drop for WebSocketGauge {
    fn drop(&mut self) {
        metrics::gauge!("meetings_websocket_connections").decrement(1.0);
    }
}

/// Positions read at scrape time on this node.
pub struct Positions {
    pub head: i64,
    /// Each read model's checkpoint, by projection name.
    pub projections: Vec<(&'static str, i64)>,
}

/// The exposition text: the recorder's metrics, then this node's
/// positions as gauges (when the database answers).
pub fn render(handle: &PrometheusHandle, positions: Option<&Positions>) -> String {
    use std::fmt::Write as _;
    let mut text = handle.render();
    let Some(positions) = positions else {
        return text;
    };
    let head = positions.head;
    let _ = writeln!(
        text,
        "# HELP meetings_log_head_position The log's last position.\n\
         # TYPE meetings_log_head_position gauge\n\
         meetings_log_head_position {head}"
    );
    let _ = writeln!(
        text,
        "# HELP meetings_projection_position The position a read model has applied.\n\
         # TYPE meetings_projection_position gauge"
    );
    for (name, position) in &positions.projections {
        let _ = writeln!(
            text,
            "meetings_projection_position{{projection=\"{name}\"}} {position}"
        );
    }
    let _ = writeln!(
        text,
        "# HELP meetings_projection_lag Events of the log a read model has not applied.\n\
         # TYPE meetings_projection_lag gauge"
    );
    for (name, position) in &positions.projections {
        let lag = (head - position).max(0);
        let _ = writeln!(
            text,
            "meetings_projection_lag{{projection=\"{name}\"}} {lag}"
        );
    }
    text
}
