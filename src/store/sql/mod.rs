//! The one SQL implementation of [`Store`](super::Store), generated for each backend by
//! [`sql_store!`]. Statements use `$n` placeholders, which SQLite also understands, and bind
//! only types both drivers encode alike; what the dialects do differently is a small set of
//! hooks each backend writes as inherent items:
//!
//! - `LOCK_CSR: Option<&str>`: a statement taking a CSR's row lock, or `None` where write
//!   transactions are serialised anyway;
//! - `CLAIM_LOCK: &str`: the row-locking clause of the inner select of the pool claim and of
//!   the managed certificate claim (`FOR UPDATE SKIP LOCKED` on Postgres, none on SQLite,
//!   where the single writer serialises claims);
//! - `SAY_NULLS_ORDER: bool`: whether a list's ORDER BY must say where NULLs sort (first
//!   ascending, last descending, which is SQLite's fixed order);
//! - `async fn begin_write(&self)` and `fn writer(&self)`: where a write transaction or a
//!   single-statement write goes;
//! - `async fn begin_claim(&self)`: the pool claim's transaction;
//! - `fn csr_insert_sql() -> &'static str` and `async fn execute_csr_insert(&self, query)`:
//!   a CSR insert (key, CSR and count in one transaction) as one round trip;
//!   `fn csr_insert_in_transaction_sql()`: the same statements inside an open transaction;
//! - `LOCK_QUOTA: Option<&str>`: a statement taking a scope's quota lock for the rest of a
//!   transaction (bound to the scope's name), or `None` where write transactions exclude
//!   each other anyway;
//! - `fn connection_stats(&self) -> PoolStats`;
//! - `fn open_change_feed(&self) -> Option<ChangeFeed>`: the other instances' changes to what
//!   the edge serves, where the database can be shared.

pub(super) mod controls;
pub(super) mod edge;
pub(super) mod fallback;
pub(super) mod lists;
pub(super) mod managed;
pub(super) mod methods;
pub(super) mod packs;
pub(super) mod settings;

/// The three statements of a CSR insert, numbered across all of them so a backend can send
/// them as one statement or one script with the same bindings (see `bind_csr_insert`).
pub(super) const INSERT_CSR_KEY: &str = "INSERT INTO private_keys \
     (id, key_type, encrypted_pkcs8, spki_der) VALUES ($1, $2, $3, $4)";
pub(super) const INSERT_CSR: &str = "INSERT INTO custom_csrs (id, scope_kind, scope_id, \
     account_tag, name, description, country, state, locality, organization, \
     organizational_unit, common_name, sans, key_type, csr_pem, key_id, created_at_us) \
     VALUES ($5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)";
pub(super) const COUNT_INSERTED_CSR: &str = "INSERT INTO custom_csr_counts \
     (scope_kind, scope_id, csr_count) VALUES ($6, $7, 1) ON CONFLICT (scope_kind, scope_id) \
     DO UPDATE SET csr_count = custom_csr_counts.csr_count + 1";

pub(super) const CSR_COLUMNS: &str = "id, scope_kind, scope_id, name, description, country, \
     state, locality, organization, organizational_unit, common_name, sans, key_type, csr_pem, \
     key_id, created_at_us";

pub(super) const HOSTNAME_COLUMNS: &str = "id, zone_id, hostname, ssl_id, ssl_options, key_id, \
     key_owned, custom_csr_id, certificate, custom_metadata, custom_origin_server, \
     custom_origin_sni, ownership_token, created_at_us";

/// The start of every hostname read: its columns, its certificate pack and its managed
/// lifecycle, if any.
pub(super) fn hostname_select() -> String {
    format!(
        "SELECT {HOSTNAME_COLUMNS}, {}, {} FROM {}",
        packs::PACK_COLUMNS,
        managed::MANAGED_STATE_COLUMNS,
        managed::HOSTNAME_FROM
    )
}

pub(super) const FALLBACK_ORIGIN_COLUMNS: &str = "zone_id, origin, created_at_us, updated_at_us";

pub(super) const CERTIFICATE_COLUMNS: &str = "id, zone_id, key_id, key_owned, custom_csr_id, \
     certificate, options, priority, uploaded_on_us, modified_on_us";

