//! Webhook subscriptions over HTTP: `POST/GET /api/v1/webhooks`,
//! `GET/PATCH/DELETE /api/v1/webhooks/{id}`, `POST .../rotate-secret`,
//! `GET .../deliveries`, `POST .../replay`. Admins subscribe to anything;
//! a meeting's host to that meeting only; a subscription is seen and
//! changed by its owner and by admins. The secret is shown on creation and
//! rotation only.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use command::meeting::Caller;
use serde::{Deserialize, Serialize};

use super::extract::{AuthUser, JsonBody, at_least, query_of};
use super::{ApiError, AppState};
use crate::webhooks::owner;
use crate::webhooks::store::{self, Delivery, Subscription};

/// How long the secret before a rotation still signs.
const ROTATION_GRACE: chrono::Duration = chrono::Duration::hours(24);
/// The longest description taken.
const MAX_DESCRIPTION: usize = 500;
/// The most event types one subscription names.
const MAX_TYPES: usize = 64;
/// Deliveries in one page at most.
const MAX_DELIVERIES: i64 = 1000;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/meetings", "event_types": ["meeting_started", "participant_joined"], "description": "CRM sync"}))]
pub struct CreateBody {
    /// Where to post: `http` or `https`, on a public address.
    url: Option<String>,
    /// Event types (`participant_joined`, ...), or `["*"]` for all.
    event_types: Option<Vec<String>>,
    /// Only this meeting's events (required unless the caller is an admin).
    meeting_id: Option<String>,
    description: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct PatchBody {
    url: Option<String>,
    event_types: Option<Vec<String>>,
    /// Turns delivery off or back on (from where it stopped).
    enabled: Option<bool>,
    description: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"after_position": 0}))]
pub struct ReplayBody {
    /// Deliver again every event after this log position.
    after_position: Option<i64>,
}

