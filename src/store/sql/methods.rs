//! The `Store` methods of [`sql_store!`](super::sql_store), for every table.

/// `impl Store for $store`, over the row codecs and hooks `sql_store!` puts beside it.
macro_rules! store_methods {
    ($store:ty, $db:ty, $migrator:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn insert_csr(
                &self,
                csr: &$crate::store::CsrRecord,
                key: &$crate::store::StoredKey,
                limit: Option<u64>,
            ) -> Result<(), $crate::store::StoreError> {
                let Some(limit) = limit else {
                    let insert = Self::bind_csr_insert(Self::csr_insert_sql(), csr, key);
                    return self.execute_csr_insert(insert).await;
                };
                let mut tx = self.begin_write().await?;
                let scope = format!("custom_csrs:{}:{}", csr.scope.kind(), csr.scope.id());
                Self::check_quota(
                    &mut tx,
                    &scope,
                    "SELECT COUNT(*) FROM custom_csrs WHERE scope_kind = $1 AND scope_id = $2",
                    &[csr.scope.kind(), csr.scope.id()],
                    limit,
                )
                .await?;
                Self::bind_csr_insert(Self::csr_insert_in_transaction_sql(), csr, key)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::on_write)?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_csr(
                &self,
                scope: &$crate::store::Scope,
                id: uuid::Uuid,
            ) -> Result<$crate::store::CsrRecord, $crate::store::StoreError> {
                let sql = format!(
                    "SELECT {} FROM custom_csrs WHERE id = $1 AND scope_kind = $2 AND scope_id = $3",
                    $crate::store::sql::CSR_COLUMNS
                );
                let row = sqlx::query(&sql)
                    .bind(id)
                    .bind(scope.kind())
                    .bind(scope.id())
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or($crate::store::StoreError::NotFound)?;
                Self::csr_from_row(&row)
            }

            async fn list_csrs(
                &self,
                scope: &$crate::store::Scope,
                order: $crate::store::CsrOrder,
                direction: $crate::store::Direction,
                page: $crate::store::PageRequest,
            ) -> Result<$crate::store::Page<$crate::store::CsrRecord>, $crate::store::StoreError> {
                let (limit, offset) = page.limit_offset();
                // Skipped rows are walked in the covering index only; full rows are read for
                // one page.
                let order = $crate::store::sql::csr_order(order, direction, Self::SAY_NULLS_ORDER);
                let sql = format!(
                    "SELECT {columns} FROM custom_csrs WHERE id IN (\
                         SELECT id FROM custom_csrs WHERE scope_kind = $1 AND scope_id = $2 \
                         ORDER BY {order} LIMIT $3 OFFSET $4) \
                     ORDER BY {order}",
                    columns = $crate::store::sql::CSR_COLUMNS
                );
                let rows = sqlx::query(&sql)
                    .bind(scope.kind())
                    .bind(scope.id())
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&self.pool)
                    .await?;
                let total: i64 = sqlx::query_scalar(
                    "SELECT csr_count FROM custom_csr_counts WHERE scope_kind = $1 AND scope_id = $2",
                )
                .bind(scope.kind())
                .bind(scope.id())
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0);
                $crate::store::Page::decode(&rows, Self::csr_from_row, total)
            }

            async fn delete_csr(
                &self,
                scope: &$crate::store::Scope,
                id: uuid::Uuid,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::on_delete;
                let mut tx = self.begin_write().await?;
                let key_id: uuid::Uuid = sqlx::query_scalar(
                    "DELETE FROM custom_csrs WHERE id = $1 AND scope_kind = $2 AND scope_id = $3 \
                     RETURNING key_id",
                )
                .bind(id)
                .bind(scope.kind())
                .bind(scope.id())
                .fetch_optional(&mut *tx)
                .await
                .map_err(on_delete)?
                .ok_or($crate::store::StoreError::NotFound)?;
                sqlx::query("DELETE FROM private_keys WHERE id = $1")
                    .bind(key_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(on_delete)?;
                sqlx::query(
                    "UPDATE custom_csr_counts SET csr_count = csr_count - 1 \
                     WHERE scope_kind = $1 AND scope_id = $2",
                )
                .bind(scope.kind())
                .bind(scope.id())
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn get_key(
                &self,
                key_id: uuid::Uuid,
            ) -> Result<$crate::store::StoredKey, $crate::store::StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {} FROM private_keys WHERE id = $1",
                    $crate::store::KEY_COLUMNS
                ))
                .bind(key_id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or($crate::store::StoreError::NotFound)?;
                Self::key_from_row(&row)
            }

            async fn add_pool_key(
                &self,
                key: &$crate::store::StoredKey,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::insert_key_in(&mut tx, "key_pool", key).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn claim_pool_key(
                &self,
                key_type: $crate::pki::KeyType,
            ) -> Result<Option<$crate::store::StoredKey>, $crate::store::StoreError> {
                let mut tx = self.begin_claim().await?;
                let row = sqlx::query(&format!(
                    "DELETE FROM key_pool WHERE id = \
                     (SELECT id FROM key_pool WHERE key_type = $1 LIMIT 1{lock}) \
                     RETURNING {columns}",
                    lock = Self::CLAIM_LOCK,
                    columns = $crate::store::KEY_COLUMNS
                ))
                .bind(key_type.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                let key = row.as_ref().map(Self::key_from_row).transpose()?;
                tx.commit().await?;
                Ok(key)
            }

            async fn count_pool_keys(
                &self,
                key_type: $crate::pki::KeyType,
            ) -> Result<u64, $crate::store::StoreError> {
                let count: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM key_pool WHERE key_type = $1")
                        .bind(key_type.as_str())
                        .fetch_one(&self.pool)
                        .await?;
                Ok(u64::try_from(count).unwrap_or(0))
            }

            async fn insert_hostname(
                &self,
                record: &$crate::store::HostnameRecord,
                new_keys: &[$crate::store::StoredKey],
                limit: Option<u64>,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::records::{to_json, to_micros};
                let mut tx = self.begin_hostname_write(record, new_keys).await?;
                if let Some(limit) = limit {
                    Self::check_quota(
                        &mut tx,
                        &format!("custom_hostnames:{}", record.zone_id),
                        "SELECT COUNT(*) FROM custom_hostnames WHERE zone_id = $1",
                        &[&record.zone_id],
                        limit,
                    )
                    .await?;
                }
                sqlx::query(&format!(
                    "INSERT INTO custom_hostnames ({}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                    $crate::store::sql::HOSTNAME_COLUMNS
                ))
                .bind(record.id)
                .bind(&record.zone_id)
                .bind(&record.hostname)
                .bind(record.ssl_id)
                .bind(to_json(&record.ssl_options)?)
                .bind(record.key.map(|k| k.key_id))
                .bind(record.key.is_some_and(|k| k.owned))
                .bind(record.custom_csr_id)
                .bind(record.certificate.as_ref().map(to_json).transpose()?)
                .bind(record.custom_metadata.as_ref().map(to_json).transpose()?)
                .bind(&record.custom_origin_server)
                .bind(&record.custom_origin_sni)
                .bind(record.ownership_token)
                .bind(to_micros(record.created_at))
                .execute(&mut *tx)
                .await
                .map_err($crate::store::on_write)?;
                Self::write_pack_columns(&mut tx, record).await?;
                if let Some(managed) = &record.managed {
                    Self::replace_managed(&mut tx, record.id, Some(managed)).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn update_hostname(
                &self,
                record: &$crate::store::HostnameRecord,
                new_keys: &[$crate::store::StoredKey],
                replaced_keys: &[$crate::store::KeyRef],
                managed: $crate::store::ManagedWrite<'_>,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::records::to_json;
                let mut tx = self.begin_hostname_write(record, new_keys).await?;
                match managed {
                    $crate::store::ManagedWrite::Keep => {
                        Self::update_hostname_settings(&mut tx, record).await?;
                        tx.commit().await?;
                        return Ok(());
                    }
                    $crate::store::ManagedWrite::Recheck(now) => {
                        Self::update_hostname_settings(&mut tx, record).await?;
                        Self::recheck_managed(&mut tx, record.id, now).await?;
                        tx.commit().await?;
                        return Ok(());
                    }
                    _ => {}
                }
                let updated = sqlx::query(
                    "UPDATE custom_hostnames SET ssl_options = $1, key_id = $2, key_owned = $3, \
                     custom_csr_id = $4, certificate = $5, custom_metadata = $6, \
                     custom_origin_server = $7, custom_origin_sni = $8 \
                     WHERE id = $9 AND zone_id = $10",
                )
                .bind(to_json(&record.ssl_options)?)
                .bind(record.key.map(|k| k.key_id))
                .bind(record.key.is_some_and(|k| k.owned))
                .bind(record.custom_csr_id)
                .bind(record.certificate.as_ref().map(to_json).transpose()?)
                .bind(record.custom_metadata.as_ref().map(to_json).transpose()?)
                .bind(&record.custom_origin_server)
                .bind(&record.custom_origin_sni)
                .bind(record.id)
                .bind(&record.zone_id)
                .execute(&mut *tx)
                .await
                .map_err($crate::store::on_write)?
                .rows_affected();
                if updated == 0 {
                    return Err($crate::store::StoreError::NotFound);
                }
                let started = match managed {
                    $crate::store::ManagedWrite::Start(state) => Some(state),
                    _ => None,
                };
                Self::replace_managed(&mut tx, record.id, started).await?;
                Self::write_pack_columns(&mut tx, record).await?;
                Self::drop_replaced_keys(&mut tx, record, replaced_keys).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn count_hostnames(
                &self,
                zone_id: &str,
            ) -> Result<u64, $crate::store::StoreError> {
                let count: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM custom_hostnames WHERE zone_id = $1")
                        .bind(zone_id)
                        .fetch_one(&self.pool)
                        .await?;
                Ok(u64::try_from(count).unwrap_or(0))
            }

            async fn get_hostname(
                &self,
                zone_id: &str,
                id: uuid::Uuid,
            ) -> Result<$crate::store::HostnameRecord, $crate::store::StoreError> {
                let row = sqlx::query(&format!(
                    "{} WHERE id = $1 AND zone_id = $2",
                    $crate::store::sql::hostname_select()
                ))
                .bind(id)
                .bind(zone_id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or($crate::store::StoreError::NotFound)?;
                Self::hostname_from_row(&row)
            }

            async fn list_hostnames(
                &self,
                zone_id: &str,
                filter: &$crate::store::HostnameFilter,
                page: $crate::store::PageRequest,
                now: time::OffsetDateTime,
            ) -> Result<$crate::store::Page<$crate::store::HostnameRecord>, $crate::store::StoreError>
            {
                self.read_hostname_page(zone_id, filter, page, now).await
            }

            async fn delete_hostname(
                &self,
                zone_id: &str,
                id: uuid::Uuid,
            ) -> Result<(), $crate::store::StoreError> {
                self.delete_hostname_and_keys(zone_id, id).await
            }

            async fn write_certificate_pack(
                &self,
                record: &$crate::store::HostnameRecord,
                expected: $crate::store::PackKeys,
                new_key: Option<&$crate::store::StoredKey>,
                replaced_key: $crate::store::KeyRef,
            ) -> Result<(), $crate::store::StoreError> {
                self.replace_pack(record, expected, new_key, replaced_key).await
            }

            async fn insert_certificate(
                &self,
                record: &$crate::store::CertificateRecord,
                new_key: Option<&$crate::store::StoredKey>,
                limit: Option<u64>,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::records::{to_json, to_micros};
                let mut tx = self.begin_upload(record.custom_csr_id, new_key).await?;
                if let Some(limit) = limit {
                    Self::check_quota(
                        &mut tx,
                        &format!("custom_certificates:{}", record.zone_id),
                        "SELECT COUNT(*) FROM custom_certificates WHERE zone_id = $1",
                        &[&record.zone_id],
                        limit,
                    )
                    .await?;
                }
                sqlx::query(&format!(
                    "INSERT INTO custom_certificates ({}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    $crate::store::sql::CERTIFICATE_COLUMNS
                ))
                .bind(record.id)
                .bind(&record.zone_id)
                .bind(record.key.key_id)
                .bind(record.key.owned)
                .bind(record.custom_csr_id)
                .bind(to_json(&record.certificate)?)
                .bind(to_json(&record.options)?)
                .bind(record.priority)
                .bind(to_micros(record.uploaded_on))
                .bind(to_micros(record.modified_on))
                .execute(&mut *tx)
                .await
                .map_err($crate::store::on_write)?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_certificate(
                &self,
                previous_id: uuid::Uuid,
                record: &$crate::store::CertificateRecord,
                new_key: Option<&$crate::store::StoredKey>,
                replaced_key: $crate::store::KeyRef,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::records::{to_json, to_micros};
                let mut tx = self.begin_upload(record.custom_csr_id, new_key).await?;
                let updated = sqlx::query(
                    "UPDATE custom_certificates SET key_id = $1, key_owned = $2, \
                     custom_csr_id = $3, certificate = $4, options = $5, priority = $6, \
                     modified_on_us = $7, id = $10 WHERE id = $8 AND zone_id = $9",
                )
                .bind(record.key.key_id)
                .bind(record.key.owned)
                .bind(record.custom_csr_id)
                .bind(to_json(&record.certificate)?)
                .bind(to_json(&record.options)?)
                .bind(record.priority)
                .bind(to_micros(record.modified_on))
                .bind(previous_id)
                .bind(&record.zone_id)
                .bind(record.id)
                .execute(&mut *tx)
                .await
                .map_err($crate::store::on_write)?
                .rows_affected();
                if updated == 0 {
                    return Err($crate::store::StoreError::NotFound);
                }
                if replaced_key != record.key {
                    Self::drop_owned_key(&mut tx, Some(replaced_key)).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn get_certificate(
                &self,
                zone_id: &str,
                id: uuid::Uuid,
            ) -> Result<$crate::store::CertificateRecord, $crate::store::StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {} FROM custom_certificates WHERE id = $1 AND zone_id = $2",
                    $crate::store::sql::CERTIFICATE_COLUMNS
                ))
                .bind(id)
                .bind(zone_id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or($crate::store::StoreError::NotFound)?;
                Self::certificate_from_row(&row)
            }

            async fn list_certificates(
                &self,
                zone_id: &str,
                filter: &$crate::store::CertificateFilter,
                page: $crate::store::PageRequest,
                now: time::OffsetDateTime,
            ) -> Result<
                $crate::store::Page<$crate::store::CertificateRecord>,
                $crate::store::StoreError,
            > {
                self.read_certificate_page(zone_id, filter, page, now).await
            }

            async fn delete_certificate(
                &self,
                zone_id: &str,
                id: uuid::Uuid,
            ) -> Result<(), $crate::store::StoreError> {
                self.delete_zone_row("custom_certificates", zone_id, id).await
            }

            async fn served_hostnames(
                &self,
            ) -> Result<Vec<$crate::store::HostnameRecord>, $crate::store::StoreError> {
                self.read_served_hostnames().await
            }

            async fn served_certificates(
                &self,
            ) -> Result<Vec<$crate::store::CertificateRecord>, $crate::store::StoreError> {
                self.read_served_certificates().await
            }

            async fn hostname_routes(
                &self,
            ) -> Result<Vec<$crate::store::HostnameRoute>, $crate::store::StoreError> {
                self.read_hostname_routes().await
            }

            async fn fallback_origins(
                &self,
            ) -> Result<Vec<$crate::store::FallbackOriginRecord>, $crate::store::StoreError> {
                self.read_fallback_origins().await
            }

            async fn prioritize_certificates(
                &self,
                zone_id: &str,
                priorities: &[(uuid::Uuid, i64)],
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                for (id, priority) in priorities {
                    let updated = sqlx::query(
                        "UPDATE custom_certificates SET priority = $1 WHERE id = $2 AND zone_id = $3",
                    )
                    .bind(priority)
                    .bind(id)
                    .bind(zone_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if updated == 0 {
                        return Err($crate::store::StoreError::NotFound);
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn put_fallback_origin(
                &self,
                zone_id: &str,
                origin: &str,
                at: time::OffsetDateTime,
            ) -> Result<$crate::store::FallbackOriginRecord, $crate::store::StoreError> {
                self.write_fallback_origin(zone_id, origin, at).await
            }

            async fn get_fallback_origin(
                &self,
                zone_id: &str,
            ) -> Result<Option<$crate::store::FallbackOriginRecord>, $crate::store::StoreError>
            {
                self.read_fallback_origin(zone_id).await
            }

            async fn delete_fallback_origin(
                &self,
                zone_id: &str,
            ) -> Result<Option<$crate::store::FallbackOriginRecord>, $crate::store::StoreError>
            {
                self.remove_fallback_origin(zone_id).await
            }

            async fn reset(
                &self,
                scope: Option<&$crate::store::Scope>,
            ) -> Result<$crate::store::ResetCounts, $crate::store::StoreError> {
                self.reset_scope(scope).await
            }

            async fn status_overrides(
                &self,
                zone_id: &str,
                hostname_id: Option<uuid::Uuid>,
            ) -> Result<Vec<(uuid::Uuid, $crate::store::StatusOverride)>, $crate::store::StoreError>
            {
                self.read_status_overrides(zone_id, hostname_id).await
            }

            async fn put_status_override(
                &self,
                zone_id: &str,
                hostname_id: uuid::Uuid,
                value: &$crate::store::StatusOverride,
                at: time::OffsetDateTime,
            ) -> Result<(), $crate::store::StoreError> {
                self.write_status_override(zone_id, hostname_id, value, at).await
            }

            async fn token_hashes(&self) -> Result<Vec<[u8; 32]>, $crate::store::StoreError> {
                self.read_token_hashes().await
            }

            async fn insert_token(
                &self,
                hash: &[u8; 32],
                label: &str,
            ) -> Result<bool, $crate::store::StoreError> {
                self.write_token(hash, label).await
            }

            async fn rehash_token(
                &self,
                old: &[u8; 32],
                new: &[u8; 32],
            ) -> Result<(), $crate::store::StoreError> {
                self.replace_token_hash(old, new).await
            }

            async fn get_setting(
                &self,
                name: &str,
            ) -> Result<Option<String>, $crate::store::StoreError> {
                self.read_setting(name).await
            }

            fn pool_stats(&self) -> $crate::store::PoolStats {
                self.connection_stats()
            }

            fn change_feed(&self) -> Option<$crate::store::ChangeFeed> {
                self.open_change_feed()
            }

            async fn migration_status(&self) -> Result<(usize, usize), $crate::store::StoreError> {
                let applied: Vec<i64> =
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(&self.pool)
                        .await?;
                let known: Vec<i64> = $migrator.iter().map(|migration| migration.version).collect();
                let done = known.iter().filter(|v| applied.contains(v)).count();
                Ok((done, known.len()))
            }

            async fn get_or_insert_setting(
                &self,
                name: &str,
                value: &str,
            ) -> Result<String, $crate::store::StoreError> {
                self.read_or_write_setting(name, value).await
            }
        }
    };
}

pub(in crate::store) use store_methods;
