//! The edge proxying custom hostnames to their origins over HTTPS and plain HTTP: what the
//! origin receives, streaming, upgrades, TLS to the origin, and Cloudflare's answers when
//! the origin cannot be reached.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use crate::common::{Backend, TestApp};
use crate::on_both_backends;
use crate::process::ClosedPort;
use crate::proxying::{
    ChannelBody, Origin, WITHIN, answering, app_trusting, assert_ray, empty, exchange,
    fallback_path, flexible, full, full_backlog, handler, hostname, origin_tls, over_http,
    over_https, request, routed, set_fallback, start_edge, text,
};
use crate::testca::TestCa;
use edgecert::config::{EdgeOriginArgs, OriginSsl};

on_both_backends!(
    requests_reach_the_fallback_origin_with_host_and_forwarding_headers,
    a_custom_origin_overrides_the_fallback_and_changes_apply_at_once,
    a_large_body_streams_both_ways_without_being_buffered,
    unreachable_or_silent_origins_answer_like_cloudflare,
    tls_origins_get_the_custom_origin_sni_and_strict_mode_verifies_them,
    a_websocket_style_upgrade_passes_through,
    the_ownership_challenge_is_answered_and_acme_paths_are_never_proxied,
);

async fn requests_reach_the_fallback_origin_with_host_and_forwarding_headers(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca, |_| {}).await;
    let mut origin = Origin::plain(handler(|_| async {
        let mut response = text(StatusCode::CREATED, "from the origin");
        let headers = response.headers_mut();
        headers.insert("x-origin", "yes".parse().expect("value"));
        headers.insert("connection", "x-origin-hop".parse().expect("value"));
        headers.insert("x-origin-hop", "1".parse().expect("value"));
        response
    }))
    .await;
    hostname(&app, "app.example.com", Some(&ca), json!({})).await;
    set_fallback(&app, &origin.addr.to_string()).await;
    let edge = start_edge(&app, &flexible()).await;

    for (scheme, host) in [
        ("https", "App.Example.com:443"),
        ("http", "App.Example.com"),
    ] {
        let mut client = match scheme {
            "https" => over_https(&edge, &ca, "app.example.com").await,
            _ => over_http(&edge).await,
        };
        let mut sent = request(
            Method::POST,
            host,
            "/orders?page=2",
            full(b"order".to_vec()),
        );
        for (name, value) in [
            ("x-forwarded-for", "203.0.113.7"),
            ("cf-connecting-ip", "192.0.2.66"),
            ("connection", "keep-alive, x-client-hop"),
            ("x-client-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("proxy-authorization", "Basic eDp5"),
            ("x-app", "kept"),
        ] {
            sent.headers_mut()
                .insert(name, value.parse().expect("value"));
        }
        let (response, body) = exchange(&mut client, sent).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{scheme}: {body}");
        assert_eq!(body, "from the origin");
        assert_eq!(response.headers()["x-origin"], "yes");
        assert!(!response.headers().contains_key("x-origin-hop"), "{scheme}");
        let ray = assert_ray(response.headers().get("cf-ray"));

        let seen = origin.next().await;
        assert_eq!(seen.method, Method::POST);
        assert_eq!(seen.uri.to_string(), "/orders?page=2");
        let header = |name: &str| {
            seen.headers
                .get(name)
                .map(|value| value.to_str().expect("ASCII").to_string())
        };
        assert_eq!(
            header("host").as_deref(),
            Some(host),
            "Host as the client sent it"
        );
        assert_eq!(
            header("x-forwarded-for").as_deref(),
            Some("203.0.113.7, 127.0.0.1")
        );
        assert_eq!(header("cf-connecting-ip").as_deref(), Some("127.0.0.1"));
        assert_eq!(header("x-forwarded-proto").as_deref(), Some(scheme));
        let visitor = format!("{{\"scheme\":\"{scheme}\"}}");
        assert_eq!(header("cf-visitor").as_deref(), Some(visitor.as_str()));
        assert_eq!(header("cf-ray").as_deref(), Some(ray.as_str()));
        assert_eq!(header("x-app").as_deref(), Some("kept"));
        assert_eq!(header("content-length").as_deref(), Some("5"));
        for gone in [
            "x-client-hop",
            "keep-alive",
            "te",
            "proxy-authorization",
            "connection",
        ] {
            assert_eq!(header(gone), None, "{scheme}: {gone} reached the origin");
        }
    }
}