/// A subscription as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    id: String,
    url: String,
    event_types: Vec<String>,
    meeting_id: Option<String>,
    description: Option<String>,
    enabled: bool,
    /// Why delivery was turned off by the server (a 410 Gone).
    disabled_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Every event up to this log position is done with.
    position: i64,
    /// Shown on creation and rotation only.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl WebhookView {
    fn of(s: Subscription, with_secret: bool) -> Self {
        Self {
            id: s.id,
            url: s.url,
            event_types: s.event_types,
            meeting_id: s.meeting_id,
            description: s.description,
            enabled: s.enabled,
            disabled_reason: s.disabled_reason,
            created_at: s.created_at,
            updated_at: s.updated_at,
            position: s.position,
            secret: with_secret.then_some(s.secret),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookList {
    webhooks: Vec<WebhookView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    deliveries: Vec<Delivery>,
    /// Ask again with `after` = this for what follows.
    next_after: i64,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesParams {
    /// Only `delivered` or only `failed` attempts.
    #[param(inline, nullable = false)]
    status: Option<DeliveryStatus>,
    /// Attempts after this cursor (`seq`), default 0.
    #[param(minimum = 0, nullable = false)]
    after: Option<i64>,
    /// At most this many (1 to 1,000, default 100).
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    limit: Option<i64>,
}

/// Which attempts of the delivery log to list.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Delivered,
    Failed,
}

/// The path of one subscription.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct WebhookPath {
    /// The subscription's id.
    id: String,
}

/// The event types asked for, checked.
fn event_types(types: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let types = types.ok_or_else(|| ApiError::invalid("event_types", "is required"))?;
    if types.is_empty() || types.len() > MAX_TYPES {
        return Err(ApiError::invalid(
            "event_types",
            format!("must name 1 to {MAX_TYPES} event types, or [\"*\"]"),
        ));
    }
    if let Some(unknown) = types
        .iter()
        .find(|t| *t != "*" && !events::MeetingEvent::TYPES.contains(&t.as_str()))
    {
        return Err(ApiError::invalid(
            "event_types",
            format!("{unknown:?} is not an event type"),
        ));
    }
    let mut types = types;
    types.sort();
    types.dedup();
    Ok(types)
}

/// A description: running text of at most [`MAX_DESCRIPTION`] characters,
/// under the text rules every other field has.
fn description(text: Option<String>) -> Result<Option<String>, ApiError> {
    if let Some(d) = &text {
        events::text::running(d, MAX_DESCRIPTION)
            .map_err(|e| ApiError::invalid("description", e.to_string()))?;
    }
    Ok(text)
}

fn url(state: &AppState, text: Option<String>) -> Result<String, ApiError> {
    let text = text.ok_or_else(|| ApiError::invalid("url", "is required"))?;
    crate::webhooks::target::check_url(&text, state.webhooks.config.allow_private_networks)
        .map(|_| text)
        .map_err(|reason| ApiError::invalid("url", reason))
}

/// The subscription, if the caller may see and change it: an admin, or
/// its owner while they still host its meeting (404 otherwise, so ids of
/// others' subscriptions are not confirmed). The caller's subscriptions
/// take the roles of their token first.
async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<Subscription, ApiError> {
    keep_roles(state, caller).await?;
    let subscription = store::get(&state.webhooks.pool, id)
        .await?
        .ok_or(ApiError::WebhookNotFound)?;
    if !owner::manages(&state.commands, caller, &subscription).await? {
        return Err(ApiError::WebhookNotFound);
    }
    Ok(subscription)
}

/// The caller's subscriptions carry the roles of the caller's token from
/// now on (deliveries take them within a second).
async fn keep_roles(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let changed =
        store::set_owner_roles(&state.webhooks.pool, caller.user_id.as_str(), &caller.roles)
            .await?;
    if changed > 0 {
        state.webhooks.changed();
    }
    Ok(())
}

/// `POST /api/v1/webhooks`.
#[utoipa::path(
    post,
    operation_id = "create_webhook",
    path = "/webhooks",
    tag = "webhooks",
    request_body = CreateBody,
    responses(
        (status = 201, description = "Subscribed; the only answer but rotation's that shows the secret", body = WebhookView),
        (status = 403, description = "INSUFFICIENT_PERMISSION: not an admin, nor the meeting's host", body = super::openapi::ErrorBody),
        (status = 404, description = "MEETING_NOT_FOUND", body = super::openapi::ErrorBody),
    )
)]
pub async fn create(
    AuthUser(caller): AuthUser,
    State(state): State<AppState>,
    body: Result<JsonBody<CreateBody>, ApiError>,
) -> Result<Response, ApiError> {
    let JsonBody(body) = body?;
    let url = url(&state, body.url)?;
    let event_types = event_types(body.event_types)?;
    let description = description(body.description)?;
    let meeting = match body.meeting_id.as_deref() {
        Some(reference) => Some(state.commands.resolve(reference).await?),
        None => None,
    };
    if !caller.is_admin() {
        let Some(meeting) = meeting else {
            return Err(ApiError::Forbidden(
                "only admins subscribe to every meeting; name your meeting",
            ));
        };
        let hosts = state
            .commands
            .inspect(meeting, |m| m.map(|m| m.host_id == caller.user_id))
            .await?
            .ok_or(ApiError::App(command::AppError::NotFound))?;
        if !hosts {
            return Err(ApiError::Forbidden(
                "only the meeting's host subscribes to it",
            ));
        }
    }
    let now = Utc::now();
    let subscription = Subscription {
        id: uuid::Uuid::now_v7().to_string(),
        url,
        event_types,
        meeting_id: meeting.map(|m| m.to_string()),
        description,
        owner_id: caller.user_id.as_str().to_owned(),
        owner_roles: caller.roles.clone(),
        enabled: true,
        disabled_reason: None,
        secret: crate::webhooks::sign::new_secret(),
        previous_secret: None,
        previous_until: None,
        created_at: now,
        updated_at: now,
        // From what is committed after the subscription.
        position: state.head().await?,
        epoch: 0,
        attempts: 0,
        next_attempt_at: None,
    };
    store::insert(&state.webhooks.pool, &subscription).await?;
    state.webhooks.changed();
    Ok((
        StatusCode::CREATED,
        axum::Json(WebhookView::of(subscription, true)),
    )
        .into_response())
}

/// `GET /api/v1/webhooks`: the caller's subscriptions they still manage
/// (an admin's: all).
#[utoipa::path(
    get,
    operation_id = "list_webhooks",
    path = "/webhooks",
    tag = "webhooks",
    responses((status = 200, description = "Subscriptions, oldest first", body = WebhookList))
)]
pub async fn list(
    AuthUser(caller): AuthUser,
    State(state): State<AppState>,
) -> Result<axum::Json<WebhookList>, ApiError> {
    keep_roles(&state, &caller).await?;
    let owner = (!caller.is_admin()).then(|| caller.user_id.as_str());
    let mut webhooks = Vec::new();
    for subscription in store::list(&state.webhooks.pool, owner).await? {
        if owner::manages(&state.commands, &caller, &subscription).await? {
            webhooks.push(WebhookView::of(subscription, false));
        }
    }
    Ok(axum::Json(WebhookList { webhooks }))
}

/// `GET /api/v1/webhooks/{id}`.
#[utoipa::path(
    get,
    operation_id = "get_webhook",
    path = "/webhooks/{id}",
    tag = "webhooks",
    params(WebhookPath),
    responses(
        (status = 200, description = "The subscription", body = WebhookView),
        (status = 404, description = "WEBHOOK_NOT_FOUND", body = super::openapi::ErrorBody),
    )
)]
pub async fn get(
    AuthUser(caller): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    let subscription = owned(&state, &caller, &id).await?;
    Ok(axum::Json(WebhookView::of(subscription, false)))
}

