//! The Cloudflare v4 envelope: the success answer, and the schemas of every envelope the
//! OpenAPI document names.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::error::ErrorDetail;
use crate::store::{Page, PageRequest};

/// Pagination facts of a list answer. `count` is the number of items on this page.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ResultInfo {
    pub page: u64,
    pub per_page: u64,
    pub count: u64,
    pub total_count: u64,
    pub total_pages: u64,
}

impl ResultInfo {
    pub fn new(page: u64, per_page: u64, count: usize, total_count: u64) -> Self {
        Self {
            page,
            per_page,
            count: count as u64,
            total_count,
            total_pages: total_count.div_ceil(per_page.max(1)),
        }
    }
}

/// A successful answer: `{"success": true, "errors": [], "messages": [], "result": ...}`.
#[derive(Debug)]
pub struct Envelope<T> {
    status: StatusCode,
    result: T,
    result_info: Option<ResultInfo>,
    messages: Vec<Notice>,
}

/// An entry of a success answer's `messages`: something the client should know about a
/// request that did succeed (a quota warning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub code: u32,
    pub message: String,
}

impl<T: Serialize> Envelope<T> {
    pub fn ok(result: T) -> Self {
        Self {
            status: StatusCode::OK,
            result,
            result_info: None,
            messages: Vec::new(),
        }
    }

    pub fn created(result: T) -> Self {
        Self {
            status: StatusCode::CREATED,
            result,
            result_info: None,
            messages: Vec::new(),
        }
    }

    pub fn list(result: T, info: ResultInfo) -> Self {
        Self {
            status: StatusCode::OK,
            result,
            result_info: Some(info),
            messages: Vec::new(),
        }
    }

    /// Adds an entry to `messages`.
    pub fn with_notice(mut self, notice: Notice) -> Self {
        self.messages.push(notice);
        self
    }
}

impl<V: Serialize> Envelope<Vec<V>> {
    /// One page of a list, each record shown as its view.
    pub fn page<R>(found: Page<R>, request: PageRequest) -> Self
    where
        V: From<R>,
    {
        Self::page_with(found, request, V::from)
    }

    /// One page of a list, each record shown by `view`.
    pub fn page_with<R>(found: Page<R>, request: PageRequest, view: impl FnMut(R) -> V) -> Self {
        let info = ResultInfo::new(
            request.page,
            request.per_page,
            found.items.len(),
            found.total_count,
        );
        Self::list(found.items.into_iter().map(view).collect(), info)
    }
}

#[derive(Serialize)]
struct Body<'a, T> {
    success: bool,
    errors: [(); 0],
    messages: &'a [Notice],
    result: &'a T,
    #[serde(skip_serializing_if = "Option::is_none")]
    result_info: Option<ResultInfo>,
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        let body = Body {
            success: true,
            errors: [],
            messages: &self.messages,
            result: &self.result,
            result_info: self.result_info,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// A failed answer: `success` is false, `errors` lists every problem, `result` is null.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "a schema for the OpenAPI document")]
pub struct ErrorEnvelope {
    /// Always false.
    success: bool,
    /// Every problem found, most important first.
    errors: Vec<ErrorDetail>,
    /// Always empty.
    #[schema(value_type = Vec<Object>)]
    messages: Vec<Value>,
    /// Always null.
    #[schema(value_type = Option<Object>)]
    result: Option<Value>,
}

/// Defines the schema of a success envelope around `$result`, with `result_info` for lists.
macro_rules! success_schema {
    ($(#[$doc:meta])* $name:ident, $result:ty) => {
        $(#[$doc])*
        #[derive(utoipa::ToSchema)]
        #[expect(dead_code, reason = "a schema for the OpenAPI document")]
        pub struct $name {
            /// Always true.
            success: bool,
            /// Always empty.
            #[schema(value_type = Vec<Object>)]
            errors: Vec<serde_json::Value>,
            /// Notices about a request that succeeded, as `{"code", "message"}` (a quota
            /// warning); usually empty.
            #[schema(value_type = Vec<Object>)]
            messages: Vec<serde_json::Value>,
            result: $result,
        }
    };
    ($(#[$doc:meta])* $name:ident, $result:ty, list) => {
        $(#[$doc])*
        #[derive(utoipa::ToSchema)]
        #[expect(dead_code, reason = "a schema for the OpenAPI document")]
        pub struct $name {
            /// Always true.
            success: bool,
            /// Always empty.
            #[schema(value_type = Vec<Object>)]
            errors: Vec<serde_json::Value>,
            /// Always empty.
            #[schema(value_type = Vec<Object>)]
            messages: Vec<serde_json::Value>,
            result: Vec<$result>,
            result_info: $crate::http::envelope::ResultInfo,
        }
    };
}
pub(crate) use success_schema;

/// The id of a deleted object.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "a schema for the OpenAPI document")]
pub struct DeletedId {
    id: Uuid,
}

success_schema!(
    /// The id of the deleted object.
    DeletedEnvelope, DeletedId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_pages_rounds_up_and_handles_empty_lists() {
        assert_eq!(ResultInfo::new(1, 20, 20, 41).total_pages, 3);
        assert_eq!(ResultInfo::new(1, 20, 0, 0).total_pages, 0);
        assert_eq!(ResultInfo::new(2, 5, 5, 10).total_pages, 2);
    }
}
