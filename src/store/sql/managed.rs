//! The SQL behind [`ManagedStore`](crate::store::ManagedStore), generated into each backend
//! by [`managed_store!`] alongside `sql_store!`, with the same dialect hooks.

/// The lifecycle columns, also read (through a LEFT JOIN) with every hostname.
pub(in crate::store) const MANAGED_STATE_COLUMNS: &str = "managed_certificates.status, \
     renewing, managed_certificates.key_type, order_url, token, key_authorization, \
     validation_errors, attempts, due_at_us";

/// Hostnames with their lifecycle, if any; `id` and `zone_id` stay unambiguous.
pub(in crate::store) const HOSTNAME_FROM: &str = "custom_hostnames LEFT JOIN \
     managed_certificates ON managed_certificates.hostname_id = custom_hostnames.id";

/// Claimed work: the lifecycle, its hostname, the pending key and chain.
const WORK_COLUMNS: &str = "managed_certificates.hostname_id, custom_hostnames.zone_id, \
     custom_hostnames.hostname, claim_id, pending_key_id, pending_key_type, \
     pending_key_sealed, pending_key_spki, pending_certificate";

pub(in crate::store) fn work_select() -> String {
    format!(
        "SELECT {WORK_COLUMNS}, {MANAGED_STATE_COLUMNS} FROM managed_certificates \
         JOIN custom_hostnames ON custom_hostnames.id = managed_certificates.hostname_id"
    )
}

