//! edgecert: a local, persistent reproduction of Cloudflare's SSL-for-SaaS certificate API.
#![forbid(unsafe_code)]

pub mod app;
pub mod config;
pub mod http;
pub mod pki;
pub mod store;

use std::future::Future;

use anyhow::Context;
use tokio::net::TcpListener;

pub use app::AppState;
use config::ServeArgs;

/// Serves the API on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// `edgecert serve`: bind, open the database, and serve until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let shutdown = shutdown_signal().context("cannot install signal handlers")?;
    let (state, new_token) = AppState::open(&args).await?;
    if let Some(token) = new_token {
        // Printed once, never logged: only its hash is stored.
        println!(
            "edgecert: created an API token; it will not be shown again:\n\n    {}\n\n\
             Use it as 'Authorization: Bearer <token>'.",
            token.0.as_str()
        );
    }
    tracing::info!(
        listen = %listener.local_addr()?,
        database = %config::redact_url_password(&args.database_url),
        strict = args.strict,
        "edgecert is serving the API under /client/v4"
    );
    serve(listener, state, shutdown)
        .await
        .context("server error")?;
    tracing::info!("edgecert stopped");
    Ok(())
}

/// Installs the SIGINT and SIGTERM handlers now, so a signal that arrives as soon as the
/// "serving" line is logged already means a graceful stop, and returns the future that fires.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received; finishing in-flight requests"),
            _ = interrupt.recv() => tracing::info!("SIGINT received; finishing in-flight requests"),
        }
    })
}
