//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! view types, served at `/client/v4/openapi.json`, and a small offline reference at `/docs`.
//!
//! This module only assembles: the paths and schemas live with their resources, the error
//! responses of each operation come from the resource modules' `ERRORS` tables (each code
//! carrying its status), and the account-scope CSR routes, which run the zone routes'
//! handlers, are copied from the zone ones.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::envelope::{ErrorEnvelope, ResultInfo};
use super::error::{
    BODY_ERRORS, COMMON_ERRORS, ChainedError, Code, ErrorDetail, ErrorSource, OperationErrors,
    retry_headers,
};
use super::{custom_certificates, custom_csrs, custom_hostnames, fallback_origin, test_controls};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "edgecert",
        description = "A local, persistent reproduction of Cloudflare's SSL-for-SaaS certificate \
            API: custom CSRs, custom hostnames and custom certificates. Every answer uses the \
            Cloudflare v4 envelope; errors carry Cloudflare error codes, listed per response."
    ),
    paths(
        custom_csrs::list,
        custom_csrs::create,
        custom_csrs::fetch,
        custom_csrs::delete,
        custom_hostnames::list,
        custom_hostnames::create,
        custom_hostnames::fetch,
        custom_hostnames::edit,
        custom_hostnames::delete,
        custom_hostnames::quota::fetch,
        custom_hostnames::packs::replace,
        custom_hostnames::packs::delete,
        fallback_origin::fetch,
        fallback_origin::update,
        fallback_origin::delete,
        custom_certificates::list,
        custom_certificates::create,
        custom_certificates::fetch,
        custom_certificates::edit,
        custom_certificates::delete,
        custom_certificates::prioritize,
        test_controls::reset,
        test_controls::clock,
        test_controls::set_clock,
        test_controls::system_clock,
        test_controls::force_status,
        test_controls::clear_status,
        test_controls::check_now,
    ),
    components(schemas(ErrorEnvelope, ErrorDetail, ErrorSource, ChainedError, ResultInfo)),
    modifiers(&Documented),
    security(("bearer" = []), ("api_key" = []), ("user_service_key" = [])),
    tags(
        (name = "Custom CSRs", description = "Certificate signing requests whose private keys stay in edgecert."),
        (name = "Custom hostnames", description = "SSL for SaaS custom hostnames (zone scope)."),
        (name = "Custom certificates", description = "Zone Custom SSL certificates."),
        (name = "Test controls", description = "edgecert's own routes for test suites, outside \
            `/client/v4` and served only with `--test-controls` (`EDGECERT_TEST_CONTROLS=true`); \
            otherwise they answer like any unknown path. They take the same API tokens and answer \
            in the same envelope. Never enable them where the data matters: any token can erase it."),
    )
)]
pub struct ApiDoc;

/// Every resource's error table.
const TABLES: [&[OperationErrors]; 5] = [
    custom_csrs::ERRORS,
    custom_hostnames::ERRORS,
    fallback_origin::ERRORS,
    custom_certificates::ERRORS,
    test_controls::ERRORS,
];

/// Security schemes, error responses and the account-scope copies of the CSR routes.
struct Documented;

