//! edgecert: a local, persistent reproduction of Cloudflare's SSL-for-SaaS certificate API.
#![forbid(unsafe_code)]

pub mod app;
pub mod config;
pub mod edge;
pub mod http;
pub mod pki;
pub mod store;

use std::future::Future;

use anyhow::Context;
use tokio::net::TcpListener;

pub use app::AppState;
use config::ServeArgs;
use http::connection::ConnectionLimits;

/// Serves the API on `listener` within `limits` until `shutdown` completes; then closes idle
/// connections and returns once every answer in progress has been sent.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    http::connection::serve(listener, http::router(state), limits, shutdown).await
}

/// `edgecert serve`: bind, open the database, and serve until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    // Bound before the database is touched, like the API listener, so a taken port fails fast.
    let metrics_listener = match args.metrics_listen {
        Some(address) => Some(
            TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address} (--metrics-listen)"))?,
        ),
        None => None,
    };
    let edge_listeners = edge::EdgeListeners::bind(&args).await?;
    http::observe::install_metrics_recorder();
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
    let _key_pool_refill = state
        .key_pool
        .start_refill()
        .context("cannot start the RSA key pool")?;
    // Orders left unfinished by an earlier run are due, so the first pass resumes them.
    let _managed_certificates = app::managed::start(&state).map(AbortOnDrop);
    // Aborted when `run` returns by any path; it holds nothing that needs draining.
    let _metrics_server = match metrics_listener {
        Some(metrics_listener) => {
            tracing::info!(
                listen = %metrics_listener.local_addr()?,
                "edgecert is serving /metrics without credentials; keep this address on loopback or a private network"
            );
            let router = http::observe::metrics_router(state.clone());
            // The same bounds as the API listener: a scraper needs none of the slack.
            let limits = ConnectionLimits::from_args(&args);
            Some(AbortOnDrop(tokio::spawn(async move {
                let forever = std::future::pending::<()>();
                if let Err(error) =
                    http::connection::serve(metrics_listener, router, limits, forever).await
                {
                    tracing::error!(%error, "the metrics listener stopped");
                }
            })))
        }
        None => None,
    };
    // Before the ready line, so whoever waits for that line has seen this one too.
    if args.test_controls {
        tracing::warn!(
            "test controls are on: any API token can reset data, move the clock and force \
             statuses under /_edgecert/; never enable them outside a test environment"
        );
    }
    tracing::info!(
        listen = %listener.local_addr()?,
        database = %config::redact_url_password(&args.database_url),
        strict = args.strict,
        "edgecert is serving the API under /client/v4"
    );
    let grace = std::time::Duration::from_secs(args.shutdown_grace);
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    // The edge listeners stop with the API's.
    let (stop_edge_tx, stop_edge) = tokio::sync::watch::channel(false);
    let (_edge_reloader, edge_servers) =
        start_edge(&args, &state, edge_listeners, &stop_edge).await?;
    let in_flight = state.in_flight.clone();
    let server = serve(
        listener,
        state,
        ConnectionLimits::from_args(&args),
        async move {
            shutdown.await;
            stop_edge_tx.send_replace(true);
            let _ = stopping_tx.send(());
        },
    );
    // Draining waits for in-flight requests, those whose client hung up included (they run on
    // in their own tasks, which the server does not wait for); the grace period bounds it, so
    // a stuck client cannot keep the process from exiting. A request cut off here commits
    // nothing: every write is one transaction.
    let server = async move {
        server.await?;
        for edge_server in edge_servers {
            // A panicked edge server has nothing left to drain.
            let _ = edge_server.await;
        }
        in_flight.idle().await;
        Ok::<(), std::io::Error>(())
    };
    let deadline = async move {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result.context("server error")?,
        () = deadline => tracing::warn!(grace_seconds = grace.as_secs(), "requests still in flight after the grace period; exiting anyway"),
    }
    tracing::info!("edgecert stopped");
    Ok(())
}

/// Loads what the edge serves and starts its listeners, if any is configured; they stop
/// when `stop` turns true. Returns the reloader (aborted on drop) and the servers to await.
async fn start_edge(
    args: &ServeArgs,
    state: &AppState,
    listeners: edge::EdgeListeners,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(Option<AbortOnDrop>, Vec<tokio::task::JoinHandle<()>>)> {
    if listeners.is_empty() {
        return Ok((None, Vec::new()));
    }
    let resync = std::time::Duration::from_secs(args.edge_resync_interval);
    let (edge, reloader) = edge::Edge::start(state, resync).await?;
    let edge = edge.with_origins(&args.edge_origin, &state.trust)?;
    let limits = ConnectionLimits::from_args(args);
    let stopped = |stop: &tokio::sync::watch::Receiver<bool>| {
        let mut stop = stop.clone();
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        }
    };
    let mut servers = Vec::new();
    if let Some(listener) = listeners.https {
        tracing::info!(listen = %listener.local_addr()?, "edgecert is serving the edge over HTTPS");
        let serving = edge::serve_https(listener, edge.clone(), limits.clone(), stopped(stop));
        servers.push(tokio::spawn(async move {
            if let Err(error) = serving.await {
                tracing::error!(%error, "the edge HTTPS listener stopped");
            }
        }));
    }
    if let Some(listener) = listeners.http {
        tracing::info!(listen = %listener.local_addr()?, "edgecert is serving the edge over plain HTTP");
        let serving = edge::serve_http(listener, edge, limits, stopped(stop));
        servers.push(tokio::spawn(async move {
            if let Err(error) = serving.await {
                tracing::error!(%error, "the edge HTTP listener stopped");
            }
        }));
    }
    Ok((Some(AbortOnDrop(reloader)), servers))
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `edgecert migrate`: apply pending migrations and exit.
pub async fn migrate(args: &ServeArgs) -> anyhow::Result<()> {
    let store = store::connect_with(&args.database_url, &args.database_options()).await?;
    let (applied, known) = store.migration_status().await?;
    println!(
        "edgecert: {} is at migration {applied} of {known}",
        config::redact_url_password(&args.database_url)
    );
    Ok(())
}

/// `edgecert check-config`: everything `serve` would check before touching the database.
pub async fn check_config(args: &ServeArgs) -> anyhow::Result<()> {
    let report = app::check_config(args)?;
    println!("edgecert: configuration is valid");
    for line in report {
        println!("  {line}");
    }
    Ok(())
}

/// `edgecert probe`: exit 0 when `GET /readyz` on the local listener answers 200.
pub async fn probe(args: &config::ProbeArgs) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut address = args.listen;
    if address.ip().is_unspecified() {
        address.set_ip(if address.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(args.timeout), exchange)
        .await
        .with_context(|| format!("no answer from {address} within {} s", args.timeout))?
        .with_context(|| format!("cannot reach edgecert at {address}"))?;
    let status_line = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        anyhow::bail!("edgecert at {address} is not ready: {status_line}")
    }
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
