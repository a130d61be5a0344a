//! Per-caller rate limits at the edge (spec 001's table): each limited
//! route belongs to one [`Category`], and each category has a budget per
//! caller ([`key`]): a person by their token's subject; a guest by their
//! client network and meeting (anyone can get guest tokens, so a token is
//! no identity); a call without a token (`info`, `exists`, a guest's
//! join) by its client network (an IPv4 address, an IPv6 /64). A
//! WebSocket's frames count against the frame budget and against the
//! category of their REST twin (a `chat` frame is a chat message).
//!
//! The budgets are GCRA buckets (`governor`): a category of 100 per hour
//! allows a burst of 100 and gives one back every 36 seconds. Every answer
//! of a limited route carries `X-RateLimit-Limit`, `X-RateLimit-Remaining`
//! and `X-RateLimit-Reset` (the Unix time the bucket is full again); one
//! over the budget is 429 RATE_LIMIT_EXCEEDED with `Retry-After`, and the
//! command is not run.
//!
//! Limits are per node (each node keeps its own buckets). Memory is
//! bounded: buckets that are full again are dropped once a minute, and a
//! category holding more than [`MAX_KEYS`] callers starts afresh.
//! A token that does not verify is not counted: the route answers 401.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{Quota, RateLimiter};

use super::{ApiError, AppState};
use crate::peer::PeerAddr;

/// Callers a category remembers at most before it starts afresh.
pub const MAX_KEYS: usize = 100_000;
/// How often buckets that are full again are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// What a limited request is, by spec 001's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// Create, update, cancel, start, end, configure, policy, breakout
    /// rooms, recording: 100 per hour.
    Meetings,
    /// Join, leave, invite, remove, roles, the waiting room, media access,
    /// `info` and `exists`: 1000 per hour.
    Participants,
    /// Chat messages and reactions: 60 per minute.
    Chat,
    /// Participant status (mute, video, hand, screen): 120 per minute.
    Status,
    /// Frames a WebSocket client sends: 1000 per minute.
    WebSocket,
}

impl Category {
    const ALL: [Category; 5] = [
        Self::Meetings,
        Self::Participants,
        Self::Chat,
        Self::Status,
        Self::WebSocket,
    ];

    /// The category of a route (its template under `/api/v1`), if limited.
    pub fn of(method: &Method, route: &str) -> Option<Self> {
        let route = route.strip_prefix("/api/v1")?;
        let tail = route.strip_prefix("/meetings/{meeting}").unwrap_or(route);
        let category = match (method.as_str(), tail) {
            ("POST", "/meetings") | ("PUT" | "DELETE", "") => Self::Meetings,
            (
                "POST",
                "/start"
                | "/end"
                | "/security/policy"
                | "/breakout-rooms"
                | "/breakout-rooms/assign"
                | "/breakout-rooms/close"
                | "/recording/start"
                | "/recording/stop"
                | "/recordings/{recording_id}/file",
            )
            | ("PATCH", "/config") => Self::Meetings,
            (
                "POST",
                "/join"
                | "/leave"
                | "/participants"
                | "/token"
                | "/waiting-room/{participant_id}/admit"
                | "/waiting-room/{participant_id}/reject",
            )
            | ("DELETE", "/participants/{user_id}")
            | ("PUT", "/participants/{user_id}/role")
            | ("GET", "/link" | "/info" | "/exists") => Self::Participants,
            ("POST", "/chat" | "/reactions") => Self::Chat,
            ("PUT", "/participants/status") => Self::Status,
            _ => return None,
        };
        Some(category)
    }

    fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Meetings => "meetings",
            Self::Participants => "participants",
            Self::Chat => "chat",
            Self::Status => "status",
            Self::WebSocket => "websocket",
        }
    }
}

/// A category's budget: `limit` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub window: Duration,
}

type Keyed = RateLimiter<
    String,
    governor::state::keyed::DefaultKeyedStateStore<String>,
    DefaultClock,
    StateInformationMiddleware,
>;

struct Limiter {
    budget: Budget,
    quota: Quota,
    /// Replaced whole when it holds too many callers.
    buckets: std::sync::RwLock<Keyed>,
    /// Seconds since `started` of the last sweep.
    swept: AtomicU64,
    /// Requests counted; the bound is looked at every [`LOOK_EVERY`].
    counted: AtomicU64,
}