async fn a_custom_origin_overrides_the_fallback_and_changes_apply_at_once(backend: Backend) {
    let app = TestApp::new(backend).await;
    let mut fallback = Origin::plain(answering("fallback origin")).await;
    let mut custom = Origin::plain(answering("custom origin")).await;
    hostname(&app, "shop.example.com", None, json!({})).await;
    hostname(
        &app,
        "api.example.com",
        None,
        json!({ "custom_origin_server": custom.addr.to_string() }),
    )
    .await;
    let edge = start_edge(&app, &flexible()).await;
    let mut client = over_http(&edge).await;
    let get = |host: &str| request(Method::GET, host, "/", empty());

    // No fallback origin and no custom origin: Cloudflare's 1016 (see edge/page.rs).
    let (response, body) = exchange(&mut client, get("shop.example.com")).await;
    assert_eq!(response.status().as_u16(), 530, "{body}");
    assert!(
        body.contains("Error 1016") && body.contains("fallback"),
        "{body}"
    );
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=UTF-8"
    );
    assert_ray(response.headers().get("cf-ray"));
    // A host that is no custom hostname: Cloudflare's 1001.
    let (response, body) = exchange(&mut client, get("unknown.example.org")).await;
    assert_eq!(response.status().as_u16(), 530, "{body}");
    assert!(
        body.contains("Error 1001") && body.contains("unknown.example.org"),
        "{body}"
    );
    let (response, body) = exchange(&mut client, get("API.example.com")).await;
    assert_eq!(
        (response.status(), body.as_str()),
        (StatusCode::OK, "custom origin")
    );

    let address = fallback.addr.to_string();
    set_fallback(&app, &address).await;
    routed(&edge, "shop.example.com", Some(&address)).await;
    let (response, body) = exchange(&mut client, get("shop.example.com")).await;
    assert_eq!(
        (response.status(), body.as_str()),
        (StatusCode::OK, "fallback origin")
    );
    let (_, body) = exchange(&mut client, get("api.example.com")).await;
    assert_eq!(
        body, "custom origin",
        "custom_origin_server wins over the fallback"
    );

    app.delete(&fallback_path())
        .await
        .assert_success(StatusCode::OK);
    routed(&edge, "shop.example.com", None).await;
    let (response, _) = exchange(&mut client, get("shop.example.com")).await;
    assert_eq!(response.status().as_u16(), 530);
    assert_eq!(fallback.next().await.headers["host"], "shop.example.com");
    assert!(fallback.saw_nothing_more());
    assert_eq!(custom.next().await.headers["host"], "API.example.com");
}