/// Generates `impl ManagedStore for $store`.
macro_rules! managed_store {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            /// The lifecycle read with a hostname, `None` for one edgecert does not manage.
            fn managed_state_from_row(
                row: &$row,
            ) -> Result<Option<$crate::store::ManagedState>, $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::records::{from_json, from_micros};
                let status: Option<String> = row.try_get("status")?;
                let Some(status) = status else {
                    return Ok(None);
                };
                let due_at: Option<i64> = row.try_get("due_at_us")?;
                let attempts: i64 = row.try_get("attempts")?;
                Ok(Some($crate::store::ManagedState {
                    status: $crate::store::ManagedStatus::parse(&status)?,
                    renewing: row.try_get("renewing")?,
                    key_type: $crate::store::parse_key_type(row.try_get("key_type")?)?,
                    order_url: row.try_get("order_url")?,
                    token: row.try_get("token")?,
                    key_authorization: row.try_get("key_authorization")?,
                    validation_errors: from_json(row.try_get("validation_errors")?)?,
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    due_at: due_at.map(from_micros).transpose()?,
                }))
            }

            fn managed_work_from_row(
                row: &$row,
            ) -> Result<$crate::store::ManagedWork, $crate::store::StoreError> {
                use sqlx::Row as _;
                let state = Self::managed_state_from_row(row)?.ok_or_else(|| {
                    $crate::store::StoreError::Corrupt("managed row without a status".into())
                })?;
                let key_id: Option<uuid::Uuid> = row.try_get("pending_key_id")?;
                let pending_key = match key_id {
                    Some(id) => {
                        let key_type: Option<String> = row.try_get("pending_key_type")?;
                        let sealed: Option<Vec<u8>> = row.try_get("pending_key_sealed")?;
                        let spki: Option<Vec<u8>> = row.try_get("pending_key_spki")?;
                        let (Some(key_type), Some(sealed), Some(spki)) = (key_type, sealed, spki)
                        else {
                            return Err($crate::store::StoreError::Corrupt(
                                "pending managed key is incomplete".into(),
                            ));
                        };
                        Some($crate::store::StoredKey {
                            id,
                            key_type: $crate::store::parse_key_type(&key_type)?,
                            encrypted_pkcs8: sealed,
                            spki_der: spki,
                        })
                    }
                    None => None,
                };
                let claim: Option<uuid::Uuid> = row.try_get("claim_id")?;
                Ok($crate::store::ManagedWork {
                    hostname_id: row.try_get("hostname_id")?,
                    zone_id: row.try_get("zone_id")?,
                    hostname: row.try_get("hostname")?,
                    claim: claim.unwrap_or_default(),
                    state,
                    pending_key,
                    pending_certificate: row.try_get("pending_certificate")?,
                })
            }

            fn acme_account_from_row(
                row: &$row,
            ) -> Result<$crate::store::AcmeAccountRecord, $crate::store::StoreError> {
                use sqlx::Row as _;
                Ok($crate::store::AcmeAccountRecord {
                    directory: row.try_get("directory")?,
                    account_url: row.try_get("account_url")?,
                    key: $crate::store::StoredKey {
                        id: row.try_get("key_id")?,
                        key_type: $crate::store::parse_key_type(row.try_get("key_type")?)?,
                        encrypted_pkcs8: row.try_get("encrypted_pkcs8")?,
                        spki_der: row.try_get("spki_der")?,
                    },
                    created_at: $crate::store::records::from_micros(
                        row.try_get("created_at_us")?,
                    )?,
                })
            }

            /// Writes a new lifecycle for `hostname_id`, replacing any earlier one (and its
            /// pending key) in the caller's transaction.
            async fn replace_managed(
                tx: &mut sqlx::Transaction<'static, $db>,
                hostname_id: uuid::Uuid,
                state: Option<&$crate::store::ManagedState>,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::records::{to_json, to_micros};
                sqlx::query("DELETE FROM managed_certificates WHERE hostname_id = $1")
                    .bind(hostname_id)
                    .execute(&mut **tx)
                    .await?;
                let Some(state) = state else {
                    return Ok(());
                };
                sqlx::query(
                    "INSERT INTO managed_certificates (hostname_id, status, renewing, key_type, \
                     order_url, token, key_authorization, validation_errors, attempts, due_at_us) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(hostname_id)
                .bind(state.status.as_str())
                .bind(state.renewing)
                .bind(state.key_type.as_str())
                .bind(&state.order_url)
                .bind(&state.token)
                .bind(&state.key_authorization)
                .bind(to_json(&state.validation_errors)?)
                .bind(i64::from(state.attempts))
                .bind(state.due_at.map(to_micros))
                .execute(&mut **tx)
                .await
                .map_err($crate::store::on_write)?;
                Ok(())
            }

            /// A managed hostname's edit: everything but key, certificate and lifecycle,
            /// which the worker owns (the edit may race it, so what was read is not written).
            async fn update_hostname_settings(
                tx: &mut sqlx::Transaction<'static, $db>,
                record: &$crate::store::HostnameRecord,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::records::to_json;
                let updated = sqlx::query(
                    "UPDATE custom_hostnames SET ssl_options = $1, custom_metadata = $2, \
                     custom_origin_server = $3, custom_origin_sni = $4 \
                     WHERE id = $5 AND zone_id = $6",
                )
                .bind(to_json(&record.ssl_options)?)
                .bind(record.custom_metadata.as_ref().map(to_json).transpose()?)
                .bind(&record.custom_origin_server)
                .bind(&record.custom_origin_sni)
                .bind(record.id)
                .bind(&record.zone_id)
                .execute(&mut **tx)
                .await
                .map_err($crate::store::on_write)?
                .rows_affected();
                if updated == 0 {
                    return Err($crate::store::StoreError::NotFound);
                }
                Ok(())
            }

            /// Makes a lifecycle that is not active due at `now`, in the caller's
            /// transaction. Only the time changes, so a worker holding the row loses none of
            /// its progress; its own write at the end of its step then sets the time, the
            /// step it is running being the check asked for.
            async fn recheck_managed(
                tx: &mut sqlx::Transaction<'static, $db>,
                hostname_id: uuid::Uuid,
                now: time::OffsetDateTime,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::records::to_micros;
                sqlx::query(
                    "UPDATE managed_certificates SET due_at_us = $1 \
                     WHERE hostname_id = $2 AND status <> 'active'",
                )
                .bind(to_micros(now))
                .bind(hostname_id)
                .execute(&mut **tx)
                .await
                .map_err($crate::store::on_write)?;
                Ok(())
            }

            /// Writes claimed work's lifecycle in the caller's transaction; `NotFound` when
            /// the claim is no longer this worker's.
            async fn write_managed(
                tx: &mut sqlx::Transaction<'static, $db>,
                work: &$crate::store::ManagedWork,
                release: bool,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::records::{to_json, to_micros};
                let state = &work.state;
                let key = work.pending_key.as_ref();
                let updated = sqlx::query(
                    "UPDATE managed_certificates SET status = $1, renewing = $2, key_type = $3, \
                     order_url = $4, token = $5, key_authorization = $6, validation_errors = $7, \
                     attempts = $8, due_at_us = $9, pending_key_id = $10, pending_key_type = $11, \
                     pending_key_sealed = $12, pending_key_spki = $13, pending_certificate = $14, \
                     claim_id = CASE WHEN $15 THEN NULL ELSE claim_id END, \
                     claimed_until_us = CASE WHEN $15 THEN NULL ELSE claimed_until_us END \
                     WHERE hostname_id = $16 AND claim_id = $17",
                )
                .bind(state.status.as_str())
                .bind(state.renewing)
                .bind(state.key_type.as_str())
                .bind(&state.order_url)
                .bind(&state.token)
                .bind(&state.key_authorization)
                .bind(to_json(&state.validation_errors)?)
                .bind(i64::from(state.attempts))
                .bind(state.due_at.map(to_micros))
                .bind(key.map(|k| k.id))
                .bind(key.map(|k| k.key_type.as_str()))
                .bind(key.map(|k| k.encrypted_pkcs8.as_slice()))
                .bind(key.map(|k| k.spki_der.as_slice()))
                .bind(&work.pending_certificate)
                .bind(release)
                .bind(work.hostname_id)
                .bind(work.claim)
                .execute(&mut **tx)
                .await
                .map_err($crate::store::on_write)?
                .rows_affected();
                if updated == 0 {
                    return Err($crate::store::StoreError::NotFound);
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::ManagedStore for $store {
            async fn claim_managed(
                &self,
                now: time::OffsetDateTime,
                lease_until: time::OffsetDateTime,
                only: Option<uuid::Uuid>,
                limit: u32,
            ) -> Result<Vec<$crate::store::ManagedWork>, $crate::store::StoreError> {
                use $crate::store::records::to_micros;
                let claim = uuid::Uuid::new_v4();
                let mut tx = self.begin_write().await?;
                // Due (or the one asked for), and not held by a lease that is still running.
                sqlx::query(&format!(
                    "UPDATE managed_certificates SET claim_id = $1, claimed_until_us = $2 \
                     WHERE hostname_id IN (SELECT hostname_id FROM managed_certificates \
                     WHERE (($3 IS NULL AND due_at_us <= $4) OR hostname_id = $3) \
                     AND (claimed_until_us IS NULL OR claimed_until_us <= $4) \
                     ORDER BY due_at_us ASC LIMIT $5{})",
                    Self::CLAIM_LOCK
                ))
                .bind(claim)
                .bind(to_micros(lease_until))
                .bind(only)
                .bind(to_micros(now))
                .bind(i64::from(limit))
                .execute(&mut *tx)
                .await?;
                let rows = sqlx::query(&format!(
                    "{} WHERE claim_id = $1",
                    $crate::store::sql::managed::work_select()
                ))
                .bind(claim)
                .fetch_all(&mut *tx)
                .await?;
                tx.commit().await?;
                rows.iter().map(Self::managed_work_from_row).collect()
            }

            async fn save_managed(
                &self,
                work: &$crate::store::ManagedWork,
                release: bool,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::write_managed(&mut tx, work, release).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn deploy_managed(
                &self,
                work: &$crate::store::ManagedWork,
                certificate: &$crate::store::StoredCertificate,
            ) -> Result<(), $crate::store::StoreError> {
                use sqlx::Row as _;
                use $crate::store::records::to_json;
                let key = work.pending_key.as_ref().ok_or_else(|| {
                    $crate::store::StoreError::Corrupt("deployment without a pending key".into())
                })?;
                let mut tx = self.begin_write().await?;
                let old = sqlx::query("SELECT key_id, key_owned FROM custom_hostnames WHERE id = $1")
                    .bind(work.hostname_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or($crate::store::StoreError::NotFound)?;
                let old_key: Option<uuid::Uuid> = old.try_get("key_id")?;
                let old_owned: bool = old.try_get("key_owned")?;
                Self::insert_key_in(&mut tx, "private_keys", key).await?;
                sqlx::query(
                    "UPDATE custom_hostnames SET key_id = $1, key_owned = $2, custom_csr_id = NULL, \
                     certificate = $3 WHERE id = $4",
                )
                .bind(key.id)
                .bind(true)
                .bind(to_json(certificate)?)
                .bind(work.hostname_id)
                .execute(&mut *tx)
                .await
                .map_err($crate::store::on_write)?;
                let mut deployed = work.clone();
                deployed.pending_key = None;
                deployed.pending_certificate = None;
                Self::write_managed(&mut tx, &deployed, true).await?;
                if let Some(key_id) = old_key.filter(|id| *id != key.id) {
                    let replaced = $crate::store::KeyRef {
                        key_id,
                        owned: old_owned,
                    };
                    Self::drop_owned_key(&mut tx, Some(replaced)).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn acme_challenge(
                &self,
                token: &str,
            ) -> Result<Option<(String, String)>, $crate::store::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT custom_hostnames.hostname, key_authorization FROM managed_certificates \
                     JOIN custom_hostnames ON custom_hostnames.id = managed_certificates.hostname_id \
                     WHERE token = $1 AND key_authorization IS NOT NULL",
                )
                .bind(token)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    Some(row) => Ok(Some((
                        row.try_get("hostname")?,
                        row.try_get("key_authorization")?,
                    ))),
                    None => Ok(None),
                }
            }

            async fn get_acme_account(
                &self,
                directory: &str,
            ) -> Result<Option<$crate::store::AcmeAccountRecord>, $crate::store::StoreError> {
                let row = sqlx::query("SELECT * FROM acme_accounts WHERE directory = $1")
                    .bind(directory)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::acme_account_from_row).transpose()
            }

            async fn put_acme_account(
                &self,
                account: &$crate::store::AcmeAccountRecord,
            ) -> Result<$crate::store::AcmeAccountRecord, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO acme_accounts (directory, account_url, key_id, key_type, \
                     encrypted_pkcs8, spki_der, created_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (directory) DO NOTHING",
                )
                .bind(&account.directory)
                .bind(&account.account_url)
                .bind(account.key.id)
                .bind(account.key.key_type.as_str())
                .bind(&account.key.encrypted_pkcs8)
                .bind(&account.key.spki_der)
                .bind($crate::store::records::to_micros(account.created_at))
                .execute(&mut *tx)
                .await?;
                let row = sqlx::query("SELECT * FROM acme_accounts WHERE directory = $1")
                    .bind(&account.directory)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Self::acme_account_from_row(&row)
            }
        }
    };
}

pub(in crate::store) use managed_store;