/// Requests between two looks at a category's size and sweep time (so
/// the hot path does not count the buckets every time).
const LOOK_EVERY: u64 = 256;

/// The node's buckets, one set per category that has a budget.
pub struct RateLimits {
    limiters: [Option<Limiter>; 5],
    clock: DefaultClock,
    started: std::time::Instant,
}

fn buckets(quota: Quota) -> Keyed {
    RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>()
}

/// Where a caller stands after a request was let through.
#[derive(Debug, Clone, Copy)]
pub struct Standing {
    pub limit: u32,
    pub remaining: u32,
    /// Unix time the bucket is full again.
    pub reset: i64,
}

/// A request over its category's budget.
#[derive(Debug, Clone, Copy)]
pub struct Exceeded {
    pub category: Category,
    pub budget: Budget,
    pub retry_after: Duration,
}

impl Category {
    /// The category's budget under the settings (`None` where it is 0:
    /// not limited).
    pub fn budget(self, edge: &crate::config::EdgeConfig) -> Option<Budget> {
        let (limit, window) = match self {
            Self::Meetings => (edge.rate_limit_meetings_per_hour, 3600),
            Self::Participants => (edge.rate_limit_participants_per_hour, 3600),
            Self::Chat => (edge.rate_limit_chat_per_minute, 60),
            Self::Status => (edge.rate_limit_status_per_minute, 60),
            Self::WebSocket => (edge.rate_limit_ws_messages_per_minute, 60),
        };
        (limit > 0).then(|| Budget {
            limit,
            window: Duration::from_secs(window),
        })
    }
}

impl RateLimits {
    /// Buckets for the budgets given per category (`None`: not limited).
    pub fn new(budgets: impl Fn(Category) -> Option<Budget>) -> Self {
        let limiters = Category::ALL.map(|category| {
            let budget = budgets(category)?;
            let limit = NonZeroU32::new(budget.limit)?;
            let quota = Quota::with_period(budget.window / budget.limit)?.allow_burst(limit);
            Some(Limiter {
                budget,
                quota,
                buckets: std::sync::RwLock::new(buckets(quota)),
                swept: AtomicU64::new(0),
                counted: AtomicU64::new(0),
            })
        });
        Self {
            limiters,
            clock: DefaultClock::default(),
            started: std::time::Instant::now(),
        }
    }

