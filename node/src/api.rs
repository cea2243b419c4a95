//! The node's local HTTP API (axum): health, metrics, the day's queue, kiosk and desk
//! actions, and the display's server-sent-event feed.
//!
//! Bad requests get a 4xx status with a JSON body `{"error": "...", "kind": "..."}`
//! that says what is wrong; nothing a client sends can panic the node.

use std::convert::Infallible;
use std::sync::Arc;

use aufruf_hardware::Language;
use aufruf_model::{ActionError, DeskId, ServiceId, TicketId, Transfer};
use aufruf_office::office_doc::{self, ConfigRefusal, SignedConfig};
use aufruf_office::{DeskAction, DeskService, KioskService, OfficeError, ServiceError, Wish};
use aufruf_sync::CatchUp;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures_util::{Stream, StreamExt as _};
use serde::Deserialize;
use serde_json::json;
use tokio_stream::wrappers::WatchStream;

use crate::replica::NodeReplica;
use crate::state::{NodeState, Services, wall_clock};

/// The API's routes over a node's state.
pub fn router(state: Arc<NodeState>) -> Router {
    let guard = Arc::new(crate::guard::Guard::new(
        state.settings.api_token.clone(),
        state.settings.tickets_per_minute,
    ));
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/day", get(day))
        .route("/api/kiosk", get(kiosk_view))
        .route("/api/tickets", post(draw_ticket))
        .route("/api/tickets/{id}", get(ticket))
        .route("/api/status/{token}", get(status))
        .route("/api/check-in", post(check_in))
        .route("/api/desks/{desk}", get(desk))
        .route("/api/desks/{desk}/{action}", post(desk_action))
        .route("/api/display", get(display))
        .route("/api/display/feed", get(display_feed))
        .route("/api/portal/backup", post(portal_backup))
        .route("/api/portal/admins", get(portal_admins).post(invite_admin))
        .route("/api/portal/admins/remove", post(remove_admin))
        .route(
            "/api/office/config",
            get(office_config)
                .post(publish_config)
                .layer(DefaultBodyLimit::max(CONFIG_BODY_LIMIT)),
        )
        .route("/api/office/documents", get(held_documents))
        .route(
            "/api/office/revoke",
            post(revoke).layer(DefaultBodyLimit::max(REVOCATION_BODY_LIMIT)),
        )
        // Bounded by `take_in` itself: a bundle is far past the default body limit.
        .route(
            "/api/updates",
            put(upload_update).layer(DefaultBodyLimit::disable()),
        )
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            guard,
            crate::guard::check,
        ));
    // The published updates are for every device of the office, without the token:
    // they are signed, and each device checks them.
    let updates = state
        .settings
        .updates
        .as_ref()
        .map(|updates| updates.dir.clone());
    let app = app.with_state(state);
    match updates {
        Some(dir) => app.merge(crate::update::source::router(dir)),
        None => app,
    }
}

/// The largest body `POST /api/office/config` reads: a configuration at its limit,
/// hex-encoded signature and JSON quoting included.
const CONFIG_BODY_LIMIT: usize = 2 * office_doc::MAX_CONFIG_BYTES;
/// The largest body `POST /api/office/revoke` reads: a revocation at its limit, in
/// a JSON string (quotes escaped), with its signature.
const REVOCATION_BODY_LIMIT: usize = 2 * office_doc::MAX_REVOCATION_BYTES;

/// How often an idle display feed sends a comment.
const FEED_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(3);

/// An error as the API answers it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn bad(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.message, "kind": self.kind }));
        (self.status, body).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let message = e.to_string();
        let (status, kind) = match &e {
            ServiceError::Office(OfficeError::Action(a)) => action_status(a),
            ServiceError::UnknownService(_) => (StatusCode::NOT_FOUND, "unknown_service"),
            ServiceError::NotThisDesk { .. } => (StatusCode::FORBIDDEN, "not_this_desk"),
            ServiceError::Closed { .. } => (StatusCode::CONFLICT, "closed"),
            ServiceError::NoMoreToday { .. } => (StatusCode::CONFLICT, "no_more_today"),
            ServiceError::TooEarly { .. } => (StatusCode::CONFLICT, "too_early"),
            ServiceError::ConfigRefused(refusal) => config_status(refusal),
            ServiceError::ClockWrong(_) => (StatusCode::SERVICE_UNAVAILABLE, "clock_wrong"),
            ServiceError::RevocationRefused => (StatusCode::FORBIDDEN, "not_signed"),
            ServiceError::Office(OfficeError::NotAuthorised(_) | OfficeError::NotCertified) => {
                (StatusCode::FORBIDDEN, "not_authorised")
            }
            ServiceError::Office(OfficeError::CertificateEnded(_)) => {
                (StatusCode::FORBIDDEN, "certificate_ended")
            }
            ServiceError::Office(OfficeError::Store(_)) => {
                (StatusCode::SERVICE_UNAVAILABLE, "not_stored")
            }
            ServiceError::Office(OfficeError::CatchingUp) => {
                return ApiError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    kind: "catching_up",
                    message: catching_up_message(),
                };
            }
            ServiceError::Office(_) | ServiceError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        if status.is_server_error() {
            tracing::error!(error = %message, "request failed");
        }
        ApiError {
            status,
            kind,
            message,
        }
    }
}

