//! The HTTP edge: router, layers, envelope, errors and one module per resource.

mod auth;
pub mod connection;
mod custom_certificates;
mod custom_csrs;
mod custom_hostnames;
pub mod envelope;
pub mod error;
pub mod extract;
mod fallback_origin;
pub mod limits;
pub(crate) mod observe;
pub mod openapi;
mod rate_limit;
mod san;
mod test_controls;
mod uploads;

use axum::extract::{OriginalUri, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Router, middleware};
use tower_http::catch_panic::CatchPanicLayer;

use crate::app::AppState;
use error::{ApiError, code};

/// Largest request body accepted; a CSR request is a few hundred bytes. A larger
/// `Content-Length` is refused before the body is read ([`limits::guard`]).
pub const BODY_LIMIT: usize = 256 * 1024;

/// The whole API. Used by `serve` and, through `tower::ServiceExt::oneshot`, by the tests.
pub fn router(state: AppState) -> Router {
    // Tests build routers without `run`; the recorder must exist before the first request.
    observe::install_metrics_recorder();
    let api = Router::new()
        .merge(custom_csrs::routes())
        .merge(custom_hostnames::routes())
        .merge(fallback_origin::routes())
        .merge(custom_certificates::routes())
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_credentials,
        ));
    let mut router = Router::new().nest("/client/v4", api);
    // Absent unless enabled, so without `--test-controls` these paths are unknown like any other.
    if state.test_controls {
        let controls = test_controls::routes()
            .method_not_allowed_fallback(method_not_allowed)
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                auth::require_credentials,
            ));
        router = router.nest("/_edgecert", controls);
    }
    router
        // The API description and its reference page: public, like Cloudflare's own.
        .route(
            "/client/v4/openapi.json",
            axum::routing::get(openapi::openapi_json),
        )
        .route("/docs", axum::routing::get(openapi::docs))
        // Probes for orchestrators: no credentials, outside the Cloudflare API paths.
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        // Metrics name routes and volumes, so on the API listener they need an API token;
        // `--metrics-listen` serves them without one on an address of the operator's choice.
        .route(
            "/metrics",
            axum::routing::get(observe::metrics).route_layer(middleware::from_fn_with_state(
                state.clone(),
                auth::require_credentials,
            )),
        )
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal("a request handler panicked").into_response()
        }))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            run_to_completion,
        ))
        // Outside the request's own task, so a body still arriving holds no handler, and
        // inside `observe`, so what it refuses is logged and counted.
        .layer(middleware::from_fn(limits::guard))
        // Outermost, so it sees every answer, a caught panic's 500 included. It logs the route,
        // path and outcome only: never headers (credentials), query strings or bodies.
        .layer(middleware::from_fn(observe::observe))
        .with_state(state)
}

/// Runs the rest of the request in its own task, so a client that disconnects does not cancel
/// the handler half-way. A cancelled handler could drop a database transaction while it is
/// being opened (sqlx cannot always roll back then) and leave its connection holding SQLite's
/// write lock; finished instead, a write commits or fails as a whole.
/// The task is counted in [`AppState::in_flight`] until it ends.
async fn run_to_completion(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: middleware::Next,
) -> Response {
    use tracing::Instrument as _;
    let running = state.in_flight.enter();
    // The task carries the request's span, so what the handler logs keeps the request id.
    let task = async move {
        let _running = running;
        next.run(request).await
    };
    match tokio::spawn(task.in_current_span()).await {
        Ok(response) => response,
        Err(error) => {
            ApiError::internal(format_args!("request task failed: {error}")).into_response()
        }
    }
}

/// RFC 3339 in UTC with a `Z`, as the API and the SDKs' datetime parsing expect.
fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// The process is up and serving requests.
async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "status": "ok" }))
}

/// Ready for traffic: database reachable, migrations applied, key store usable. 503 otherwise,
/// with each check's outcome (never a secret).
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let checks = state.readiness().await;
    let ready = checks.iter().all(|(_, outcome)| outcome.is_ok());
    let report: serde_json::Map<String, serde_json::Value> = checks
        .into_iter()
        .map(|(name, outcome)| {
            let value = match outcome {
                Ok(()) => serde_json::Value::from("ok"),
                Err(problem) => {
                    tracing::warn!(check = name, %problem, "readiness check failed");
                    serde_json::Value::from(problem)
                }
            };
            (name.to_string(), value)
        })
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": report,
    });
    (status, axum::Json(body)).into_response()
}

async fn no_route(request: Request) -> Response {
    ApiError::new(
        code::NO_ROUTE,
        format!(
            "No route for {} {}: check the path, e.g. /client/v4/zones/<zone id>/custom_csrs.",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response()
}

async fn method_not_allowed(OriginalUri(uri): OriginalUri, request: Request) -> Response {
    ApiError::new(
        code::METHOD_NOT_ALLOWED,
        format!(
            "Method {} is not allowed for {}.",
            request.method(),
            uri.path()
        ),
    )
    .into_response()
}

/// The request-body parsers, reachable from outside the crate for the fuzz targets in `fuzz/`
/// only: they are private to their resource modules otherwise. Not part of edgecert's API.
#[doc(hidden)]
pub mod fuzzing {
    use serde_json::{Map, Value};
    use uuid::Uuid;

    use super::error::ApiError;
    use crate::app::certificates::Replacement;
    use crate::app::csrs::CsrDraft;
    use crate::app::hostnames::HostnameSettings;
    use crate::app::uploads::KeyChoice;
    use crate::store::CertificateOptions;

    /// What one parser made of a body; which parser is the `resource` of [`parse_body`].
    #[derive(Debug)]
    pub enum Parsed<'a> {
        /// 0: `POST .../custom_csrs`.
        Csr(CsrDraft),
        /// 1: `POST .../custom_hostnames`: the checked hostname and its settings.
        HostnameCreate(String, HostnameSettings),
        /// 2: `PATCH .../custom_hostnames/{id}`.
        HostnameEdit(HostnameSettings),
        /// 3: `POST .../custom_certificates`.
        CertificateCreate(&'a str, CertificateOptions, KeyChoice<'a>),
        /// 4: `PATCH .../custom_certificates/{id}`, applied to `current`.
        CertificateEdit(CertificateOptions, Option<Replacement<'a>>),
        /// 5: `PUT .../custom_certificates/prioritize`.
        Priorities(Vec<(Uuid, i64)>),
    }

    /// Runs the parser of `resource % 6` (see [`Parsed`]) on a body the JSON extractor accepted.
    pub fn parse_body<'a>(
        resource: u8,
        body: &'a Map<String, Value>,
        strict: bool,
        current: &CertificateOptions,
    ) -> Result<Parsed<'a>, ApiError> {
        use super::{
            custom_certificates::request as certificates, custom_hostnames::request as hostnames,
        };
        Ok(match resource % 6 {
            0 => Parsed::Csr(
                super::custom_csrs::request::parse_draft(body, strict).map_err(ApiError::many)?,
            ),
            1 => {
                let hostname = hostnames::check_hostname(body, strict)?;
                Parsed::HostnameCreate(hostname, hostnames::parse_settings(body)?)
            }
            2 => Parsed::HostnameEdit(hostnames::parse_settings(body)?),
            3 => {
                let (pem, options, key) = certificates::parse_create(body)?;
                Parsed::CertificateCreate(pem, options, key)
            }
            4 => {
                let (options, replacement) = certificates::parse_edit(body, current)?;
                Parsed::CertificateEdit(options, replacement)
            }
            _ => Parsed::Priorities(certificates::parse_priorities(body)?),
        })
    }
}