/// 32 MiB each way. The origin signals when the first request bytes arrive, and the client
/// sends the rest only then; the origin sends the rest of its answer only once the client has
/// its first bytes. A proxy that buffered either body would never get past that point.
async fn a_large_body_streams_both_ways_without_being_buffered(backend: Backend) {
    const CHUNK: usize = 1024 * 1024;
    const CHUNKS: usize = 32;
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca, |_| {}).await;
    let (first_in_tx, first_in) = oneshot::channel::<()>();
    let (first_out_tx, first_out) = oneshot::channel::<()>();
    let signals = Arc::new(Mutex::new(Some((first_in_tx, first_out))));
    let origin = Origin::plain(handler(move |request| {
        let signals = signals.lock().expect("lock").take();
        async move {
            let (first_in_tx, first_out) = signals.expect("one request");
            let mut body = request.into_body();
            let mut received = 0;
            let mut first_in_tx = Some(first_in_tx);
            while let Some(frame) = body.frame().await {
                if let Some(data) = frame.expect("request body").data_ref() {
                    received += data.len();
                    if let Some(tx) = first_in_tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
            assert_eq!(received, CHUNK * CHUNKS, "the whole request body arrived");
            let (tx, rx) = mpsc::channel(2);
            tokio::spawn(async move {
                let _ = tx.send(Bytes::from(vec![1u8; CHUNK])).await;
                if tokio::time::timeout(WITHIN, first_out).await.is_err() {
                    return;
                }
                for _ in 1..CHUNKS {
                    let _ = tx.send(Bytes::from(vec![1u8; CHUNK])).await;
                }
            });
            let mut response = axum::http::Response::new(ChannelBody(rx).boxed());
            *response.status_mut() = StatusCode::OK;
            response
        }
    }))
    .await;
    hostname(&app, "big.example.com", Some(&ca), json!({})).await;
    set_fallback(&app, &origin.addr.to_string()).await;
    let edge = start_edge(&app, &flexible()).await;

    let mut client = over_https(&edge, &ca, "big.example.com").await;
    let (tx, rx) = mpsc::channel(2);
    // Whether the origin saw the first chunk before the client sent the rest.
    let feeding = tokio::spawn(async move {
        tx.send(Bytes::from(vec![7u8; CHUNK]))
            .await
            .expect("first chunk");
        if !matches!(tokio::time::timeout(WITHIN, first_in).await, Ok(Ok(()))) {
            return false;
        }
        for _ in 1..CHUNKS {
            tx.send(Bytes::from(vec![7u8; CHUNK])).await.expect("chunk");
        }
        true
    });
    let sent = request(
        Method::PUT,
        "big.example.com",
        "/upload",
        ChannelBody(rx).boxed(),
    );
    let answer = tokio::spawn(async move { client.send_request(sent).await });
    assert!(
        feeding.await.expect("the client's body task"),
        "the origin got nothing of the request body before all of it was sent: the edge buffers it"
    );
    let response = tokio::time::timeout(WITHIN, answer)
        .await
        .expect("answer head in time")
        .expect("client task")
        .expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut first_out_tx = Some(first_out_tx);
    let mut received = 0;
    while let Some(frame) = tokio::time::timeout(WITHIN, body.frame())
        .await
        .expect("answer body keeps coming: not buffered")
    {
        let frame = frame.expect("answer body");
        if let Some(data) = frame.data_ref() {
            assert!(data.iter().all(|byte| *byte == 1));
            received += data.len();
            if let Some(tx) = first_out_tx.take() {
                let _ = tx.send(());
            }
        }
    }
    assert_eq!(received, CHUNK * CHUNKS, "the whole answer arrived");
}

async fn unreachable_or_silent_origins_answer_like_cloudflare(backend: Backend) {
    let app = TestApp::new(backend).await;
    let closed = ClosedPort::bind();
    let (_backlogged, _fillers) = full_backlog().await;
    let backlogged = _backlogged.local_addr().expect("address");
    // Takes requests and never answers.
    let silent = Origin::plain(handler(|_| std::future::pending())).await;
    // Reads the request head and closes without answering.
    let closing = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let closing_address = closing.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = closing.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).await;
        }
    });
    for (name, origin) in [
        ("refused.example.com", closed.addr),
        ("backlogged.example.com", backlogged),
        ("silent.example.com", silent.addr),
        ("closing.example.com", closing_address),
    ] {
        let fields = json!({ "custom_origin_server": origin.to_string() });
        hostname(&app, name, None, fields).await;
    }
    let timeouts = EdgeOriginArgs {
        connect_timeout: Duration::from_millis(500),
        response_timeout: Duration::from_millis(500),
        ..flexible()
    };
    let edge = start_edge(&app, &timeouts).await;

    for (host, status, title) in [
        ("refused.example.com", 521, "Web server is down"),
        ("backlogged.example.com", 522, "Connection timed out"),
        ("silent.example.com", 524, "A timeout occurred"),
        ("closing.example.com", 502, "Bad gateway"),
    ] {
        let mut client = over_http(&edge).await;
        let started = Instant::now();
        let (response, body) =
            exchange(&mut client, request(Method::GET, host, "/", empty())).await;
        let took = started.elapsed();
        assert_eq!(response.status().as_u16(), status, "{host}: {body}");
        if let Some(reason) = response.extensions().get::<hyper::ext::ReasonPhrase>() {
            assert_eq!(reason.as_bytes(), title.as_bytes(), "{host}");
        } else {
            assert_eq!(status, 502, "{host}: 52x has no standard reason phrase");
        }
        assert!(
            body.contains(&format!("Error {status}")) && body.contains(title),
            "{body}"
        );
        assert!(body.contains(host), "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=UTF-8"
        );
        let ray = assert_ray(response.headers().get("cf-ray"));
        assert!(body.contains(&ray), "the page shows the Ray ID");
        if status == 522 || status == 524 {
            // Answered once the configured timeout ran out, not after the kernel's own.
            assert!(took >= Duration::from_millis(500), "{host}: {took:?}");
            assert!(took < Duration::from_secs(10), "{host}: {took:?}");
        }
    }
}