/// This node is not of the role an endpoint needs.
fn wrong_role(state: &NodeState, what: &str, needs: &str) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        kind: "wrong_role",
        message: format!(
            "this node is a {}; {what} needs a {needs}",
            state.role().name()
        ),
    }
}

fn kiosk(state: &NodeState, what: &str) -> Result<KioskService<NodeReplica>, ApiError> {
    match &state.services {
        Services::Kiosk(kiosk) => Ok(kiosk.clone()),
        _ => Err(wrong_role(state, what, "kiosk")),
    }
}

fn desk_service(state: &NodeState, what: &str) -> Result<DeskService<NodeReplica>, ApiError> {
    match &state.services {
        Services::Desk(desk) => Ok(desk.clone()),
        _ => Err(wrong_role(state, what, "desk terminal")),
    }
}

fn config_status(refusal: &ConfigRefusal) -> (StatusCode, &'static str) {
    use ConfigRefusal as R;
    match refusal {
        R::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        R::Unreadable(_) => (StatusCode::BAD_REQUEST, "unreadable"),
        R::NotSigned => (StatusCode::FORBIDDEN, "not_signed"),
        R::NotDelegated | R::DelegatedToAnother(_) => (StatusCode::FORBIDDEN, "not_delegated"),
        R::DelegateRevoked(_) => (StatusCode::FORBIDDEN, "delegate_revoked"),
        R::OtherOffice { .. } => (StatusCode::CONFLICT, "other_office"),
        R::NewerFormat { .. } => (StatusCode::CONFLICT, "newer_format"),
        R::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_config"),
        R::NotNewer { .. } => (StatusCode::CONFLICT, "not_newer"),
    }
}

fn action_status(e: &ActionError) -> (StatusCode, &'static str) {
    use ActionError as A;
    match e {
        A::UnknownTicket(_) => (StatusCode::NOT_FOUND, "unknown_ticket"),
        A::UnknownDesk(_) => (StatusCode::NOT_FOUND, "unknown_desk"),
        A::UnknownService(_) => (StatusCode::NOT_FOUND, "unknown_service"),
        A::UnknownBooking(_) => (StatusCode::NOT_FOUND, "unknown_booking"),
        A::AlreadyCheckedIn { .. } => (StatusCode::CONFLICT, "already_checked_in"),
        A::DeskDoesNotServe { .. } => (StatusCode::CONFLICT, "desk_does_not_serve"),
        A::DeskNotOpen(_) => (StatusCode::CONFLICT, "desk_not_open"),
        A::DeskBusy { .. } => (StatusCode::CONFLICT, "desk_busy"),
        A::NoCurrentVisitor(_) => (StatusCode::CONFLICT, "no_current_visitor"),
        A::NobodyWaiting(_) => (StatusCode::CONFLICT, "nobody_waiting"),
        A::Refused { .. } => (StatusCode::CONFLICT, "refused"),
        A::NoNumberBlock(_) | A::NumbersExhausted(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "no_numbers")
        }
        // A forged event at the end of time: the ticket or desk takes nothing more.
        A::StaleStamp { .. } => (StatusCode::CONFLICT, "no_later_stamp"),
    }
}

/// Runs blocking node work (locks, disk flushes) off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal",
            message: format!("worker failed: {e}"),
        })?
        .map_err(ApiError::from)
}

/// A JSON body, or a JSON error saying what is wrong with it.
fn body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                kind: "too_large",
                message: e.body_text(),
            }
        } else {
            ApiError::bad("bad_body", e.body_text())
        }
    })
}

