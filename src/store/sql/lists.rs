//! The list reads behind `GET custom_hostnames` and `GET custom_certificates`: every filter and
//! ordering the API documents is SQL, so a page is cut after filtering and `total_count` is
//! exact. Statuses are computed in the statement the way the API shows them (see
//! `http::custom_hostnames::view`), from the facts migration `20261202220000` keeps in columns
//! beside the stored JSON; a test compares the two for every status edgecert produces.

use super::super::{Direction, HostnameOrder};

/// A hostname's forced value of `column` (test controls), if any.
fn forced(column: &str) -> String {
    format!(
        "(SELECT {column} FROM custom_hostname_status_overrides \
         WHERE custom_hostname_status_overrides.hostname_id = custom_hostnames.id)"
    )
}

/// `ssl.status`, with `$now` where the clock is compared: an expired certificate first, then
/// the managed lifecycle (a renewal still shows `active`), then whether one was uploaded.
pub(in crate::store) fn ssl_status_sql(now: &str) -> String {
    format!(
        "COALESCE({forced}, CASE \
         WHEN custom_hostnames.certificate_expires_us <= {now} THEN 'expired' \
         WHEN managed_certificates.status IS NOT NULL THEN CASE \
             WHEN managed_certificates.renewing THEN 'active' \
             ELSE managed_certificates.status END \
         WHEN custom_hostnames.certificate IS NOT NULL THEN 'active' \
         ELSE 'pending_validation' END)",
        forced = forced("ssl_status")
    )
}

/// The hostname's own `status`: `active` once it has a certificate or its HTTP DCV passed.
pub(in crate::store) fn hostname_status_sql(now: &str) -> String {
    format!(
        "COALESCE({forced}, CASE \
         WHEN custom_hostnames.certificate_expires_us <= {now} THEN 'active' \
         WHEN managed_certificates.status IS NOT NULL THEN CASE \
             WHEN managed_certificates.renewing THEN 'active' \
             WHEN managed_certificates.status IN ('initializing', 'pending_validation') \
                 THEN 'pending' \
             ELSE 'active' END \
         WHEN custom_hostnames.certificate IS NOT NULL THEN 'active' \
         ELSE 'pending' END)",
        forced = forced("status")
    )
}

/// Whether a hostname has SSL at all: a DCV method or a certificate.
pub(in crate::store) const HAS_SSL: &str =
    "(custom_hostnames.ssl_method IS NOT NULL OR custom_hostnames.certificate IS NOT NULL)";

pub(in crate::store) fn direction_sql(direction: Direction) -> &'static str {
    match direction {
        Direction::Asc => "ASC",
        Direction::Desc => "DESC",
    }
}

/// The ORDER BY of a hostname list; creation time and id keep pages from skipping or
/// repeating, and follow `direction` only when they are the order asked for.
pub(in crate::store) fn hostname_order_sql(
    order: HostnameOrder,
    direction: Option<Direction>,
    now: &str,
) -> String {
    let direction = direction_sql(direction.unwrap_or(Direction::Asc));
    match order {
        HostnameOrder::CreatedAt => {
            format!("custom_hostnames.created_at_us {direction}, custom_hostnames.id {direction}")
        }
        HostnameOrder::Ssl => format!(
            "COALESCE(custom_hostnames.ssl_method, '') {direction}, \
             custom_hostnames.created_at_us ASC, custom_hostnames.id ASC"
        ),
        HostnameOrder::SslStatus => format!(
            "{} {direction}, custom_hostnames.created_at_us ASC, custom_hostnames.id ASC",
            ssl_status_sql(now)
        ),
    }
}

