//! `custom_csrs` at zone and account scope: create, list, get, delete.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::envelope::{Envelope, ResultInfo};
use super::error::{ApiError, ErrorDetail, code};
use super::extract::{CsrId, JsonObject, QueryPairs};
use super::openapi::{CsrEnvelope, CsrListEnvelope, DeletedEnvelope, OperationErrors, codes};
use super::rfc3339;
use crate::app::AppState;
use crate::pki::KeyType;
use crate::pki::csr::{Subject, build_csr};
use crate::pki::names::{MAX_COMMON_NAME_LEN, SanProblem, check_san, is_country_code};
use crate::store::{CsrOrder, CsrRecord, Direction, PageRequest, Scope, StoreError, StoredKey};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/zones/{zone_id}/custom_csrs", get(list).post(create))
        .route(
            "/zones/{zone_id}/custom_csrs/{custom_csr_id}",
            get(fetch).delete(delete),
        )
        .route("/accounts/{account_id}/custom_csrs", get(list).post(create))
        .route(
            "/accounts/{account_id}/custom_csrs/{custom_csr_id}",
            get(fetch).delete(delete),
        )
}

/// A CSR as the API shows it. There is deliberately no field that could hold the private key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct CsrView {
    id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_tag: Option<String>,
    country: String,
    state: String,
    locality: String,
    organization: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    organizational_unit: Option<String>,
    common_name: String,
    sans: Vec<String>,
    /// `rsa2048` or `p256v1`.
    #[schema(value_type = String, example = "rsa2048")]
    key_type: &'static str,
    /// The CSR, PEM-encoded.
    csr: String,
    /// RFC 3339, UTC.
    created_at: String,
}

impl From<CsrRecord> for CsrView {
    fn from(record: CsrRecord) -> Self {
        Self {
            id: record.id,
            name: record.name,
            description: record.description,
            account_tag: record.scope.account_tag().map(str::to_string),
            country: record.country,
            state: record.state,
            locality: record.locality,
            organization: record.organization,
            organizational_unit: record.organizational_unit,
            common_name: record.common_name,
            sans: record.sans,
            key_type: record.key_type.as_str(),
            csr: record.csr_pem,
            created_at: rfc3339(record.created_at),
        }
    }
}

fn not_found(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            code::CSR_NOT_FOUND,
            "Custom CSR not found: no CSR with this id exists in this zone or account.",
        ),
        StoreError::InUse(_) => ApiError::new(
            StatusCode::CONFLICT,
            code::CSR_IN_USE,
            "This CSR's private key is used by a custom hostname or custom certificate; delete \
             those (or replace their certificate) first, then delete the CSR.",
        ),
        other => other.into(),
    }
}

/// The error answers of each operation, beyond those every route shares.
pub(super) const ERRORS: &[OperationErrors] = &[
    (
        "zone_custom_csrs_list",
        &[(400, codes![INVALID_REQUEST_PARAMETERS])],
    ),
    (
        "zone_custom_csrs_create",
        &[(
            400,
            codes![
                CSR_COUNTRY,
                CSR_STATE,
                CSR_LOCALITY,
                CSR_ORGANIZATION,
                CSR_COMMON_NAME,
                CSR_COMMON_NAME_TOO_LONG,
                CSR_SAN_REQUIRED,
                CSR_SAN_INVALID,
                CSR_SAN_NON_ASCII,
                CSR_SAN_RESERVED_TLD,
                CSR_SAN_NO_PUBLIC_SUFFIX,
                CSR_SAN_EXAMPLE_DOMAIN,
                CSR_KEY_TYPE,
            ],
        )],
    ),
    (
        "zone_custom_csrs_get",
        &[(400, codes![CSR_ID_INVALID]), (404, codes![CSR_NOT_FOUND])],
    ),
    (
        "zone_custom_csrs_delete",
        &[
            (400, codes![CSR_ID_INVALID]),
            (404, codes![CSR_NOT_FOUND]),
            (409, codes![CSR_IN_USE]),
        ],
    ),
];