async fn tls_origins_get_the_custom_origin_sni_and_strict_mode_verifies_them(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca, |_| {}).await;
    let (bundle, key) = ca.issue_with_new_key(&["origin.saas-platform.com"], 90);
    let mut tls_origin = Origin::tls(origin_tls(&bundle, &key), answering("over TLS")).await;
    let plain_origin = Origin::plain(answering("plain")).await;
    let tls_address = tls_origin.addr.to_string();
    for (name, server, sni) in [
        (
            "named.example.com",
            &tls_address,
            "origin.saas-platform.com",
        ),
        ("other.example.com", &tls_address, "other.saas-platform.com"),
        ("echoed.example.com", &tls_address, ":request_host_header:"),
        (
            "plain.example.com",
            &plain_origin.addr.to_string(),
            "origin.saas-platform.com",
        ),
    ] {
        let fields = json!({ "custom_origin_server": server, "custom_origin_sni": sni });
        hostname(&app, name, None, fields).await;
    }
    let full_mode = start_edge(
        &app,
        &EdgeOriginArgs {
            ssl: OriginSsl::Full,
            ..flexible()
        },
    )
    .await;
    let strict = start_edge(
        &app,
        &EdgeOriginArgs {
            ssl: OriginSsl::Strict,
            ..flexible()
        },
    )
    .await;

    let mut client = over_http(&full_mode).await;
    // Full mode takes any certificate; the SNI is custom_origin_sni, or the request's host.
    for (host, sni) in [
        ("named.example.com", "origin.saas-platform.com"),
        ("other.example.com", "other.saas-platform.com"),
        ("echoed.example.com", "echoed.example.com"),
    ] {
        let (response, body) =
            exchange(&mut client, request(Method::GET, host, "/", empty())).await;
        assert_eq!(
            (response.status(), body.as_str()),
            (StatusCode::OK, "over TLS"),
            "{host}"
        );
        let seen = tls_origin.next().await;
        assert_eq!(seen.sni.as_deref(), Some(sni), "{host}");
        assert_eq!(seen.headers["host"], host);
    }
    // An origin that does not speak TLS.
    let (response, body) = exchange(
        &mut client,
        request(Method::GET, "plain.example.com", "/", empty()),
    )
    .await;
    assert_eq!(response.status().as_u16(), 525, "{body}");

    // Strict mode: the certificate must verify for the SNI sent.
    let mut client = over_http(&strict).await;
    let (response, body) = exchange(
        &mut client,
        request(Method::GET, "named.example.com", "/", empty()),
    )
    .await;
    assert_eq!(
        (response.status(), body.as_str()),
        (StatusCode::OK, "over TLS")
    );
    for host in ["other.example.com", "echoed.example.com"] {
        let (response, body) =
            exchange(&mut client, request(Method::GET, host, "/", empty())).await;
        assert_eq!(response.status().as_u16(), 526, "{host}: {body}");
        assert!(body.contains("Invalid SSL certificate"), "{body}");
    }
}