/// A CSR list's ORDER BY; `id` breaks ties so pages never skip or repeat.
pub(super) fn csr_order(
    order: super::CsrOrder,
    direction: super::Direction,
    say_nulls_order: bool,
) -> String {
    use super::{CsrOrder, Direction};
    let (column, nullable) = match order {
        CsrOrder::CreatedAt => ("created_at_us", false),
        CsrOrder::Name => ("name", true),
        CsrOrder::AccountTag => ("account_tag", true),
    };
    let (direction, nulls) = match direction {
        Direction::Asc => ("ASC", " NULLS FIRST"),
        Direction::Desc => ("DESC", " NULLS LAST"),
    };
    let nulls = if nullable && say_nulls_order {
        nulls
    } else {
        ""
    };
    format!("{column} {direction}{nulls}, id {direction}")
}

/// Generates `impl Store for $store` and its row codecs for one backend: `$db` is its sqlx
/// database, `$row` its row type, `$migrator` its migrations. The backend provides the hooks
/// listed in this module's documentation.
macro_rules! sql_store {
    ($store:ty, $db:ty, $row:ty, $migrator:expr) => {
        impl $store {
            /// Takes the CSR's row lock before the foreign-key checks take the key's, the same
            /// order a CSR delete locks them in, so an upload racing a delete cannot deadlock.
            async fn lock_csr(
                tx: &mut sqlx::Transaction<'static, $db>,
                csr_id: Option<uuid::Uuid>,
            ) -> Result<(), $crate::store::StoreError> {
                let (Some(csr_id), Some(sql)) = (csr_id, Self::LOCK_CSR) else {
                    return Ok(());
                };
                sqlx::query(sql)
                    .bind(csr_id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .map(|_| ())
                    .ok_or_else(|| $crate::store::StoreError::ReferenceGone("custom CSR".into()))
            }

            /// Holds `scope`'s quota lock until `tx` ends, then refuses the insert if the
            /// scope's rows, counted by `count_sql` (binding `scope_binds`), are `limit` or
            /// more. Postgres takes an advisory lock on the scope (concurrent inserts into
            /// other scopes go on); SQLite's write transaction already excludes every writer.
            async fn check_quota(
                tx: &mut sqlx::Transaction<'static, $db>,
                scope: &str,
                count_sql: &str,
                scope_binds: &[&str],
                limit: u64,
            ) -> Result<(), $crate::store::StoreError> {
                if let Some(lock) = Self::LOCK_QUOTA {
                    sqlx::query(lock).bind(scope).execute(&mut **tx).await?;
                }
                let mut count = sqlx::query_scalar::<_, i64>(count_sql);
                for bind in scope_binds {
                    count = count.bind(*bind);
                }
                let used = count.fetch_one(&mut **tx).await?;
                if u64::try_from(used).unwrap_or(0) >= limit {
                    return Err($crate::store::StoreError::QuotaExceeded { limit });
                }
                Ok(())
            }

            /// Binds a CSR and its key to [`INSERT_CSR_KEY`], [`INSERT_CSR`] and
            /// [`COUNT_INSERTED_CSR`] as `sql` (one of the backend's combinations) joins them.
            fn bind_csr_insert<'q>(
                sql: &'static str,
                csr: &'q $crate::store::CsrRecord,
                key: &'q $crate::store::StoredKey,
            ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
                sqlx::query(sql)
                    .bind(key.id)
                    .bind(key.key_type.as_str())
                    .bind(&key.encrypted_pkcs8)
                    .bind(&key.spki_der)
                    .bind(csr.id)
                    .bind(csr.scope.kind())
                    .bind(csr.scope.id())
                    .bind(csr.scope.account_tag())
                    .bind(&csr.name)
                    .bind(&csr.description)
                    .bind(&csr.country)
                    .bind(&csr.state)
                    .bind(&csr.locality)
                    .bind(&csr.organization)
                    .bind(&csr.organizational_unit)
                    .bind(&csr.common_name)
                    .bind($crate::store::encode_sans(&csr.sans))
                    .bind(csr.key_type.as_str())
                    .bind(&csr.csr_pem)
                    .bind(csr.key_id)
                    .bind($crate::store::records::to_micros(csr.created_at))
            }

            fn csr_from_row(
                row: &$row,
            ) -> Result<$crate::store::CsrRecord, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::records::from_micros;
                Ok($crate::store::CsrRecord {
                    id: row.try_get("id")?,
                    scope: $crate::store::Scope::from_parts(
                        row.try_get("scope_kind")?,
                        row.try_get("scope_id")?,
                    )?,
                    name: row.try_get("name")?,
                    description: row.try_get("description")?,
                    country: row.try_get("country")?,
                    state: row.try_get("state")?,
                    locality: row.try_get("locality")?,
                    organization: row.try_get("organization")?,
                    organizational_unit: row.try_get("organizational_unit")?,
                    common_name: row.try_get("common_name")?,
                    sans: $crate::store::decode_sans(row.try_get("sans")?)?,
                    key_type: $crate::store::parse_key_type(row.try_get("key_type")?)?,
                    csr_pem: row.try_get("csr_pem")?,
                    key_id: row.try_get("key_id")?,
                    created_at: from_micros(row.try_get("created_at_us")?)?,
                })
            }

            fn fallback_origin_from_row(
                row: &$row,
            ) -> Result<$crate::store::FallbackOriginRecord, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::records::from_micros;
                Ok($crate::store::FallbackOriginRecord {
                    zone_id: row.try_get("zone_id")?,
                    origin: row.try_get("origin")?,
                    created_at: from_micros(row.try_get("created_at_us")?)?,
                    updated_at: from_micros(row.try_get("updated_at_us")?)?,
                })
            }

            fn hostname_from_row(
                row: &$row,
            ) -> Result<$crate::store::HostnameRecord, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::records::{from_json, from_micros};
                let key_id: Option<uuid::Uuid> = row.try_get("key_id")?;
                let certificate: Option<String> = row.try_get("certificate")?;
                let metadata: Option<String> = row.try_get("custom_metadata")?;
                let (certificate_id, bundled) = Self::pack_from_row(row)?;
                Ok($crate::store::HostnameRecord {
                    id: row.try_get("id")?,
                    zone_id: row.try_get("zone_id")?,
                    hostname: row.try_get("hostname")?,
                    ssl_id: row.try_get("ssl_id")?,
                    ssl_options: from_json(row.try_get("ssl_options")?)?,
                    key: match key_id {
                        Some(key_id) => Some($crate::store::KeyRef {
                            key_id,
                            owned: row.try_get("key_owned")?,
                        }),
                        None => None,
                    },
                    custom_csr_id: row.try_get("custom_csr_id")?,
                    certificate: certificate.as_deref().map(from_json).transpose()?,
                    certificate_id,
                    bundled,
                    custom_metadata: metadata.as_deref().map(from_json).transpose()?,
                    custom_origin_server: row.try_get("custom_origin_server")?,
                    custom_origin_sni: row.try_get("custom_origin_sni")?,
                    ownership_token: row.try_get("ownership_token")?,
                    created_at: from_micros(row.try_get("created_at_us")?)?,
                    managed: Self::managed_state_from_row(row)?,
                })
            }

            fn certificate_from_row(
                row: &$row,
            ) -> Result<$crate::store::CertificateRecord, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::records::{from_json, from_micros};
                Ok($crate::store::CertificateRecord {
                    id: row.try_get("id")?,
                    zone_id: row.try_get("zone_id")?,
                    key: $crate::store::KeyRef {
                        key_id: row.try_get("key_id")?,
                        owned: row.try_get("key_owned")?,
                    },
                    custom_csr_id: row.try_get("custom_csr_id")?,
                    certificate: from_json(row.try_get("certificate")?)?,
                    options: from_json(row.try_get("options")?)?,
                    priority: row.try_get("priority")?,
                    uploaded_on: from_micros(row.try_get("uploaded_on_us")?)?,
                    modified_on: from_micros(row.try_get("modified_on_us")?)?,
                })
            }

            fn key_from_row(
                row: &$row,
            ) -> Result<$crate::store::StoredKey, $crate::store::StoreError> {
                use sqlx::Row as _;
                let spki_der: Vec<u8> = row.try_get("spki_der")?;
                Ok($crate::store::StoredKey {
                    id: row.try_get("id")?,
                    key_type: $crate::store::parse_key_type(row.try_get("key_type")?)?,
                    encrypted_pkcs8: row.try_get("encrypted_pkcs8")?,
                    spki_der,
                })
            }

            /// Writes a sealed key into `table`: `private_keys`, or `key_pool` for a key generated
            /// ahead of demand (the same columns).
            async fn insert_key_in(
                tx: &mut sqlx::Transaction<'static, $db>,
                table: &str,
                key: &$crate::store::StoredKey,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(&format!(
                    "INSERT INTO {table} ({}) VALUES ($1, $2, $3, $4)",
                    $crate::store::KEY_COLUMNS
                ))
                .bind(key.id)
                .bind(key.key_type.as_str())
                .bind(&key.encrypted_pkcs8)
                .bind(&key.spki_der)
                .execute(&mut **tx)
                .await
                .map_err($crate::store::on_write)?;
                Ok(())
            }

            /// Opens a write transaction that first locks `csr_id`'s row (if any) and stores
            /// `new_key` (if any): the start of every hostname and certificate write.
            async fn begin_upload(
                &self,
                csr_id: Option<uuid::Uuid>,
                new_key: Option<&$crate::store::StoredKey>,
            ) -> Result<sqlx::Transaction<'static, $db>, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::lock_csr(&mut tx, csr_id).await?;
                if let Some(key) = new_key {
                    Self::insert_key_in(&mut tx, "private_keys", key).await?;
                }
                Ok(tx)
            }

            /// Destroys a customer-uploaded key once nothing references it any more.
            async fn drop_owned_key(
                tx: &mut sqlx::Transaction<'static, $db>,
                key: Option<$crate::store::KeyRef>,
            ) -> Result<(), $crate::store::StoreError> {
                if let Some($crate::store::KeyRef {
                    key_id,
                    owned: true,
                }) = key
                {
                    sqlx::query("DELETE FROM private_keys WHERE id = $1")
                        .bind(key_id)
                        .execute(&mut **tx)
                        .await
                        .map_err($crate::store::on_delete)?;
                }
                Ok(())
            }

            /// Deletes the row of `table` with this id in this zone and, in the same
            /// transaction, the customer-uploaded key it owned.
            async fn delete_zone_row(
                &self,
                table: &str,
                zone_id: &str,
                id: uuid::Uuid,
            ) -> Result<(), $crate::store::StoreError> {
                use sqlx::Row as _;
                let mut tx = self.begin_write().await?;
                let row = sqlx::query(&format!(
                    "DELETE FROM {table} WHERE id = $1 AND zone_id = $2 RETURNING key_id, key_owned"
                ))
                .bind(id)
                .bind(zone_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::store::on_delete)?
                .ok_or($crate::store::StoreError::NotFound)?;
                let key_id: Option<uuid::Uuid> = row.try_get("key_id")?;
                if let Some(key_id) = key_id {
                    let owned: bool = row.try_get("key_owned")?;
                    Self::drop_owned_key(&mut tx, Some($crate::store::KeyRef { key_id, owned }))
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }

        $crate::store::sql::edge::edge_reads!($store, $row);
        $crate::store::sql::fallback::fallback_origin_statements!($store);
        $crate::store::sql::settings::settings_statements!($store);
        $crate::store::sql::lists::list_reads!($store, $db);
        $crate::store::sql::controls::control_methods!($store, $db, $row);
        $crate::store::sql::packs::pack_methods!($store, $db, $row);
        $crate::store::sql::methods::store_methods!($store, $db, $migrator);
        $crate::store::sql::managed::managed_store!($store, $db, $row);
    };
}

pub(super) use sql_store;

#[cfg(test)]
mod tests {
    use super::csr_order;
    use crate::store::{CsrOrder, Direction};

    /// The clauses must match the list indexes' column order, or the list sorts every row.
    #[test]
    fn csr_orders_match_the_list_indexes() {
        assert_eq!(
            csr_order(CsrOrder::CreatedAt, Direction::Desc, true),
            "created_at_us DESC, id DESC"
        );
        assert_eq!(
            csr_order(CsrOrder::Name, Direction::Asc, true),
            "name ASC NULLS FIRST, id ASC"
        );
        assert_eq!(
            csr_order(CsrOrder::AccountTag, Direction::Desc, true),
            "account_tag DESC NULLS LAST, id DESC"
        );
        assert_eq!(
            csr_order(CsrOrder::Name, Direction::Desc, false),
            "name DESC, id DESC"
        );
    }
}
