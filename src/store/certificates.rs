//! Custom hostnames and custom certificates: records, and one SQL implementation shared by
//! both backends (the statements use `$n` placeholders, which SQLite also understands, and
//! bind only types both drivers encode alike).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;

/// The private key a certificate uses. `owned` keys were uploaded with the certificate and
/// are destroyed with it; others belong to a CSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    pub key_id: Uuid,
    pub owned: bool,
}

/// A verified certificate as stored: the PEM bundle and what the API shows about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCertificate {
    pub bundle_pem: String,
    pub issuer: String,
    pub serial_number: String,
    pub signature: String,
    pub hosts: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_on: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_on: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_on: OffsetDateTime,
    pub fingerprint_sha256: String,
}

/// The `ssl` settings of a custom hostname as requested, echoed back in answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SslOptions {
    pub method: Option<String>,
    #[serde(rename = "type")]
    pub ssl_type: Option<String>,
    pub bundle_method: Option<String>,
    pub certificate_authority: Option<String>,
    pub wildcard: Option<bool>,
    pub cloudflare_branding: Option<bool>,
    pub settings: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostnameRecord {
    pub id: Uuid,
    pub zone_id: String,
    pub hostname: String,
    pub ssl_id: Uuid,
    pub ssl_options: SslOptions,
    pub key: Option<KeyRef>,
    pub custom_csr_id: Option<Uuid>,
    pub certificate: Option<StoredCertificate>,
    pub custom_metadata: Option<Value>,
    pub custom_origin_server: Option<String>,
    pub custom_origin_sni: Option<String>,
    pub ownership_token: Uuid,
    pub created_at: OffsetDateTime,
}

/// Settings of a custom certificate other than the certificate itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateOptions {
    pub bundle_method: String,
    #[serde(rename = "type")]
    pub certificate_type: String,
    pub geo_restrictions: Option<Value>,
    pub policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CertificateRecord {
    pub id: Uuid,
    pub zone_id: String,
    pub key: KeyRef,
    pub custom_csr_id: Option<Uuid>,
    pub certificate: StoredCertificate,
    pub options: CertificateOptions,
    pub priority: i64,
    pub uploaded_on: OffsetDateTime,
    pub modified_on: OffsetDateTime,
}

/// Optional list filters for custom hostnames.
#[derive(Debug, Clone, Default)]
pub struct HostnameFilter {
    pub id: Option<Uuid>,
    pub hostname: Option<HostnameMatch>,
}

/// How a hostname filter matches (hostnames are stored in lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostnameMatch {
    Exact(String),
    Contains(String),
    StartsWith(String),
}

impl HostnameMatch {
    /// The filter as (exact value, LIKE pattern), one of them set.
    pub(super) fn sql(&self) -> (Option<&str>, Option<String>) {
        let escape = |text: &str| {
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        };
        match self {
            HostnameMatch::Exact(name) => (Some(name), None),
            HostnameMatch::Contains(part) => (None, Some(format!("%{}%", escape(part)))),
            HostnameMatch::StartsWith(prefix) => (None, Some(format!("{}%", escape(prefix)))),
        }
    }
}

pub(super) fn to_micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

pub(super) fn from_micros(micros: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp out of range: {e}")))
}

pub(super) fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("encoding JSON: {e}")))
}

pub(super) fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}

pub(super) const HOSTNAME_COLUMNS: &str = "id, zone_id, hostname, ssl_id, ssl_options, key_id, \
     key_owned, custom_csr_id, certificate, custom_metadata, custom_origin_server, \
     custom_origin_sni, ownership_token, created_at_us";

pub(super) const CERTIFICATE_COLUMNS: &str = "id, zone_id, key_id, key_owned, custom_csr_id, \
     certificate, options, priority, uploaded_on_us, modified_on_us";