async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "not_found",
        message: "no such endpoint; see /health, /metrics, /api/day, /api/tickets, \
                  /api/check-in, /api/desks/{desk}, /api/display, /api/office/config, \
                  /api/office/revoke"
            .into(),
    }
}

/// `PUT /api/updates`: a signed update bundle, published to the office's devices
/// (`[node.updates]`; `aufruf update upload`).
async fn upload_update(
    State(state): State<Arc<NodeState>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    use crate::update::source::{self, TakeError};
    let Some(updates) = &state.settings.updates else {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "no_updates",
            message: "this node publishes no updates (it has no [node.updates] table)".into(),
        });
    };
    let announced = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    let limits = source::Limits::default();
    match source::take_in(updates, body, announced, &limits).await {
        Ok(version) => {
            tracing::info!("update {version} published to the office's devices");
            Ok(Json(json!({ "version": version })))
        }
        Err(e) => {
            let (status, kind) = match &e {
                TakeError::Busy => (StatusCode::CONFLICT, "busy"),
                TakeError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
                TakeError::Broken(_) => (StatusCode::BAD_REQUEST, "broken"),
                TakeError::Update(crate::update::UpdateError::Io { .. }) => {
                    tracing::error!("taking an update in: {e}");
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
                TakeError::Update(_) => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
            };
            Err(ApiError {
                status,
                kind,
                message: e.to_string(),
            })
        }
    }
}

/// Why a device with a new store waits, for `/health` and refused requests.
fn catching_up_message() -> String {
    format!(
        "{}; if it is the office's only device, start it with `aufruf run --only-device`",
        OfficeError::CatchingUp
    )
}

/// The appliance image this node runs in, read once.
fn image_version() -> Option<&'static str> {
    static IMAGE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    IMAGE
        .get_or_init(|| {
            std::fs::read_to_string("/etc/os-release")
                .ok()
                .as_deref()
                .and_then(crate::update::source::booted_version)
        })
        .as_deref()
}

async fn health(State(state): State<Arc<NodeState>>) -> Json<serde_json::Value> {
    let peers: Vec<String> = state
        .replica
        .peers()
        .iter()
        .map(|p| p.node.to_string())
        .collect();
    let clock = state.office().clock_check();
    let catch_up = state.replica.catch_up();
    let caught_up = match &catch_up {
        CatchUp::Pending => json!({ "state": "pending" }),
        CatchUp::FromPeer(peer) => json!({ "state": "from_peer", "peer": peer }),
        CatchUp::OnlyDevice => json!({ "state": "only_device" }),
        CatchUp::Established => json!({ "state": "established" }),
    };
    Json(json!({
        // A device whose new store has not caught up issues and calls nothing.
        "status": if catch_up.is_pending() {
            "catching_up"
        } else if clock.is_wrong() {
            "clock_wrong"
        } else {
            "ok"
        },
        "catching_up": catch_up.is_pending().then(catching_up_message),
        "store": {
            "incarnation": state.replica.incarnation().to_string(),
            "catch_up": caught_up,
        },
        "node": state.settings.id,
        "role": state.role().name(),
        "version": env!("CARGO_PKG_VERSION"),
        // The appliance image's version (`IMAGE_VERSION` in /etc/os-release); null
        // off the appliance.
        "image": image_version(),
        "office": state.config().office.id,
        "peers": peers,
        // Changes received from peers and not yet on disk (flushed within 1 s).
        "unflushed_received": state.replica.has_unflushed_received(),
        // This node's wall clock against its peers': when most of them are more
        // than the bound off, it issues and calls nothing until it is set right.
        "clock_skew": clock.is_wrong(),
        "clock": {
            "ahead_seconds": clock.ahead_ms.map(|ms| ms as f64 / 1000.0),
            "peers_compared": clock.compared,
            "peers_off": clock.off,
            "bound_seconds": clock.bound_ms / 1000,
            "says": clock.to_string(),
        },
    }))
}