/// The body of a create request. Unknown fields are ignored; every problem is reported at once.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the JSON itself"
)]
pub(super) struct CsrCreateRequest {
    /// ISO 3166-1 alpha-2 country code, e.g. `US`.
    #[schema(min_length = 2, max_length = 2, example = "US")]
    country: String,
    /// State or province.
    #[schema(max_length = 128)]
    state: String,
    /// City.
    #[schema(max_length = 128)]
    locality: String,
    /// Organization name.
    #[schema(max_length = 64)]
    organization: String,
    /// Organizational unit.
    #[schema(max_length = 64)]
    organizational_unit: Option<String>,
    /// The certificate's common name; at most 64 characters.
    #[schema(max_length = 64, example = "app.example.com")]
    common_name: String,
    /// DNS names the certificate will cover (at least one, each once).
    #[schema(min_items = 1)]
    sans: Vec<String>,
    /// `rsa2048` (default) or `p256v1`.
    #[schema(example = "rsa2048")]
    key_type: Option<String>,
    /// A label for the CSR.
    name: Option<String>,
    /// A description of the CSR.
    description: Option<String>,
}

#[utoipa::path(
    post,
    path = "/client/v4/zones/{zone_id}/custom_csrs",
    operation_id = "zone_custom_csrs_create",
    tag = "Custom CSRs",
    summary = "Create a CSR",
    description = "Generates a private key (kept encrypted in edgecert, never returned) and a CSR signed with it.",
    params(("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters.")),
    request_body = CsrCreateRequest,
    responses((status = 201, description = "The CSR was created.", body = CsrEnvelope)),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    scope: Scope,
    JsonObject(body): JsonObject,
) -> Result<Envelope<CsrView>, ApiError> {
    let draft = CsrDraft::parse(&body, state.strict)
        .map_err(|errors| ApiError::many(StatusCode::BAD_REQUEST, errors))?;
    let master_key = state.master_key.clone();
    let subject = draft.subject.clone();
    let sans = draft.sans.clone();
    let (csr_pem, stored_key) = match state.key_pool.claim(draft.key_type).await? {
        Some(pooled) => {
            state
                .keys
                .run(move || {
                    let key = pooled.open(&master_key)?;
                    Ok((build_csr(&subject, &sans, &key)?, pooled))
                })
                .await?
        }
        None => {
            state
                .keys
                .with_new_key(draft.key_type, move |key| {
                    let csr_pem = build_csr(&subject, &sans, &key)?;
                    Ok((csr_pem, StoredKey::seal(&key, &master_key)?))
                })
                .await?
        }
    };

    let record = CsrRecord {
        id: Uuid::new_v4(),
        scope,
        name: draft.name,
        description: draft.description,
        country: draft.subject.country,
        state: draft.subject.state,
        locality: draft.subject.locality,
        organization: draft.subject.organization,
        organizational_unit: draft.subject.organizational_unit,
        common_name: draft.subject.common_name,
        sans: draft.sans,
        key_type: draft.key_type,
        csr_pem,
        key_id: stored_key.id,
        created_at: crate::store::now(),
    };
    state.store.insert_csr(&record, &stored_key).await?;
    tracing::debug!(csr_id = %record.id, scope = record.scope.kind(), key_type = %record.key_type, "custom CSR created");
    Ok(Envelope::created(record.into()))
}

#[utoipa::path(
    get,
    path = "/client/v4/zones/{zone_id}/custom_csrs/{custom_csr_id}",
    operation_id = "zone_custom_csrs_get",
    tag = "Custom CSRs",
    summary = "Get a CSR",
    params(
        ("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters."),
        ("custom_csr_id" = Uuid, Path, description = "The CSR's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The CSR.", body = CsrEnvelope)),
)]
pub(super) async fn fetch(
    State(state): State<AppState>,
    scope: Scope,
    CsrId(id): CsrId,
) -> Result<Envelope<CsrView>, ApiError> {
    let record = state.store.get_csr(&scope, id).await.map_err(not_found)?;
    Ok(Envelope::ok(record.into()))
}

const ORDERS: [&str; 3] = ["created_at", "name", "account_tag"];
const DIRECTIONS: [&str; 2] = ["asc", "desc"];

/// Query parameters of the list operation.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the JSON itself"
)]
struct ListQuery {
    /// Page number, from 1.
    #[param(minimum = 1, maximum = 4294967295_u64, default = 1)]
    page: Option<u64>,
    /// Items per page.
    #[param(minimum = 5, maximum = 50, default = 20)]
    per_page: Option<u64>,
    /// Sort field: `created_at` (default), `name` or `account_tag`.
    #[param(inline)]
    order: Option<ListOrder>,
    /// `asc` or `desc`; the default is `desc` for `created_at` and `asc` otherwise.
    #[param(inline)]
    direction: Option<ListDirection>,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the JSON itself"
)]
enum ListOrder {
    CreatedAt,
    Name,
    AccountTag,
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(
    dead_code,
    reason = "a schema for the OpenAPI document; the parser reads the JSON itself"
)]
enum ListDirection {
    Asc,
    Desc,
}