/// Generates `$store`'s inherent list reads for `$db`, called by the `Store` methods.
macro_rules! list_reads {
    ($store:ty, $db:ty) => {
        impl $store {
            /// The WHERE clause of a hostname list (after `WHERE `), binding as it goes.
            fn push_hostname_condition<'q>(
                query: &mut sqlx::QueryBuilder<'q, $db>,
                zone_id: &'q str,
                filter: &'q $crate::store::HostnameFilter,
                now_us: i64,
            ) {
                use $crate::store::sql::lists;
                query
                    .push("custom_hostnames.zone_id = ")
                    .push_bind(zone_id);
                if let Some(id) = filter.id {
                    query.push(" AND custom_hostnames.id = ").push_bind(id);
                }
                if let Some(matcher) = &filter.hostname {
                    match matcher.sql() {
                        (Some(exact), _) => {
                            query.push(" AND custom_hostnames.hostname = ").push_bind(exact);
                        }
                        (None, Some(pattern)) => {
                            query
                                .push(" AND custom_hostnames.hostname LIKE ")
                                .push_bind(pattern)
                                .push(" ESCAPE '\\'");
                        }
                        (None, None) => {}
                    }
                }
                match filter.ssl {
                    Some(true) => {
                        query.push(" AND ").push(lists::HAS_SSL);
                    }
                    Some(false) => {
                        query.push(" AND NOT ").push(lists::HAS_SSL);
                    }
                    None => {}
                }
                if let Some(status) = &filter.ssl_status {
                    query.push(" AND ");
                    Self::push_with_now(query, &lists::ssl_status_sql("{now}"), now_us);
                    query.push(" = ").push_bind(status.as_str());
                }
                if let Some(status) = &filter.hostname_status {
                    query.push(" AND ");
                    Self::push_with_now(query, &lists::hostname_status_sql("{now}"), now_us);
                    query.push(" = ").push_bind(status.as_str());
                }
                if let Some(wildcard) = filter.wildcard {
                    query.push(" AND custom_hostnames.wildcard = ").push_bind(wildcard);
                }
                if let Some(authority) = &filter.certificate_authority {
                    query
                        .push(" AND custom_hostnames.certificate_authority = ")
                        .push_bind(authority.as_str());
                }
                if let Some(origin) = &filter.custom_origin_server {
                    query
                        .push(" AND custom_hostnames.custom_origin_server = ")
                        .push_bind(origin.as_str());
                }
            }

            /// Pushes `sql`, binding `now_us` at each `{now}` in it.
            fn push_with_now(query: &mut sqlx::QueryBuilder<'_, $db>, sql: &str, now_us: i64) {
                let mut parts = sql.split("{now}");
                if let Some(first) = parts.next() {
                    query.push(first);
                }
                for part in parts {
                    query.push_bind(now_us).push(part);
                }
            }

            async fn read_hostname_page(
                &self,
                zone_id: &str,
                filter: &$crate::store::HostnameFilter,
                page: $crate::store::PageRequest,
                now: time::OffsetDateTime,
            ) -> Result<
                $crate::store::Page<$crate::store::HostnameRecord>,
                $crate::store::StoreError,
            > {
                use $crate::store::sql::lists;
                let (limit, offset) = page.limit_offset();
                let now_us = $crate::store::records::to_micros(now);
                let mut rows = sqlx::QueryBuilder::<$db>::new(format!(
                    "{} WHERE ",
                    $crate::store::sql::hostname_select()
                ));
                Self::push_hostname_condition(&mut rows, zone_id, filter, now_us);
                rows.push(" ORDER BY ");
                Self::push_with_now(
                    &mut rows,
                    &lists::hostname_order_sql(filter.order, filter.direction, "{now}"),
                    now_us,
                );
                rows.push(" LIMIT ")
                    .push_bind(limit)
                    .push(" OFFSET ")
                    .push_bind(offset);
                let rows = rows.build().fetch_all(&self.pool).await?;

                let mut total = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT COUNT(*) FROM {} WHERE ",
                    $crate::store::sql::managed::HOSTNAME_FROM
                ));
                Self::push_hostname_condition(&mut total, zone_id, filter, now_us);
                let total: i64 = total.build_query_scalar().fetch_one(&self.pool).await?;
                $crate::store::Page::decode(&rows, Self::hostname_from_row, total)
            }

            fn push_certificate_condition<'q>(
                query: &mut sqlx::QueryBuilder<'q, $db>,
                zone_id: &'q str,
                filter: &'q $crate::store::CertificateFilter,
                now_us: i64,
            ) {
                query.push("zone_id = ").push_bind(zone_id);
                match filter.status.as_deref() {
                    Some("active") => {
                        query.push(" AND expires_on_us > ").push_bind(now_us);
                    }
                    Some("expired") => {
                        query.push(" AND expires_on_us <= ").push_bind(now_us);
                    }
                    // A status edgecert never shows (`pending`, `deleted`, ...) matches nothing.
                    Some(_) => {
                        query.push(" AND FALSE");
                    }
                    None => {}
                }
            }

            async fn read_certificate_page(
                &self,
                zone_id: &str,
                filter: &$crate::store::CertificateFilter,
                page: $crate::store::PageRequest,
                now: time::OffsetDateTime,
            ) -> Result<
                $crate::store::Page<$crate::store::CertificateRecord>,
                $crate::store::StoreError,
            > {
                let (limit, offset) = page.limit_offset();
                let now_us = $crate::store::records::to_micros(now);
                let mut rows = sqlx::QueryBuilder::<$db>::new(format!(
                    "SELECT {} FROM custom_certificates WHERE ",
                    $crate::store::sql::CERTIFICATE_COLUMNS
                ));
                Self::push_certificate_condition(&mut rows, zone_id, filter, now_us);
                rows.push(" ORDER BY priority ASC, uploaded_on_us ASC, id ASC LIMIT ")
                    .push_bind(limit)
                    .push(" OFFSET ")
                    .push_bind(offset);
                let rows = rows.build().fetch_all(&self.pool).await?;
                let mut total = sqlx::QueryBuilder::<$db>::new(
                    "SELECT COUNT(*) FROM custom_certificates WHERE ",
                );
                Self::push_certificate_condition(&mut total, zone_id, filter, now_us);
                let total: i64 = total.build_query_scalar().fetch_one(&self.pool).await?;
                $crate::store::Page::decode(&rows, Self::certificate_from_row, total)
            }
        }
    };
}

pub(in crate::store) use list_reads;