async fn metrics(State(state): State<Arc<NodeState>>) -> Result<Response, ApiError> {
    let text = blocking(move || Ok(state.metrics_text())).await?;
    Ok((
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response())
}

async fn day(State(state): State<Arc<NodeState>>) -> Result<Response, ApiError> {
    let view = blocking(move || state.office().day_view(wall_clock())).await?;
    Ok(Json(view).into_response())
}

async fn ticket(
    State(state): State<Arc<NodeState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let ticket = parse_ticket(&id)?;
    let view = blocking(move || state.office().ticket_view(wall_clock(), &ticket)).await?;
    match view {
        Some(view) => Ok(Json(view).into_response()),
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "unknown_ticket",
            message: format!("there is no ticket {id} today"),
        }),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrawTicket {
    service: String,
    /// `paper` or `qr`.
    #[serde(default = "qr")]
    kind: String,
    #[serde(default)]
    language: Option<String>,
}

fn qr() -> String {
    "qr".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckIn {
    code: String,
    #[serde(default = "qr")]
    kind: String,
    #[serde(default)]
    language: Option<String>,
}

fn wish_and_language(kind: &str, language: Option<&str>) -> Result<(Wish, Language), ApiError> {
    let wish = match kind {
        "paper" => Wish::Paper,
        "qr" => Wish::Qr,
        other => {
            return Err(ApiError::bad(
                "bad_kind",
                format!("kind must be \"paper\" or \"qr\", not \"{other}\""),
            ));
        }
    };
    let language = match language.unwrap_or("de") {
        "de" => Language::De,
        "en" => Language::En,
        other => {
            return Err(ApiError::bad(
                "bad_language",
                format!("language must be \"de\" or \"en\", not \"{other}\""),
            ));
        }
    };
    Ok((wish, language))
}

async fn kiosk_view(State(state): State<Arc<NodeState>>) -> Result<Response, ApiError> {
    let kiosk = kiosk(&state, "the kiosk's screen")?;
    Ok(Json(kiosk.view(wall_clock())).into_response())
}

/// Which configuration this node runs on.
async fn office_config(State(state): State<Arc<NodeState>>) -> Json<serde_json::Value> {
    let status = state.office().config_status();
    Json(json!({
        "office": state.config().office.id,
        "revision": status.revision,
        "format": office_doc::CONFIG_FORMAT,
        "refused": status.refused,
    }))
}

/// Publishes an administrator's signed configuration to the office (`aufruf config
/// apply`). The signature is the authority, checked here and by every peer.
async fn publish_config(
    State(state): State<Arc<NodeState>>,
    request: Result<Json<SignedConfig>, JsonRejection>,
) -> Result<Response, ApiError> {
    let signed = body(request)?;
    let office = state.office().clone();
    let revision = blocking(move || office.publish_config(wall_clock(), &signed)).await?;
    tracing::info!(revision, "the office's configuration was published here");
    Ok(Json(json!({ "revision": revision })).into_response())
}

/// The office's day documents as this node holds them (names and heads), for the
/// administrator's revocation to name (`aufruf office revoke`).
async fn held_documents(
    State(state): State<Arc<NodeState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let office = state.office().clone();
    let documents = blocking(move || Ok::<_, ServiceError>(office.held_documents())).await?;
    Ok(Json(json!({ "documents": documents })))
}

/// Revokes a node on the administrator's signed word (`aufruf office revoke`).
async fn revoke(
    State(state): State<Arc<NodeState>>,
    request: Result<Json<office_doc::SignedRevocation>, JsonRejection>,
) -> Result<Response, ApiError> {
    let signed = body(request)?;
    let office = state.office().clone();
    let revocation = blocking(move || office.revoke(wall_clock(), &signed)).await?;
    tracing::warn!(node = %revocation.node, from_ms = revocation.from_ms, "a node was revoked here");
    Ok(Json(json!({ "node": revocation.node, "from_ms": revocation.from_ms })).into_response())
}

async fn draw_ticket(
    State(state): State<Arc<NodeState>>,
    request: Result<Json<DrawTicket>, JsonRejection>,
) -> Result<Response, ApiError> {
    let kiosk = kiosk(&state, "drawing a ticket")?;
    let request = body(request)?;
    let (wish, language) = wish_and_language(&request.kind, request.language.as_deref())?;
    let service = ServiceId::new(request.service);
    let issued =
        blocking(move || kiosk.draw_ticket(wall_clock(), &service, wish, language)).await?;
    Ok((StatusCode::CREATED, Json(issued)).into_response())
}

/// A ticket by its status token (what its status page shows). Unknown, malformed
/// and other days' tokens get the same answer.
async fn status(
    State(state): State<Arc<NodeState>>,
    Path(token): Path<String>,
) -> Result<Response, ApiError> {
    let office = state.office().clone();
    let found = blocking(move || office.ticket_by_status_token(wall_clock(), &token)).await?;
    match found {
        Some(ticket) => Ok(Json(ticket).into_response()),
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "unknown_ticket",
            message: "no ticket of today has this status token".into(),
        }),
    }
}