#[utoipa::path(
    get,
    path = "/client/v4/zones/{zone_id}/custom_csrs",
    operation_id = "zone_custom_csrs_list",
    tag = "Custom CSRs",
    summary = "List CSRs",
    params(
        ("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters."),
        ListQuery,
    ),
    responses((status = 200, description = "A page of CSRs.", body = CsrListEnvelope)),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    scope: Scope,
    query: QueryPairs,
) -> Result<Envelope<Vec<CsrView>>, ApiError> {
    let page = query.number("page", 1, 1..=u64::from(u32::MAX))?;
    let per_page = query.number("per_page", 20, 5..=50)?;
    let order = match query.choice("order", &ORDERS)? {
        Some("name") => CsrOrder::Name,
        Some("account_tag") => CsrOrder::AccountTag,
        _ => CsrOrder::CreatedAt,
    };
    let direction = match query.choice("direction", &DIRECTIONS)? {
        Some("asc") => Direction::Asc,
        Some(_) => Direction::Desc,
        None if order == CsrOrder::CreatedAt => Direction::Desc,
        None => Direction::Asc,
    };
    let found = state
        .store
        .list_csrs(&scope, order, direction, PageRequest { page, per_page })
        .await?;
    let info = ResultInfo::new(page, per_page, found.items.len(), found.total_count);
    let items = found.items.into_iter().map(CsrView::from).collect();
    Ok(Envelope::list(items, info))
}

#[utoipa::path(
    delete,
    path = "/client/v4/zones/{zone_id}/custom_csrs/{custom_csr_id}",
    operation_id = "zone_custom_csrs_delete",
    tag = "Custom CSRs",
    summary = "Delete a CSR and its private key",
    params(
        ("zone_id" = String, Path, pattern = "^[0-9a-f]{32}$", description = "Zone identifier: 32 lowercase hexadecimal characters."),
        ("custom_csr_id" = Uuid, Path, description = "The CSR's id, in hyphenated form."),
    ),
    responses((status = 200, description = "The CSR and its key were deleted.", body = DeletedEnvelope)),
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    scope: Scope,
    CsrId(id): CsrId,
) -> Result<Envelope<Value>, ApiError> {
    state
        .store
        .delete_csr(&scope, id)
        .await
        .map_err(not_found)?;
    tracing::debug!(csr_id = %id, scope = scope.kind(), "custom CSR and its private key deleted");
    Ok(Envelope::ok(json!({ "id": id })))
}

/// A validated create request.
#[derive(Debug)]
struct CsrDraft {
    subject: Subject,
    sans: Vec<String>,
    key_type: KeyType,
    name: Option<String>,
    description: Option<String>,
}

/// X.520 upper bounds for subject attributes; a CA refuses longer values.
const MAX_STATE_LEN: usize = 128;
const MAX_LOCALITY_LEN: usize = 128;
const MAX_ORGANIZATION_LEN: usize = 64;
const MAX_UNIT_LEN: usize = 64;

impl CsrDraft {
    /// Checks every field and reports every problem, in the order of the form a user fills in.
    fn parse(body: &Map<String, Value>, strict: bool) -> Result<Self, Vec<ErrorDetail>> {
        let mut errors = Vec::new();
        let country = keep(
            &mut errors,
            required_text(body, "country", code::CSR_COUNTRY, 2).and_then(|country| {
                if is_country_code(&country) {
                    Ok(country)
                } else {
                    Err(ErrorDetail::new(
                        code::CSR_COUNTRY,
                        format!(
                            "country {country:?} is not an ISO 3166-1 alpha-2 code; use two capital letters such as \"US\" or \"GB\"."
                        ),
                    )
                    .at("/country"))
                }
            }),
        );
        let state = keep(
            &mut errors,
            required_text(body, "state", code::CSR_STATE, MAX_STATE_LEN),
        );
        let locality = keep(
            &mut errors,
            required_text(body, "locality", code::CSR_LOCALITY, MAX_LOCALITY_LEN),
        );
        let organization = keep(
            &mut errors,
            required_text(
                body,
                "organization",
                code::CSR_ORGANIZATION,
                MAX_ORGANIZATION_LEN,
            ),
        );
        let organizational_unit = keep(
            &mut errors,
            optional_text(body, "organizational_unit", Some(MAX_UNIT_LEN)),
        );
        let common_name = keep(
            &mut errors,
            required_text(body, "common_name", code::CSR_COMMON_NAME, usize::MAX).and_then(
                |name| {
                    let length = name.chars().count();
                    if length > MAX_COMMON_NAME_LEN {
                        Err(ErrorDetail::new(
                            code::CSR_COMMON_NAME_TOO_LONG,
                            format!(
                                "common_name is {length} characters long; the limit is {MAX_COMMON_NAME_LEN} (RFC 5280). Put longer names in sans only."
                            ),
                        )
                        .at("/common_name"))
                    } else {
                        Ok(name)
                    }
                },
            ),
        );
        let sans = parse_sans(body.get("sans"), strict).unwrap_or_else(|mut problems| {
            errors.append(&mut problems);
            Vec::new()
        });
        let key_type = keep(&mut errors, parse_key_type(body.get("key_type")));
        let name = keep(&mut errors, optional_text(body, "name", None));
        let description = keep(&mut errors, optional_text(body, "description", None));
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            subject: Subject {
                country,
                state,
                locality,
                organization,
                organizational_unit,
                common_name,
            },
            sans,
            key_type,
            name,
            description,
        })
    }
}