/// `PATCH /api/v1/webhooks/{id}`: `url`, `event_types`, `enabled`,
/// `description`.
#[utoipa::path(
    patch,
    operation_id = "update_webhook",
    path = "/webhooks/{id}",
    tag = "webhooks",
    params(WebhookPath),
    request_body = PatchBody,
    responses(
        (status = 200, description = "The subscription as changed", body = WebhookView),
        (status = 404, description = "WEBHOOK_NOT_FOUND", body = super::openapi::ErrorBody),
    )
)]
pub async fn patch(
    AuthUser(caller): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<JsonBody<PatchBody>, ApiError>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    let JsonBody(body) = body?;
    let mut subscription = owned(&state, &caller, &id).await?;
    if body.url.is_some() {
        subscription.url = url(&state, body.url)?;
    }
    if body.event_types.is_some() {
        subscription.event_types = event_types(body.event_types)?;
    }
    if body.description.is_some() {
        subscription.description = description(body.description)?;
    }
    if let Some(enabled) = body.enabled {
        subscription.enabled = enabled;
        if enabled {
            subscription.disabled_reason = None;
        }
    }
    subscription.updated_at = Utc::now();
    store::update(&state.webhooks.pool, &subscription).await?;
    state.webhooks.changed();
    Ok(axum::Json(WebhookView::of(subscription, false)))
}

/// `DELETE /api/v1/webhooks/{id}`: no more deliveries; its log goes too.
#[utoipa::path(
    delete,
    operation_id = "delete_webhook",
    path = "/webhooks/{id}",
    tag = "webhooks",
    params(WebhookPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "WEBHOOK_NOT_FOUND", body = super::openapi::ErrorBody),
    )
)]
pub async fn delete(
    AuthUser(caller): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    owned(&state, &caller, &id).await?;
    store::delete(&state.webhooks.pool, &id).await?;
    state.webhooks.changed();
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/webhooks/{id}/rotate-secret`: a new secret; the old one
/// signs beside it for 24 hours.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    params(WebhookPath),
    responses(
        (status = 200, description = "The subscription with its new secret", body = WebhookView),
        (status = 404, description = "WEBHOOK_NOT_FOUND", body = super::openapi::ErrorBody),
    )
)]
pub async fn rotate_secret(
    AuthUser(caller): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    let mut subscription = owned(&state, &caller, &id).await?;
    subscription.secret = crate::webhooks::sign::new_secret();
    subscription.updated_at = Utc::now();
    store::rotate(
        &state.webhooks.pool,
        &id,
        &subscription.secret,
        subscription.updated_at + ROTATION_GRACE,
    )
    .await?;
    state.webhooks.changed();
    Ok(axum::Json(WebhookView::of(subscription, true)))
}

/// `GET /api/v1/webhooks/{id}/deliveries`: every attempt, oldest first.
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(WebhookPath, DeliveriesParams),
    responses(
        (status = 200, description = "Attempts with their time, answer, latency and error", body = DeliveryPage),
        (status = 404, description = "WEBHOOK_NOT_FOUND", body = super::openapi::ErrorBody),
    )
)]
pub async fn deliveries(
    AuthUser(caller): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    params: Result<Query<DeliveriesParams>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<DeliveryPage>, ApiError> {
    let params = query_of(params)?;
    owned(&state, &caller, &id).await?;
    at_least("after", params.after, 0)?;
    let after = params.after.unwrap_or(0);
    let limit = params.limit.unwrap_or(100);
    if !(1..=MAX_DELIVERIES).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be 1 to {MAX_DELIVERIES}"),
        ));
    }
    let status = params.status.map(|s| match s {
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Failed => "failed",
    });
    let deliveries = store::deliveries(&state.webhooks.pool, &id, status, after, limit).await?;
    let next_after = deliveries.last().map_or(after, |d| d.seq);
    Ok(axum::Json(DeliveryPage {
        deliveries,
        next_after,
    }))
}

/// `POST /api/v1/webhooks/{id}/replay`: delivers again every event after
/// `after_position` (with the ids they had), then goes on.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/replay",
    tag = "webhooks",
    params(WebhookPath),
    request_body = ReplayBody,
    responses(
        (status = 202, description = "Replaying from there", body = WebhookView),
        (status = 404, description = "WEBHOOK_NOT_FOUND", body = super::openapi::ErrorBody),
    )
)]
pub async fn replay(
    AuthUser(caller): AuthUser,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<JsonBody<ReplayBody>, ApiError>,
) -> Result<Response, ApiError> {
    let JsonBody(body) = body?;
    let mut subscription = owned(&state, &caller, &id).await?;
    at_least("after_position", body.after_position, 0)?;
    let after = body
        .after_position
        .ok_or_else(|| ApiError::invalid("after_position", "is required"))?;
    let head = state.head().await?;
    if after > head {
        // Nothing was ever at such a position: the subscription would
        // wait, silent, for the log to reach it.
        return Err(ApiError::invalid(
            "after_position",
            format!("is beyond the log's head ({head})"),
        ));
    }
    store::replay(&state.webhooks.pool, &id, after).await?;
    state.webhooks.changed();
    subscription.position = after;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(WebhookView::of(subscription, false)),
    )
        .into_response())
}