/// An encrypted snapshot of the portal's store (`aufruf backup` asks for it).
async fn portal_backup(State(state): State<Arc<NodeState>>) -> Result<Response, ApiError> {
    let portal = state.portal.get().cloned().ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "no_portal",
        message: "this node serves no citizen portal".into(),
    })?;
    let bytes = tokio::task::spawn_blocking(move || portal.backup())
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "backup_failed",
            message: e.to_string(),
        })?
        .map_err(|e| ApiError {
            status: StatusCode::CONFLICT,
            kind: "backup_refused",
            message: e.to_string(),
        })?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    )
        .into_response())
}

/// The portal this node serves, or why none.
fn portal_of(state: &NodeState) -> Result<Arc<aufruf_portal::Portal>, ApiError> {
    state.portal.get().cloned().ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "no_portal",
        message: "this node serves no citizen portal".into(),
    })
}

/// Runs blocking work of the portal (its store flushes) off the runtime.
async fn portal_call<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, aufruf_portal::PortalError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal",
            message: e.to_string(),
        })?
        .map_err(|e| ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "portal_failed",
            message: e.to_string(),
        })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminAddress {
    email: String,
}

fn admin_address(request: Result<Json<AdminAddress>, JsonRejection>) -> Result<String, ApiError> {
    let request = body(request)?;
    aufruf_portal::accounts::email(&request.email).map_err(|_| {
        ApiError::bad(
            "bad_email",
            format!(
                "\"{}\" is not an e-mail address",
                request.email.chars().take(254).collect::<String>()
            ),
        )
    })
}

/// `aufruf admin invite`: the set-up link for a new admin of the portal's pages.
async fn invite_admin(
    State(state): State<Arc<NodeState>>,
    request: Result<Json<AdminAddress>, JsonRejection>,
) -> Result<Response, ApiError> {
    let portal = portal_of(&state)?;
    let email = admin_address(request)?;
    let link = portal_call(move || portal.invite_admin(&email)).await?;
    Ok(Json(serde_json::json!({
        "link": link,
        "valid_hours": aufruf_portal::admins::INVITATION_HOURS,
    }))
    .into_response())
}

/// `aufruf admin list`: every admin's address.
async fn portal_admins(State(state): State<Arc<NodeState>>) -> Result<Response, ApiError> {
    let portal = portal_of(&state)?;
    let admins = portal_call(move || Ok(portal.store.admins()?)).await?;
    Ok(Json(serde_json::json!({ "admins": admins })).into_response())
}

/// `aufruf admin remove`: the admin, their sessions and invitations go.
async fn remove_admin(
    State(state): State<Arc<NodeState>>,
    request: Result<Json<AdminAddress>, JsonRejection>,
) -> Result<Response, ApiError> {
    let portal = portal_of(&state)?;
    let email = admin_address(request)?;
    let removed = portal_call(move || Ok(portal.store.remove_admin(&email)?)).await?;
    Ok(Json(serde_json::json!({ "removed": removed })).into_response())
}

async fn check_in(
    State(state): State<Arc<NodeState>>,
    request: Result<Json<CheckIn>, JsonRejection>,
) -> Result<Response, ApiError> {
    let kiosk = kiosk(&state, "checking in")?;
    let request = body(request)?;
    let (wish, language) = wish_and_language(&request.kind, request.language.as_deref())?;
    let issued =
        blocking(move || kiosk.check_in(wall_clock(), &request.code, wish, language)).await?;
    Ok((StatusCode::CREATED, Json(issued)).into_response())
}

async fn desk(
    State(state): State<Arc<NodeState>>,
    Path(desk): Path<String>,
) -> Result<Response, ApiError> {
    let desk = DeskId::new(desk);
    match &state.services {
        Services::Desk(service) => {
            service.check_desk(&desk)?;
            Ok(Json(service.view(wall_clock())?).into_response())
        }
        // Any node can tell how a desk stands; only the desk's terminal acts for it.
        _ => {
            let view = state
                .office()
                .desk_view(wall_clock(), &desk)
                .ok_or_else(|| {
                    ApiError::from(ServiceError::from(ActionError::UnknownDesk(desk)))
                })?;
            Ok(Json(view).into_response())
        }
    }
}

