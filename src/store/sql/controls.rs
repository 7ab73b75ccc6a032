//! The statements behind the test controls (reset, forced hostname statuses), written once
//! for both backends as inherent methods that the `Store` methods call.

/// `impl $store` with the test controls' statements, over the hooks `sql_store!` documents.
macro_rules! control_methods {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            /// See [`Store::reset`](crate::store::Store::reset).
            async fn reset_scope(
                &self,
                scope: Option<&$crate::store::Scope>,
            ) -> Result<$crate::store::ResetCounts, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let counts = match scope {
                    None => Self::reset_everything(&mut tx).await?,
                    Some(scope) => Self::reset_one(&mut tx, scope).await?,
                };
                tx.commit().await?;
                Ok(counts)
            }

            /// Every table that holds a scope's data, emptied; the rest is left alone.
            async fn reset_everything(
                tx: &mut sqlx::Transaction<'static, $db>,
            ) -> Result<$crate::store::ResetCounts, $crate::store::StoreError> {
                let mut removed = [0u64; 6];
                // Children before the rows they reference: forced statuses, then what holds
                // keys, then the CSRs, then the keys themselves.
                for (count, table) in removed.iter_mut().zip([
                    "custom_hostname_status_overrides",
                    "custom_hostnames",
                    "custom_certificates",
                    "custom_csrs",
                    "private_keys",
                    "fallback_origins",
                ]) {
                    *count = sqlx::query(&format!("DELETE FROM {table}"))
                        .execute(&mut **tx)
                        .await?
                        .rows_affected();
                }
                sqlx::query("DELETE FROM custom_csr_counts")
                    .execute(&mut **tx)
                    .await?;
                let [_, custom_hostnames, custom_certificates, custom_csrs, private_keys, fallback_origins] =
                    removed;
                Ok($crate::store::ResetCounts {
                    custom_csrs,
                    custom_hostnames,
                    custom_certificates,
                    fallback_origins,
                    private_keys,
                })
            }

            /// One zone's or one account's data. Hostnames and certificates only use CSRs of
            /// their own zone, so nothing outside the scope references what is removed.
            async fn reset_one(
                tx: &mut sqlx::Transaction<'static, $db>,
                scope: &$crate::store::Scope,
            ) -> Result<$crate::store::ResetCounts, $crate::store::StoreError> {
                use sqlx::Row as _;
                let mut counts = $crate::store::ResetCounts::default();
                let mut keys: Vec<uuid::Uuid> = Vec::new();
                if let $crate::store::Scope::Zone(zone_id) = scope {
                    sqlx::query("DELETE FROM custom_hostname_status_overrides WHERE zone_id = $1")
                        .bind(zone_id)
                        .execute(&mut **tx)
                        .await?;
                    // Read before the hostnames go: the second keys of their packs.
                    keys.extend(Self::owned_bundle_keys(tx, zone_id).await?);
                    for (table, count) in [
                        ("custom_hostnames", &mut counts.custom_hostnames),
                        ("custom_certificates", &mut counts.custom_certificates),
                    ] {
                        let rows = sqlx::query(&format!(
                            "DELETE FROM {table} WHERE zone_id = $1 RETURNING key_id, key_owned"
                        ))
                        .bind(zone_id)
                        .fetch_all(&mut **tx)
                        .await?;
                        *count = rows.len() as u64;
                        for row in &rows {
                            let key_id: Option<uuid::Uuid> = row.try_get("key_id")?;
                            let owned: bool = row.try_get("key_owned")?;
                            keys.extend(key_id.filter(|_| owned));
                        }
                    }
                    counts.fallback_origins =
                        sqlx::query("DELETE FROM fallback_origins WHERE zone_id = $1")
                            .bind(zone_id)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected();
                }
                let csr_keys: Vec<uuid::Uuid> = sqlx::query_scalar(
                    "DELETE FROM custom_csrs WHERE scope_kind = $1 AND scope_id = $2 \
                     RETURNING key_id",
                )
                .bind(scope.kind())
                .bind(scope.id())
                .fetch_all(&mut **tx)
                .await?;
                counts.custom_csrs = csr_keys.len() as u64;
                keys.extend(csr_keys);
                sqlx::query("DELETE FROM custom_csr_counts WHERE scope_kind = $1 AND scope_id = $2")
                    .bind(scope.kind())
                    .bind(scope.id())
                    .execute(&mut **tx)
                    .await?;
                // One statement per key: a list bind is spelled differently by each backend,
                // and a reset is a test's set-up, not a hot path.
                for key_id in keys {
                    counts.private_keys += sqlx::query("DELETE FROM private_keys WHERE id = $1")
                        .bind(key_id)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected();
                }
                Ok(counts)
            }

            /// See [`Store::status_overrides`](crate::store::Store::status_overrides).
            async fn read_status_overrides(
                &self,
                zone_id: &str,
                hostname_id: Option<uuid::Uuid>,
            ) -> Result<Vec<(uuid::Uuid, $crate::store::StatusOverride)>, $crate::store::StoreError>
            {
                use sqlx::Row as _;
                use $crate::store::records::from_json;
                let rows = sqlx::query(
                    "SELECT hostname_id, status, ssl_status, verification_errors, \
                     ssl_validation_errors FROM custom_hostname_status_overrides \
                     WHERE zone_id = $1 AND ($2 IS NULL OR hostname_id = $2)",
                )
                .bind(zone_id)
                .bind(hostname_id)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row: &$row| {
                        let list = |column: &str| -> Result<Option<Vec<String>>, $crate::store::StoreError> {
                            let text: Option<String> = row.try_get(column)?;
                            text.as_deref().map(from_json).transpose()
                        };
                        Ok((
                            row.try_get("hostname_id")?,
                            $crate::store::StatusOverride {
                                status: row.try_get("status")?,
                                ssl_status: row.try_get("ssl_status")?,
                                verification_errors: list("verification_errors")?,
                                ssl_validation_errors: list("ssl_validation_errors")?,
                            },
                        ))
                    })
                    .collect()
            }

            /// See [`Store::put_status_override`](crate::store::Store::put_status_override).
            async fn write_status_override(
                &self,
                zone_id: &str,
                hostname_id: uuid::Uuid,
                value: &$crate::store::StatusOverride,
                at: time::OffsetDateTime,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::records::{to_json, to_micros};
                let mut tx = self.begin_write().await?;
                let written = if value.is_empty() {
                    let exists: Option<uuid::Uuid> = sqlx::query_scalar(
                        "SELECT id FROM custom_hostnames WHERE id = $1 AND zone_id = $2",
                    )
                    .bind(hostname_id)
                    .bind(zone_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    sqlx::query(
                        "DELETE FROM custom_hostname_status_overrides WHERE hostname_id = $1",
                    )
                    .bind(hostname_id)
                    .execute(&mut *tx)
                    .await?;
                    exists.is_some()
                } else {
                    // Selected from the hostname's row, so a hostname of another zone (or none)
                    // writes nothing.
                    sqlx::query(
                        "INSERT INTO custom_hostname_status_overrides (hostname_id, zone_id, \
                         status, ssl_status, verification_errors, ssl_validation_errors, \
                         updated_at_us) \
                         SELECT id, zone_id, $3, $4, $5, $6, $7 FROM custom_hostnames \
                         WHERE id = $1 AND zone_id = $2 \
                         ON CONFLICT (hostname_id) DO UPDATE SET status = excluded.status, \
                         ssl_status = excluded.ssl_status, \
                         verification_errors = excluded.verification_errors, \
                         ssl_validation_errors = excluded.ssl_validation_errors, \
                         updated_at_us = excluded.updated_at_us",
                    )
                    .bind(hostname_id)
                    .bind(zone_id)
                    .bind(&value.status)
                    .bind(&value.ssl_status)
                    .bind(value.verification_errors.as_ref().map(to_json).transpose()?)
                    .bind(value.ssl_validation_errors.as_ref().map(to_json).transpose()?)
                    .bind(to_micros(at))
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::on_write)?
                    .rows_affected()
                        > 0
                };
                if !written {
                    return Err($crate::store::StoreError::NotFound);
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(in crate::store) use control_methods;