/// Generates the certificate-related methods of a store type as inherent `cert_*` methods;
/// the `Store` impls delegate to them. `$begin_write` starts a write transaction.
macro_rules! certificate_methods {
    ($store:ty, $row:ty, $lock_csr:expr) => {
        impl $store {
            /// Takes the CSR's row lock before the foreign-key checks take the key's, the same
            /// order a CSR delete locks them in, so an upload racing a delete cannot deadlock.
            /// `None` where the backend serialises write transactions anyway.
            async fn cert_lock_csr<'c>(
                tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
                csr_id: Option<uuid::Uuid>,
            ) -> Result<(), super::StoreError> {
                let (Some(csr_id), Some(sql)) = (csr_id, $lock_csr) else {
                    return Ok(());
                };
                sqlx::query(sql)
                    .bind(csr_id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .map(|_| ())
                    .ok_or_else(|| super::StoreError::ReferenceGone("custom CSR".into()))
            }

            fn hostname_from_row(row: &$row) -> Result<super::HostnameRecord, super::StoreError> {
                let key_id: Option<uuid::Uuid> = row.try_get("key_id")?;
                let certificate: Option<String> = row.try_get("certificate")?;
                let metadata: Option<String> = row.try_get("custom_metadata")?;
                Ok(super::HostnameRecord {
                    id: row.try_get("id")?,
                    zone_id: row.try_get("zone_id")?,
                    hostname: row.try_get("hostname")?,
                    ssl_id: row.try_get("ssl_id")?,
                    ssl_options: super::certificates::from_json(row.try_get("ssl_options")?)?,
                    key: match key_id {
                        Some(key_id) => Some(super::KeyRef {
                            key_id,
                            owned: row.try_get("key_owned")?,
                        }),
                        None => None,
                    },
                    custom_csr_id: row.try_get("custom_csr_id")?,
                    certificate: certificate.as_deref().map(super::certificates::from_json).transpose()?,
                    custom_metadata: metadata.as_deref().map(super::certificates::from_json).transpose()?,
                    custom_origin_server: row.try_get("custom_origin_server")?,
                    custom_origin_sni: row.try_get("custom_origin_sni")?,
                    ownership_token: row.try_get("ownership_token")?,
                    created_at: super::certificates::from_micros(row.try_get("created_at_us")?)?,
                })
            }

            fn certificate_from_row(row: &$row) -> Result<super::CertificateRecord, super::StoreError> {
                Ok(super::CertificateRecord {
                    id: row.try_get("id")?,
                    zone_id: row.try_get("zone_id")?,
                    key: super::KeyRef {
                        key_id: row.try_get("key_id")?,
                        owned: row.try_get("key_owned")?,
                    },
                    custom_csr_id: row.try_get("custom_csr_id")?,
                    certificate: super::certificates::from_json(row.try_get("certificate")?)?,
                    options: super::certificates::from_json(row.try_get("options")?)?,
                    priority: row.try_get("priority")?,
                    uploaded_on: super::certificates::from_micros(row.try_get("uploaded_on_us")?)?,
                    modified_on: super::certificates::from_micros(row.try_get("modified_on_us")?)?,
                })
            }

            fn key_from_row(row: &$row) -> Result<super::StoredKey, super::StoreError> {
                use sqlx::Row as _;
                let spki_der: Vec<u8> = row.try_get("spki_der")?;
                Ok(super::StoredKey {
                    id: row.try_get("id")?,
                    key_type: super::parse_key_type(row.try_get("key_type")?)?,
                    encrypted_pkcs8: row.try_get("encrypted_pkcs8")?,
                    spki_sha256: crate::pki::keys::spki_sha256(&spki_der),
                    spki_der,
                })
            }

            async fn pool_add_key(&self, key: &super::StoredKey) -> Result<(), super::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::insert_key_in(&mut tx, "key_pool", key).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn pool_count_keys(
                &self,
                key_type: crate::pki::KeyType,
            ) -> Result<u64, super::StoreError> {
                let count: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM key_pool WHERE key_type = $1")
                        .bind(key_type.as_str())
                        .fetch_one(&self.pool)
                        .await?;
                Ok(u64::try_from(count).unwrap_or(0))
            }

            /// Writes a sealed key into `table`: `private_keys`, or `key_pool` for a key generated
            /// ahead of demand (the same columns).
            async fn insert_key_in<'c>(
                tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
                table: &str,
                key: &super::StoredKey,
            ) -> Result<(), super::StoreError> {
                sqlx::query(&format!(
                    "INSERT INTO {table} ({}) VALUES ($1, $2, $3, $4)",
                    super::KEY_COLUMNS
                ))
                .bind(key.id)
                .bind(key.key_type.as_str())
                .bind(&key.encrypted_pkcs8)
                .bind(&key.spki_der)
                .execute(&mut **tx)
                .await
                .map_err(super::on_write)?;
                Ok(())
            }

            /// Destroys a customer-uploaded key once nothing references it any more.
            async fn cert_drop_owned_key<'c>(
                tx: &mut sqlx::Transaction<'c, <$row as sqlx::Row>::Database>,
                key: Option<super::KeyRef>,
            ) -> Result<(), super::StoreError> {
                if let Some(super::KeyRef { key_id, owned: true }) = key {
                    sqlx::query("DELETE FROM private_keys WHERE id = $1")
                        .bind(key_id)
                        .execute(&mut **tx)
                        .await
                        .map_err(super::on_delete)?;
                }
                Ok(())
            }

            async fn cert_insert_hostname(
                &self,
                record: &super::HostnameRecord,
                new_key: Option<&super::StoredKey>,
            ) -> Result<(), super::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::cert_lock_csr(&mut tx, record.custom_csr_id).await?;
                if let Some(key) = new_key {
                    Self::insert_key_in(&mut tx, "private_keys", key).await?;
                }
                sqlx::query(&format!(
                    "INSERT INTO custom_hostnames ({hostname_columns}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                , hostname_columns = super::certificates::HOSTNAME_COLUMNS))
                .bind(record.id)
                .bind(&record.zone_id)
                .bind(&record.hostname)
                .bind(record.ssl_id)
                .bind(super::certificates::to_json(&record.ssl_options)?)
                .bind(record.key.map(|k| k.key_id))
                .bind(record.key.is_some_and(|k| k.owned))
                .bind(record.custom_csr_id)
                .bind(record.certificate.as_ref().map(super::certificates::to_json).transpose()?)
                .bind(record.custom_metadata.as_ref().map(super::certificates::to_json).transpose()?)
                .bind(&record.custom_origin_server)
                .bind(&record.custom_origin_sni)
                .bind(record.ownership_token)
                .bind(super::certificates::to_micros(record.created_at))
                .execute(&mut *tx)
                .await
                .map_err(super::on_write)?;
                tx.commit().await?;
                Ok(())
            }

            async fn cert_update_hostname(
                &self,
                record: &super::HostnameRecord,
                new_key: Option<&super::StoredKey>,
                replaced_key: Option<super::KeyRef>,
            ) -> Result<(), super::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::cert_lock_csr(&mut tx, record.custom_csr_id).await?;
                if let Some(key) = new_key {
                    Self::insert_key_in(&mut tx, "private_keys", key).await?;
                }
                let updated = sqlx::query(
                    "UPDATE custom_hostnames SET ssl_options = $1, key_id = $2, key_owned = $3, \
                     custom_csr_id = $4, certificate = $5, custom_metadata = $6, \
                     custom_origin_server = $7, custom_origin_sni = $8 \
                     WHERE id = $9 AND zone_id = $10",
                )
                .bind(super::certificates::to_json(&record.ssl_options)?)
                .bind(record.key.map(|k| k.key_id))
                .bind(record.key.is_some_and(|k| k.owned))
                .bind(record.custom_csr_id)
                .bind(record.certificate.as_ref().map(super::certificates::to_json).transpose()?)
                .bind(record.custom_metadata.as_ref().map(super::certificates::to_json).transpose()?)
                .bind(&record.custom_origin_server)
                .bind(&record.custom_origin_sni)
                .bind(record.id)
                .bind(&record.zone_id)
                .execute(&mut *tx)
                .await
                .map_err(super::on_write)?
                .rows_affected();
                if updated == 0 {
                    return Err(super::StoreError::NotFound);
                }
                if replaced_key != record.key {
                    Self::cert_drop_owned_key(&mut tx, replaced_key).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn cert_get_hostname(
                &self,
                zone_id: &str,
                id: uuid::Uuid,
            ) -> Result<super::HostnameRecord, super::StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {hostname_columns} FROM custom_hostnames WHERE id = $1 AND zone_id = $2"
                , hostname_columns = super::certificates::HOSTNAME_COLUMNS))
                .bind(id)
                .bind(zone_id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(super::StoreError::NotFound)?;
                Self::hostname_from_row(&row)
            }

            async fn cert_list_hostnames(
                &self,
                zone_id: &str,
                filter: &super::HostnameFilter,
                page: super::PageRequest,
            ) -> Result<super::Page<super::HostnameRecord>, super::StoreError> {
                let (limit, offset) = page.limit_offset();
                // NULL filters match everything, so one statement serves every combination.
                let condition = "zone_id = $1 AND ($2 IS NULL OR id = $2) \
                                 AND ($3 IS NULL OR hostname = $3) \
                                 AND ($4 IS NULL OR hostname LIKE $4 ESCAPE '\\')";
                let (exact, pattern) = filter
                    .hostname
                    .as_ref()
                    .map_or((None, None), super::certificates::HostnameMatch::sql);
                let rows = sqlx::query(&format!(
                    "SELECT {hostname_columns} FROM custom_hostnames WHERE {condition} \
                     ORDER BY created_at_us ASC, id ASC LIMIT $5 OFFSET $6"
                , hostname_columns = super::certificates::HOSTNAME_COLUMNS))
                .bind(zone_id)
                .bind(filter.id)
                .bind(exact)
                .bind(pattern.as_deref())
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
                let total: i64 = sqlx::query_scalar(&format!(
                    "SELECT COUNT(*) FROM custom_hostnames WHERE {condition}"
                ))
                .bind(zone_id)
                .bind(filter.id)
                .bind(exact)
                .bind(pattern.as_deref())
                .fetch_one(&self.pool)
                .await?;
                Ok(super::Page {
                    items: rows
                        .iter()
                        .map(Self::hostname_from_row)
                        .collect::<Result<_, _>>()?,
                    total_count: u64::try_from(total).unwrap_or_default(),
                })
            }

            async fn cert_delete_hostname(&self, zone_id: &str, id: uuid::Uuid) -> Result<(), super::StoreError> {
                let mut tx = self.begin_write().await?;
                let row = sqlx::query(
                    "DELETE FROM custom_hostnames WHERE id = $1 AND zone_id = $2 \
                     RETURNING key_id, key_owned",
                )
                .bind(id)
                .bind(zone_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(super::on_delete)?
                .ok_or(super::StoreError::NotFound)?;
                let key_id: Option<uuid::Uuid> = row.try_get("key_id")?;
                if let Some(key_id) = key_id {
                    let owned: bool = row.try_get("key_owned")?;
                    Self::cert_drop_owned_key(&mut tx, Some(super::KeyRef { key_id, owned })).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn cert_insert_certificate(
                &self,
                record: &super::CertificateRecord,
                new_key: Option<&super::StoredKey>,
            ) -> Result<(), super::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::cert_lock_csr(&mut tx, record.custom_csr_id).await?;
                if let Some(key) = new_key {
                    Self::insert_key_in(&mut tx, "private_keys", key).await?;
                }
                sqlx::query(&format!(
                    "INSERT INTO custom_certificates ({certificate_columns}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                , certificate_columns = super::certificates::CERTIFICATE_COLUMNS))
                .bind(record.id)
                .bind(&record.zone_id)
                .bind(record.key.key_id)
                .bind(record.key.owned)
                .bind(record.custom_csr_id)
                .bind(super::certificates::to_json(&record.certificate)?)
                .bind(super::certificates::to_json(&record.options)?)
                .bind(record.priority)
                .bind(super::certificates::to_micros(record.uploaded_on))
                .bind(super::certificates::to_micros(record.modified_on))
                .execute(&mut *tx)
                .await
                .map_err(super::on_write)?;
                tx.commit().await?;
                Ok(())
            }

            async fn cert_update_certificate(
                &self,
                record: &super::CertificateRecord,
                new_key: Option<&super::StoredKey>,
                replaced_key: super::KeyRef,
            ) -> Result<(), super::StoreError> {
                let mut tx = self.begin_write().await?;
                Self::cert_lock_csr(&mut tx, record.custom_csr_id).await?;
                if let Some(key) = new_key {
                    Self::insert_key_in(&mut tx, "private_keys", key).await?;
                }
                let updated = sqlx::query(
                    "UPDATE custom_certificates SET key_id = $1, key_owned = $2, custom_csr_id = $3, \
                     certificate = $4, options = $5, priority = $6, modified_on_us = $7 \
                     WHERE id = $8 AND zone_id = $9",
                )
                .bind(record.key.key_id)
                .bind(record.key.owned)
                .bind(record.custom_csr_id)
                .bind(super::certificates::to_json(&record.certificate)?)
                .bind(super::certificates::to_json(&record.options)?)
                .bind(record.priority)
                .bind(super::certificates::to_micros(record.modified_on))
                .bind(record.id)
                .bind(&record.zone_id)
                .execute(&mut *tx)
                .await
                .map_err(super::on_write)?
                .rows_affected();
                if updated == 0 {
                    return Err(super::StoreError::NotFound);
                }
                if replaced_key != record.key {
                    Self::cert_drop_owned_key(&mut tx, Some(replaced_key)).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn cert_get_certificate(
                &self,
                zone_id: &str,
                id: uuid::Uuid,
            ) -> Result<super::CertificateRecord, super::StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {certificate_columns} FROM custom_certificates WHERE id = $1 AND zone_id = $2"
                , certificate_columns = super::certificates::CERTIFICATE_COLUMNS))
                .bind(id)
                .bind(zone_id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(super::StoreError::NotFound)?;
                Self::certificate_from_row(&row)
            }

            async fn cert_list_certificates(
                &self,
                zone_id: &str,
                page: super::PageRequest,
            ) -> Result<super::Page<super::CertificateRecord>, super::StoreError> {
                let (limit, offset) = page.limit_offset();
                let rows = sqlx::query(&format!(
                    "SELECT {certificate_columns} FROM custom_certificates WHERE zone_id = $1 \
                     ORDER BY priority ASC, uploaded_on_us ASC, id ASC LIMIT $2 OFFSET $3"
                , certificate_columns = super::certificates::CERTIFICATE_COLUMNS))
                .bind(zone_id)
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
                let total: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM custom_certificates WHERE zone_id = $1")
                        .bind(zone_id)
                        .fetch_one(&self.pool)
                        .await?;
                Ok(super::Page {
                    items: rows
                        .iter()
                        .map(Self::certificate_from_row)
                        .collect::<Result<_, _>>()?,
                    total_count: u64::try_from(total).unwrap_or_default(),
                })
            }

            async fn cert_delete_certificate(&self, zone_id: &str, id: uuid::Uuid) -> Result<(), super::StoreError> {
                let mut tx = self.begin_write().await?;
                let row = sqlx::query(
                    "DELETE FROM custom_certificates WHERE id = $1 AND zone_id = $2 \
                     RETURNING key_id, key_owned",
                )
                .bind(id)
                .bind(zone_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(super::on_delete)?
                .ok_or(super::StoreError::NotFound)?;
                let key = super::KeyRef {
                    key_id: row.try_get("key_id")?,
                    owned: row.try_get("key_owned")?,
                };
                Self::cert_drop_owned_key(&mut tx, Some(key)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn cert_prioritize(
                &self,
                zone_id: &str,
                priorities: &[(uuid::Uuid, i64)],
            ) -> Result<(), super::StoreError> {
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
                        return Err(super::StoreError::NotFound);
                    }
                }
                tx.commit().await?;
                Ok(())
            }
        }
    };
}

pub(super) use certificate_methods;