impl Modify for Documented {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API token: `Authorization: Bearer <token>`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Auth-Key",
                "A global API key, optionally with X-Auth-Email (not checked).",
            ))),
        );
        components.add_security_scheme(
            "user_service_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Auth-User-Service-Key",
                "A user service key.",
            ))),
        );

        for item in openapi.paths.paths.values_mut() {
            for operation in operations(item) {
                let id = operation.operation_id.clone().unwrap_or_default();
                let own = TABLES
                    .iter()
                    .flat_map(|table| table.iter())
                    .find(|(operation_id, _)| *operation_id == id)
                    .map_or(&[][..], |(_, errors)| *errors);
                let reads_body = operation.request_body.is_some();
                let mut merged: Vec<(u16, Vec<Code>)> = Vec::new();
                let sources = COMMON_ERRORS
                    .iter()
                    .chain(BODY_ERRORS.iter().filter(|_| reads_body))
                    .chain(own.iter().flat_map(|group| group.iter()));
                for code in sources {
                    let status = code.status.as_u16();
                    let at = match merged.iter().position(|(s, _)| *s == status) {
                        Some(at) => at,
                        None => {
                            merged.push((status, Vec::new()));
                            merged.len() - 1
                        }
                    };
                    if !merged[at].1.contains(code) {
                        merged[at].1.push(*code);
                    }
                }
                for (status, codes) in merged {
                    operation
                        .responses
                        .responses
                        .insert(status.to_string(), RefOr::T(error_response(status, &codes)));
                }
            }
        }

        // The account-scope CSR routes run the zone routes' handlers.
        let zone_prefix = "/client/v4/zones/{zone_id}/custom_csrs";
        let copies: Vec<_> = openapi
            .paths
            .paths
            .iter()
            .filter(|(path, _)| path.starts_with(zone_prefix))
            .map(|(path, item)| {
                let path = path.replacen("/zones/{zone_id}", "/accounts/{account_id}", 1);
                let mut item = item.clone();
                for operation in operations(&mut item) {
                    operation.operation_id = operation
                        .operation_id
                        .as_ref()
                        .map(|id| id.replacen("zone_", "account_", 1));
                    for parameter in operation.parameters.iter_mut().flatten() {
                        if parameter.name == "zone_id"
                            && parameter.parameter_in == ParameterIn::Path
                        {
                            parameter.name = "account_id".into();
                            parameter.description = Some(
                                "Account identifier: 32 lowercase hexadecimal characters.".into(),
                            );
                        }
                    }
                }
                (path, item)
            })
            .collect();
        openapi.paths.paths.extend(copies);
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.post.as_mut(),
        item.put.as_mut(),
        item.patch.as_mut(),
        item.delete.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn retry_headers_of(status: u16) -> &'static [(&'static str, &'static str)] {
    axum::http::StatusCode::from_u16(status).map_or(&[], retry_headers)
}

fn retry_header_description(name: &str, value: &str) -> &'static str {
    match (name, value) {
        // `ApiError` adds it to every conflict: the official SDKs retry a 409 otherwise.
        ("x-should-retry", "false") => "Always `false`: a conflict is final; do not retry.",
        ("x-should-retry", _) => "Always `true`: the request may succeed if retried later.",
        _ => "Seconds to wait before retrying.",
    }
}

fn string_header(values: &[&str], description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(values.to_vec())),
        )
        .description(Some(description))
        .build()
}

fn error_response(status: u16, codes: &[Code]) -> utoipa::openapi::Response {
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut description = format!("{reason}. Cloudflare error codes:");
    for code in codes {
        description.push_str(&format!("\n- {} {}", code.value, code.name));
    }
    let mut response = ResponseBuilder::new().description(description);
    for &(name, value) in retry_headers_of(status) {
        response = response.header(
            name,
            string_header(&[value], retry_header_description(name, value)),
        );
    }
    if status == 429 {
        // The rate limiter's own headers: the wait is computed per token.
        response = response
            .header(
                "retry-after",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer))
                    .description(Some("Seconds until the token may make a request again."))
                    .build(),
            )
            .header(
                "x-should-retry",
                string_header(
                    &["true"],
                    "Always `true`: retry after `retry-after` seconds.",
                ),
            );
    }
    response
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                .build(),
        )
        .build()
}

/// The document as served, pretty-printed so the snapshot diffs well. Built once: it depends
/// only on the code.
pub fn document() -> Result<&'static str, String> {
    static DOCUMENT: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    DOCUMENT
        .get_or_init(|| {
            ApiDoc::openapi()
                .to_pretty_json()
                .map_err(|e| e.to_string())
        })
        .as_deref()
        .map_err(Clone::clone)
}