/// Records a field's problem and carries on with a placeholder, so one request reports
/// every problem at once; the placeholder is never used because any problem fails the parse.
fn keep<T: Default>(errors: &mut Vec<ErrorDetail>, result: Result<T, ErrorDetail>) -> T {
    result.unwrap_or_else(|error| {
        errors.push(error);
        T::default()
    })
}

fn required_text(
    body: &Map<String, Value>,
    field: &str,
    code: u32,
    max_len: usize,
) -> Result<String, ErrorDetail> {
    let pointer = format!("/{field}");
    match body.get(field) {
        None | Some(Value::Null) => {
            Err(ErrorDetail::new(code, format!("{field} is required.")).at(pointer))
        }
        Some(Value::String(text)) if text.trim().is_empty() => Err(ErrorDetail::new(
            code,
            format!("{field} is required and must not be empty."),
        )
        .at(pointer)),
        Some(Value::String(text)) => check_text(field, text, max_len)
            .map(|()| text.clone())
            .map_err(|message| ErrorDetail::new(code, message).at(pointer)),
        Some(_) => Err(ErrorDetail::new(code, format!("{field} must be a string.")).at(pointer)),
    }
}

fn optional_text(
    body: &Map<String, Value>,
    field: &str,
    max_len: Option<usize>,
) -> Result<Option<String>, ErrorDetail> {
    let pointer = format!("/{field}");
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => check_text(field, text, max_len.unwrap_or(usize::MAX))
            .map(|()| Some(text.clone()))
            .map_err(|message| ErrorDetail::new(code::BODY_NOT_JSON, message).at(pointer)),
        Some(_) => Err(
            ErrorDetail::new(code::BODY_NOT_JSON, format!("{field} must be a string.")).at(pointer),
        ),
    }
}

fn check_text(field: &str, text: &str, max_len: usize) -> Result<(), String> {
    if text.chars().any(char::is_control) {
        return Err(format!(
            "{field} must not contain control characters such as newlines."
        ));
    }
    let length = text.chars().count();
    if length > max_len {
        return Err(format!(
            "{field} is {length} characters long; the limit is {max_len}."
        ));
    }
    Ok(())
}

fn parse_sans(value: Option<&Value>, strict: bool) -> Result<Vec<String>, Vec<ErrorDetail>> {
    let items = match value {
        None | Some(Value::Null) => {
            return Err(vec![ErrorDetail::new(
                code::CSR_SAN_REQUIRED,
                "sans is required: list at least one DNS name, normally including the common name.",
            )
            .at("/sans")]);
        }
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(vec![
                ErrorDetail::new(
                    code::CSR_SAN_REQUIRED,
                    "sans must list at least one DNS name, normally including the common name.",
                )
                .at("/sans"),
            ]);
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(vec![
                ErrorDetail::new(
                    code::CSR_SAN_REQUIRED,
                    "sans must be an array of DNS names, e.g. [\"app.example.com\"].",
                )
                .at("/sans"),
            ]);
        }
    };
    let mut sans = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let pointer = format!("/sans/{index}");
        let Some(san) = item.as_str() else {
            errors.push(
                ErrorDetail::new(
                    code::CSR_SAN_INVALID,
                    format!("sans[{index}] must be a string."),
                )
                .at(pointer),
            );
            continue;
        };
        if let Err(problem) = check_san(san, strict) {
            errors.push(san_error(index, san, problem).at(pointer));
            continue;
        }
        if sans
            .iter()
            .any(|seen: &String| seen.eq_ignore_ascii_case(san))
        {
            errors.push(
                ErrorDetail::new(
                    code::CSR_SAN_INVALID,
                    format!("SAN {san:?} is listed more than once; list each name once."),
                )
                .at(pointer),
            );
            continue;
        }
        sans.push(san.to_string());
    }
    if errors.is_empty() {
        Ok(sans)
    } else {
        Err(errors)
    }
}