async fn a_websocket_style_upgrade_passes_through(backend: Backend) {
    let ca = TestCa::new();
    let app = app_trusting(backend, &ca, |_| {}).await;
    // Switches to an echo protocol: every byte sent comes back.
    let origin = Origin::plain(handler(|mut request| async move {
        let upgrade = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else { return };
            let (mut reader, mut writer) = tokio::io::split(hyper_util::rt::TokioIo::new(upgraded));
            let _ = tokio::io::copy(&mut reader, &mut writer).await;
        });
        let mut response = text(StatusCode::SWITCHING_PROTOCOLS, "");
        *response.body_mut() = empty();
        let headers = response.headers_mut();
        headers.insert("connection", "upgrade".parse().expect("value"));
        headers.insert("upgrade", "echo".parse().expect("value"));
        response
    }))
    .await;
    hostname(&app, "live.example.com", Some(&ca), json!({})).await;
    set_fallback(&app, &origin.addr.to_string()).await;
    let edge = start_edge(&app, &flexible()).await;

    let mut client = over_https(&edge, &ca, "live.example.com").await;
    let mut sent = request(Method::GET, "live.example.com", "/socket", empty());
    sent.headers_mut()
        .insert("connection", "Upgrade".parse().expect("value"));
    sent.headers_mut()
        .insert("upgrade", "echo".parse().expect("value"));
    let response = tokio::time::timeout(WITHIN, client.send_request(sent))
        .await
        .expect("in time")
        .expect("answer");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(response.headers()["upgrade"], "echo");
    assert_ray(response.headers().get("cf-ray"));
    let upgraded = tokio::time::timeout(WITHIN, hyper::upgrade::on(response))
        .await
        .expect("in time")
        .expect("upgraded");
    let mut stream = hyper_util::rt::TokioIo::new(upgraded);
    for message in [&b"ping through the edge"[..], &b"and again"[..]] {
        stream.write_all(message).await.expect("write");
        let mut echoed = vec![0u8; message.len()];
        tokio::time::timeout(WITHIN, stream.read_exact(&mut echoed))
            .await
            .expect("echo in time")
            .expect("echo");
        assert_eq!(echoed, message);
    }
}

async fn the_ownership_challenge_is_answered_and_acme_paths_are_never_proxied(backend: Backend) {
    let app = TestApp::new(backend).await;
    let mut origin = Origin::plain(answering("origin")).await;
    let created = hostname(&app, "verify.example.com", None, json!({})).await;
    set_fallback(&app, &origin.addr.to_string()).await;
    let edge = start_edge(&app, &flexible()).await;
    let http = &created["ownership_verification_http"];
    let url = http["http_url"].as_str().expect("http_url");
    let path = url
        .strip_prefix("http://verify.example.com")
        .expect("the URL names the hostname");
    let mut client = over_http(&edge).await;

    let (response, body) = exchange(
        &mut client,
        request(Method::GET, "verify.example.com", path, empty()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    assert_eq!(body, http["http_body"].as_str().expect("http_body"));
    // Another hostname's id, or another host: not found, and not the origin's to answer.
    let (response, _) = exchange(
        &mut client,
        request(
            Method::GET,
            "verify.example.com",
            "/.well-known/cf-custom-hostname-challenge/1",
            empty(),
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (response, _) = exchange(
        &mut client,
        request(Method::GET, "other.example.com", path, empty()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    for (method, acme) in [
        (Method::GET, "/.well-known/acme-challenge/token123"),
        (Method::POST, "/.well-known/acme-challenge/token123"),
        (Method::GET, "/.well-known/acme-challenge/"),
    ] {
        let (response, _) = exchange(
            &mut client,
            request(method, "verify.example.com", acme, empty()),
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{acme}");
    }
    // Everything else over plain HTTP is proxied.
    let (_, body) = exchange(
        &mut client,
        request(Method::GET, "verify.example.com", "/after", empty()),
    )
    .await;
    assert_eq!(body, "origin");
    assert_eq!(
        origin.next().await.uri.path(),
        "/after",
        "nothing before reached the origin"
    );
}