pub(super) async fn openapi_json() -> Response {
    match document() {
        Ok(document) => ([(header::CONTENT_TYPE, "application/json")], document).into_response(),
        Err(error) => super::error::ApiError::internal(format_args!("OpenAPI document: {error}"))
            .into_response(),
    }
}

const DOCS_PAGE: &str = include_str!("docs.html");

/// The reference page; it fetches `/client/v4/openapi.json` and needs nothing else, so its
/// policy allows exactly that: its own inline script and style (by hash, so an injected one
/// would not run), requests to this origin, and no framing (against clickjacking).
pub(super) async fn docs() -> Response {
    (
        [
            (header::CONTENT_SECURITY_POLICY, docs_policy()),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        Html(DOCS_PAGE),
    )
        .into_response()
}

/// Built once from the page itself, so editing the page cannot leave a stale hash behind.
fn docs_policy() -> &'static str {
    static POLICY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    POLICY.get_or_init(|| {
        format!(
            "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            inline_hash(DOCS_PAGE, "script"),
            inline_hash(DOCS_PAGE, "style"),
        )
    })
}

/// The CSP source for the page's one inline `<tag>` element: `'sha256-...'` of its text, or
/// `'none'` if the page has none.
fn inline_hash(page: &str, tag: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let Some(text) = page
        .split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map(|(text, _)| text)
    else {
        return "'none'".to_string();
    };
    let digest = sha2::Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::http::error::code;

    #[test]
    fn every_operation_has_an_error_table_and_every_table_an_operation() {
        let document = ApiDoc::openapi();
        let mut ids = Vec::new();
        for item in document.paths.paths.values() {
            let mut item = item.clone();
            for operation in operations(&mut item) {
                ids.push(operation.operation_id.clone().unwrap());
            }
        }
        for table in TABLES {
            for (id, _) in table {
                assert!(ids.iter().any(|known| known == id), "no operation {id}");
            }
        }
        for id in ids.iter().filter(|id| !id.starts_with("account_")) {
            let listed = TABLES
                .iter()
                .any(|table| table.iter().any(|(known, _)| known == id));
            assert!(listed, "operation {id} has no ERRORS entry");
        }
        assert!(ids.contains(&"account_custom_csrs_list".to_string()));
    }

    /// What the document promises per status is what the API answers: every listed code is
    /// one edgecert has, under the status it is always answered with.
    #[test]
    fn documented_codes_sit_under_their_own_status() {
        let value: Value = serde_json::from_str(document().unwrap()).unwrap();
        let mut checked = 0;
        for item in value["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    let description = response["description"].as_str().unwrap();
                    for line in description.lines().filter_map(|l| l.strip_prefix("- ")) {
                        let (number, name) = line.split_once(' ').unwrap();
                        let known = code::ALL
                            .iter()
                            .find(|c| c.name == name)
                            .unwrap_or_else(|| panic!("{name} is not a code"));
                        assert_eq!(known.value.to_string(), number, "{name}");
                        assert_eq!(known.status.as_u16().to_string(), *status, "{name}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 100, "only {checked} codes documented");
    }

    #[test]
    fn the_document_is_openapi_3_1() {
        let value: Value = serde_json::from_str(document().unwrap()).unwrap();
        assert_eq!(value["openapi"], "3.1.0");
    }
}

/// Helpers for the tests that tie each resource's request schemas to its parser.
#[cfg(test)]
pub(super) mod schema_tests {
    use serde_json::{Map, Value};

    use super::super::error::ApiError;

    /// Property names of a schema, as the document shows them.
    pub fn properties<T: utoipa::PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        schema["properties"]
            .as_object()
            .expect("an object schema")
            .keys()
            .cloned()
            .collect()
    }

    /// The JSON pointers an error names.
    pub fn pointers(error: ApiError) -> Vec<String> {
        error
            .errors()
            .iter()
            .filter_map(|e| e.source.as_ref().map(|s| s.pointer.clone()))
            .collect()
    }

    pub fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }
}