fn san_error(index: usize, san: &str, problem: SanProblem) -> ErrorDetail {
    let shown = san.escape_default();
    match problem {
        SanProblem::Invalid(reason) => ErrorDetail::new(
            code::CSR_SAN_INVALID,
            format!("SAN \"{shown}\" (sans[{index}]) is not a valid DNS name: {reason}."),
        ),
        SanProblem::NonAscii => ErrorDetail::new(
            code::CSR_SAN_NON_ASCII,
            format!(
                "SAN \"{shown}\" (sans[{index}]) contains non-ASCII characters; write internationalised names in their xn-- (punycode) form."
            ),
        ),
        SanProblem::ReservedTld(tld) => ErrorDetail::new(
            code::CSR_SAN_RESERVED_TLD,
            format!(
                "SAN \"{shown}\" (sans[{index}]) is under the reserved top-level domain .{tld}, for which no CA issues certificates."
            ),
        ),
        SanProblem::NoPublicSuffix => ErrorDetail::new(
            code::CSR_SAN_NO_PUBLIC_SUFFIX,
            format!(
                "SAN \"{shown}\" (sans[{index}]) has no registrable domain under a public suffix (for example it is itself a suffix such as \"co.uk\", or its top-level domain does not exist)."
            ),
        ),
        SanProblem::ExampleDomain(domain) => ErrorDetail::new(
            code::CSR_SAN_EXAMPLE_DOMAIN,
            format!(
                "SAN \"{shown}\" (sans[{index}]) is under {domain}, which is reserved for documentation; strict mode refuses it."
            ),
        ),
    }
}

fn parse_key_type(value: Option<&Value>) -> Result<KeyType, ErrorDetail> {
    match value {
        None | Some(Value::Null) => Ok(KeyType::Rsa2048),
        Some(Value::String(name)) => KeyType::parse(name).ok_or_else(|| {
            ErrorDetail::new(
                code::CSR_KEY_TYPE,
                format!("key_type {name:?} is not supported; use \"rsa2048\" (the default) or \"p256v1\"."),
            )
            .at("/key_type")
        }),
        Some(_) => Err(ErrorDetail::new(
            code::CSR_KEY_TYPE,
            "key_type must be the string \"rsa2048\" or \"p256v1\".",
        )
        .at("/key_type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::openapi::schema_tests::properties;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn codes(result: Result<CsrDraft, Vec<ErrorDetail>>) -> Vec<u32> {
        result.unwrap_err().iter().map(|e| e.code).collect()
    }

    #[test]
    fn reports_every_missing_field_in_form_order() {
        assert_eq!(
            codes(CsrDraft::parse(&body(json!({})), false)),
            vec![1405, 1406, 1407, 1408, 1409, 1411]
        );
    }

    fn enum_values<T: utoipa::PartialSchema>() -> Vec<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        serde_json::from_value(schema["enum"].clone()).unwrap()
    }

    #[test]
    fn the_request_schema_names_only_fields_the_parser_reads() {
        let properties = properties::<CsrCreateRequest>();
        assert_eq!(properties.len(), 10);
        for property in properties {
            // A value of the wrong type is reported at the field only if the parser reads it.
            let errors =
                CsrDraft::parse(&body(json!({ property.as_str(): 12345 })), false).unwrap_err();
            let pointer = format!("/{property}");
            assert!(
                errors
                    .iter()
                    .any(|e| e.source.as_ref().is_some_and(|s| s.pointer == pointer)),
                "the parser does not read {property}: {errors:?}"
            );
        }
    }

    #[test]
    fn the_list_parameters_match_the_handler() {
        assert_eq!(enum_values::<ListOrder>(), ORDERS);
        assert_eq!(enum_values::<ListDirection>(), DIRECTIONS);
    }

    #[test]
    fn defaults_to_rsa2048_and_ignores_unknown_fields() {
        let draft = CsrDraft::parse(
            &body(json!({"country": "US", "state": "MA", "locality": "Boston",
                "organization": "City", "common_name": "app.example.com",
                "sans": ["app.example.com"], "unexpected": 42})),
            false,
        )
        .unwrap();
        assert_eq!(draft.key_type, KeyType::Rsa2048);
        assert_eq!(draft.subject.organizational_unit, None);
    }
}