/// Optional details of a desk action.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeskRequest {
    #[serde(default)]
    services: Vec<String>,
    ticket: Option<String>,
    to_service: Option<String>,
    to_desk: Option<String>,
}

async fn desk_action(
    State(state): State<Arc<NodeState>>,
    Path((desk, action)): Path<(String, String)>,
    request: Option<Json<serde_json::Value>>,
) -> Result<Response, ApiError> {
    let service = desk_service(&state, "a desk action")?;
    let details: DeskRequest = match request {
        None => DeskRequest::default(),
        Some(Json(value)) => {
            serde_json::from_value(value).map_err(|e| ApiError::bad("bad_body", e.to_string()))?
        }
    };
    let ticket = |details: &DeskRequest| -> Result<TicketId, ApiError> {
        let id = details
            .ticket
            .as_deref()
            .ok_or_else(|| ApiError::bad("missing_ticket", format!("{action} needs \"ticket\"")))?;
        parse_ticket(id)
    };
    let action = match action.as_str() {
        "open" => DeskAction::Open {
            services: details
                .services
                .iter()
                .map(|s| ServiceId::new(s.as_str()))
                .collect(),
        },
        "close" => DeskAction::Close,
        "pause" => DeskAction::Pause,
        "resume" => DeskAction::Resume,
        "call-next" => DeskAction::CallNext,
        "call" => DeskAction::Call {
            ticket: ticket(&details)?,
        },
        "recall" => DeskAction::Recall,
        "serving" => DeskAction::Serving,
        "transfer" => DeskAction::Transfer {
            to: match (&details.to_service, &details.to_desk) {
                (Some(s), None) => Transfer::Service(ServiceId::new(s.as_str())),
                (None, Some(d)) => Transfer::Desk(DeskId::new(d.as_str())),
                _ => {
                    return Err(ApiError::bad(
                        "bad_transfer",
                        "transfer needs exactly one of \"to_service\" and \"to_desk\"",
                    ));
                }
            },
        },
        "park" => DeskAction::Park,
        "return" => DeskAction::Return {
            ticket: ticket(&details)?,
        },
        "no-show" => DeskAction::NoShow,
        "done" => DeskAction::Done,
        other => {
            return Err(ApiError {
                status: StatusCode::NOT_FOUND,
                kind: "unknown_action",
                message: format!(
                    "unknown desk action \"{other}\"; one of open, close, pause, resume, \
                     call-next, call, recall, serving, transfer, park, return, no-show, done"
                ),
            });
        }
    };
    service.check_desk(&DeskId::new(desk))?;
    let view = blocking(move || service.act(wall_clock(), action)).await?;
    Ok(Json(view).into_response())
}

async fn display(State(state): State<Arc<NodeState>>) -> Response {
    Json(&*state.office().display_view()).into_response()
}

async fn display_feed(
    State(state): State<Arc<NodeState>>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let place = state.display_feed_place().ok_or_else(|| ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        kind: "too_many_feeds",
        message: "every display feed place is taken; try again later".into(),
    })?;
    let mut stopping = state.stopping();
    let stream = WatchStream::new(state.office().subscribe_display())
        .map(|view| {
            let event = SseEvent::default().event("display");
            Ok(event
                .json_data(&*view)
                .unwrap_or_else(|_| SseEvent::default().comment("unencodable")))
        })
        // The feed ends when the node shuts down, so the server can stop.
        .take_until(async move {
            let _ = stopping.wait_for(|s| *s).await;
        })
        // The place is given back when the feed ends (or its client goes).
        .map(move |event| {
            let _held = &place;
            event
        });
    // A comment every few seconds keeps proxies from closing the feed and lets the
    // server notice a display that went away (its place is then free again).
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(FEED_KEEP_ALIVE)))
}

/// `kiosk-1~7f3a9c21/17`, or `kiosk-1~7f3a9c21-17` (which fits a URL's path), as a
/// ticket id.
fn parse_ticket(text: &str) -> Result<TicketId, ApiError> {
    TicketId::parse_with(text, '/')
        .or_else(|_| TicketId::parse_with(text, '-'))
        .map_err(|_| {
            ApiError::bad(
                "bad_ticket",
                format!("\"{text}\" is not a ticket id like kiosk-1~7f3a9c21-17"),
            )
        })
}
