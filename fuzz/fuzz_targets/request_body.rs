//! Request bodies: the JSON extractor (`JsonObject`) and every resource's body parser behind it.
//! Input: one selector byte (bits 0-2: which parser, see `edgecert::http::fuzzing::Parsed`;
//! bit 7: strict), then the raw request body.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use edgecert::http::error::ApiError;
use edgecert::http::extract::JsonObject;
use edgecert::http::fuzzing::{Parsed, parse_body};
use edgecert::store::CertificateOptions;
use edgecert_fuzz::{assert_accepted_san, assert_no_secret, assert_valid_draft, key_parts};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// The extractor reads an in-memory body, so its future is ready at the first poll.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("reading an in-memory body did not complete at once"),
    }
}

/// The parts of a body's private keys that no error or `Debug` may show, leaving out any that
/// the body also holds elsewhere (an echoed hostname may legitimately equal them).
fn supplied_keys(body: &Map<String, Value>) -> Vec<String> {
    let mut rest = body.clone();
    let key = rest.remove("private_key");
    let ssl_key = rest
        .get_mut("ssl")
        .and_then(Value::as_object_mut)
        .and_then(|ssl| ssl.remove("custom_key"));
    let rest = Value::Object(rest).to_string();
    [key, ssl_key]
        .iter()
        .flatten()
        .filter_map(Value::as_str)
        .flat_map(key_parts)
        .filter(|part| !rest.contains(part.as_str()))
        .collect()
}

#[track_caller]
fn assert_client_error(error: &ApiError, secrets: &[String]) {
    assert!(!error.errors().is_empty(), "an error without errors");
    for detail in error.errors() {
        assert!(
            detail.code.status.is_client_error(),
            "a bad body answered {}: {detail:?}",
            detail.code.status
        );
        assert_no_secret(&detail.message, secrets);
    }
    serde_json::to_string(error.errors()).expect("error details serialise");
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    // Declared as JSON, as every client must: what is fuzzed is the body.
    let mut request = Request::new(Body::from(bytes.to_vec()));
    request.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    let extracted = ready(JsonObject::from_request(request, &()));
    // What the extractor accepts is exactly a JSON object, as serde_json reads it.
    let reference = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    };
    let body = match (extracted, reference) {
        (Ok(JsonObject(body)), Some(reference)) => {
            assert_eq!(body, reference);
            body
        }
        (Err(error), None) => {
            assert_client_error(&error, &[]);
            return;
        }
        (Ok(JsonObject(body)), None) => panic!("the extractor accepted a non-object: {body:?}"),
        // serde_json keeps the last of a repeated key; edgecert refuses the body instead.
        (Err(error), Some(_)) if error.errors()[0].message.contains("appears more than once") => {
            assert_client_error(&error, &[]);
            return;
        }
        (Err(error), Some(_)) => panic!("the extractor refused a JSON object: {error:?}"),
    };

    let strict = selector & 0x80 != 0;
    let current = CertificateOptions {
        bundle_method: "optimal".into(),
        certificate_type: "sni_custom".into(),
        geo_restrictions: None,
        policy: None,
        deploy: None,
    };
    let secrets = supplied_keys(&body);
    let parsed = match parse_body(selector & 7, &body, strict, &current) {
        Ok(parsed) => parsed,
        Err(error) => {
            assert_client_error(&error, &secrets);
            return;
        }
    };
    // Handlers log what they parsed; a supplied key must not show.
    assert_no_secret(&format!("{parsed:?}"), &secrets);
    match parsed {
        Parsed::Csr(draft) => assert_valid_draft(&draft, strict),
        Parsed::HostnameCreate(hostname, _) => {
            assert_accepted_san(&hostname, strict);
            let given = body["hostname"]
                .as_str()
                .expect("the hostname was a string");
            assert_eq!(hostname, given.to_ascii_lowercase());
        }
        Parsed::HostnameEdit(_) => {}
        Parsed::CertificateCreate(_, options, _) => {
            assert!(["ubiquitous", "optimal", "force"].contains(&options.bundle_method.as_str()));
            assert!(["legacy_custom", "sni_custom"].contains(&options.certificate_type.as_str()));
        }
        Parsed::CertificateEdit(options, _) => {
            assert!(["ubiquitous", "optimal", "force"].contains(&options.bundle_method.as_str()));
            assert_eq!(
                options.certificate_type, current.certificate_type,
                "type changed"
            );
        }
        Parsed::Priorities(priorities) => {
            let given = body["certificates"].as_array().map_or(0, Vec::len);
            assert!(given > 0 && priorities.len() == given);
        }
    }
});