    /// Counts one request of `key` in `category`: its standing, or by how
    /// much it is over. Always let through where the category has no budget.
    pub fn check(&self, category: Category, key: String) -> Result<Option<Standing>, Exceeded> {
        let Some(limiter) = &self.limiters[category.index()] else {
            return Ok(None);
        };
        self.sweep(limiter);
        let now = chrono::Utc::now().timestamp();
        let per = limiter.budget.window / limiter.budget.limit;
        let buckets = limiter.buckets.read().unwrap_or_else(|e| e.into_inner());
        match buckets.check_key(&key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = limiter.budget.limit.saturating_sub(remaining);
                Ok(Some(Standing {
                    limit: limiter.budget.limit,
                    remaining,
                    reset: now + (per * used).as_secs_f64().ceil() as i64,
                }))
            }
            Err(not_until) => {
                metrics::counter!("meetings_rate_limited_total", "category" => category.name())
                    .increment(1);
                Err(Exceeded {
                    category,
                    budget: limiter.budget,
                    retry_after: not_until.wait_time_from(self.clock.now()),
                })
            }
        }
    }

    /// Callers remembered in `category` (for tests of the bound).
    pub fn remembered(&self, category: Category) -> usize {
        self.limiters[category.index()]
            .as_ref()
            .map_or(0, |l| self.remembered_by(l))
    }

    /// Drops the buckets that are full again, at most once a minute; and
    /// all of them past [`MAX_KEYS`] (looked at every [`LOOK_EVERY`]
    /// requests, so a category holds at most that many more).
    fn sweep(&self, limiter: &Limiter) {
        if limiter.counted.fetch_add(1, Ordering::Relaxed) % LOOK_EVERY != 0 {
            return;
        }
        let now = self.started.elapsed().as_secs();
        let last = limiter.swept.load(Ordering::Relaxed);
        let due = now >= last + SWEEP_EVERY.as_secs();
        let crowded = self.remembered_by(limiter) > MAX_KEYS;
        if !(due || crowded)
            || limiter
                .swept
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let mut buckets = limiter.buckets.write().unwrap_or_else(|e| e.into_inner());
        buckets.retain_recent();
        if buckets.len() > MAX_KEYS {
            tracing::warn!(
                callers = buckets.len(),
                "rate limit buckets over their bound: starting afresh"
            );
            *buckets = self::buckets(limiter.quota);
        }
        buckets.shrink_to_fit();
    }

    fn remembered_by(&self, limiter: &Limiter) -> usize {
        limiter
            .buckets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

impl Standing {
    /// `X-RateLimit-Limit`, `-Remaining` and `-Reset`.
    fn write(&self, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", self.limit.into());
        headers.insert("x-ratelimit-remaining", self.remaining.into());
        headers.insert("x-ratelimit-reset", self.reset.into());
    }
}

/// Whose budget a request counts against: a person's subject; a guest's
/// client network and meeting; without a token, the client's network.
/// `None`: nobody to count (no token and no address).
pub fn key(caller: Option<&command::meeting::Caller>, peer: Option<PeerAddr>) -> Option<String> {
    match (caller, peer) {
        (Some(caller), peer) => match (caller.guest_of(), peer) {
            (Some(meeting), Some(peer)) => Some(format!("g:{}/{meeting}", peer.network())),
            _ => Some(format!("u:{}", caller.user_id.as_str())),
        },
        (None, Some(peer)) => Some(format!("ip:{}", peer.network())),
        (None, None) => None,
    }
}

/// A caller the limits layer already verified: the route's extractor
/// takes it rather than verify the token again.
#[derive(Clone)]
pub struct Verified(pub command::meeting::Caller);

/// The limits layer: counts a limited route's request against its
/// caller's budget, answers 429 over it, and writes the standing on the
/// answer.
pub async fn limit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let category = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|route| Category::of(request.method(), route.as_str()));
    let Some(category) = category else {
        return next.run(request).await;
    };
    let authorization = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    let peer = request.extensions().get::<PeerAddr>().copied();
    let caller = match authorization {
        Some(header) => {
            let verified = match crate::auth::bearer(Some(header)) {
                Ok(token) => state.keys.verify(token).await,
                Err(e) => Err(e),
            };
            let Ok(caller) = verified else {
                // Not counted: the route answers 401.
                return next.run(request).await;
            };
            Some(caller)
        }
        None => None,
    };
    let Some(key) = key(caller.as_ref(), peer) else {
        return next.run(request).await;
    };
    if let Some(caller) = caller {
        request.extensions_mut().insert(Verified(caller));
    }
    match state.limits.check(category, key) {
        Ok(standing) => {
            let mut response = next.run(request).await;
            // A meeting's own, stricter limit (chat, reactions) that
            // refused the request speaks for itself.
            let refused_inside = response.headers().contains_key("x-ratelimit-limit");
            if let Some(standing) = standing.filter(|_| !refused_inside) {
                standing.write(response.headers_mut());
            }
            response
        }
        Err(exceeded) => ApiError::from(exceeded).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(limit: u32, seconds: u64) -> impl Fn(Category) -> Option<Budget> {
        move |_| {
            Some(Budget {
                limit,
                window: Duration::from_secs(seconds),
            })
        }
    }

    #[test]
    fn a_budget_counts_down_per_caller_and_refuses_past_it() {
        let limits = RateLimits::new(every(2, 60));
        let left = |key: &str| {
            limits
                .check(Category::Chat, key.to_owned())
                .map(|s| s.unwrap().remaining)
        };
        assert_eq!(left("u:a").unwrap(), 1);
        assert_eq!(left("u:a").unwrap(), 0);
        let over = left("u:a").unwrap_err();
        assert_eq!(over.budget.limit, 2);
        assert!(over.retry_after > Duration::ZERO && over.retry_after <= Duration::from_secs(30));
        assert_eq!(
            left("u:b").unwrap(),
            1,
            "another caller's budget is their own"
        );
        assert_eq!(
            limits
                .check(Category::Status, "u:a".into())
                .unwrap()
                .unwrap()
                .remaining,
            1,
            "and so is another category's"
        );
    }

    #[test]
    fn a_category_without_a_budget_lets_everything_through() {
        let limits = RateLimits::new(|c| {
            (c != Category::Chat).then_some(Budget {
                limit: 1,
                window: Duration::from_secs(60),
            })
        });
        for _ in 0..10 {
            assert!(
                limits
                    .check(Category::Chat, "u:a".into())
                    .unwrap()
                    .is_none()
            );
        }
    }

    #[test]
    fn a_crowd_past_the_bound_starts_afresh_so_memory_stays_bounded() {
        let limits = RateLimits::new(every(5, 60));
        for n in 0..=MAX_KEYS {
            limits.check(Category::Chat, format!("ip:{n}")).unwrap();
        }
        let crowd = limits.remembered(Category::Chat);
        assert_eq!(crowd, MAX_KEYS + 1);
        // Looked at within the next LOOK_EVERY requests: started afresh.
        for n in 0..LOOK_EVERY {
            limits.check(Category::Chat, format!("u:next{n}")).unwrap();
        }
        assert!(limits.remembered(Category::Chat) < LOOK_EVERY as usize);
    }

    #[test]
    fn people_count_by_subject_guests_by_network_and_meeting_and_ipv6_by_64() {
        use command::meeting::{Caller, CallerKind};
        let peer = |ip: &str| Some(PeerAddr(std::net::SocketAddr::new(ip.parse().unwrap(), 1)));
        let bob = Caller::person("bob", "Bob");
        assert_eq!(key(Some(&bob), peer("192.0.2.1")).unwrap(), "u:bob");
        let meeting = events::MeetingId::new();
        let guest = |id: &str| Caller {
            kind: CallerKind::Guest(meeting),
            ..Caller::person(id, id)
        };
        let (one, two) = (guest("guest-a-1"), guest("guest-b-2"));
        assert_eq!(
            key(Some(&one), peer("192.0.2.1")),
            key(Some(&two), peer("192.0.2.1")),
            "two guest tokens from one address share a budget"
        );
        assert_ne!(
            key(Some(&one), peer("192.0.2.1")),
            key(Some(&two), peer("192.0.2.2"))
        );
        assert_eq!(
            key(None, peer("2001:db8::1")),
            key(None, peer("2001:db8::ffff:2")),
            "one /64"
        );
        assert_ne!(
            key(None, peer("2001:db8::1")),
            key(None, peer("2001:db8:0:1::1"))
        );
        assert_eq!(key(None, None), None);
    }

    #[test]
    fn routes_fall_in_spec_001s_categories_and_queries_in_none() {
        let get = Method::GET;
        let post = Method::POST;
        for (method, route, category) in [
            (&post, "/api/v1/meetings", Some(Category::Meetings)),
            (
                &Method::PUT,
                "/api/v1/meetings/{meeting}",
                Some(Category::Meetings),
            ),
            (
                &post,
                "/api/v1/meetings/{meeting}/end",
                Some(Category::Meetings),
            ),
            (
                &Method::PATCH,
                "/api/v1/meetings/{meeting}/config",
                Some(Category::Meetings),
            ),
            (
                &post,
                "/api/v1/meetings/{meeting}/join",
                Some(Category::Participants),
            ),
            (
                &get,
                "/api/v1/meetings/{meeting}/info",
                Some(Category::Participants),
            ),
            (
                &post,
                "/api/v1/meetings/{meeting}/chat",
                Some(Category::Chat),
            ),
            (
                &post,
                "/api/v1/meetings/{meeting}/reactions",
                Some(Category::Chat),
            ),
            (
                &Method::PUT,
                "/api/v1/meetings/{meeting}/participants/status",
                Some(Category::Status),
            ),
            (&get, "/api/v1/meetings", None),
            (&get, "/api/v1/meetings/{meeting}", None),
            (&get, "/api/v1/meetings/{meeting}/chat", None),
            (&get, "/ws/meetings/{meeting}", None),
            (&get, "/metrics", None),
        ] {
            assert_eq!(Category::of(method, route), category, "{method} {route}");
        }
    }
}
