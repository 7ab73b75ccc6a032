//! The statements behind custom hostnames' certificate packs (a hostname's first certificate
//! in its own columns, the second in the `bundle_*` columns), written once for both backends
//! as inherent methods that the `Store` methods call.

/// The pack's columns of a hostname read, after `HOSTNAME_COLUMNS`.
pub(in crate::store) const PACK_COLUMNS: &str = "certificate_id, bundle_certificate_id, \
     bundle_key_id, bundle_key_owned, bundle_csr_id, bundle_certificate";

/// `impl $store` with the pack statements, over the hooks `sql_store!` documents.
macro_rules! pack_methods {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            /// The first certificate's id and the second certificate of a hostname row.
            fn pack_from_row(
                row: &$row,
            ) -> Result<
                (Option<uuid::Uuid>, Option<$crate::store::PackCertificate>),
                $crate::store::StoreError,
            > {
                use sqlx::Row as _;
                use $crate::store::records::from_json;
                let certificate_id: Option<uuid::Uuid> = row.try_get("certificate_id")?;
                let id: Option<uuid::Uuid> = row.try_get("bundle_certificate_id")?;
                let key_id: Option<uuid::Uuid> = row.try_get("bundle_key_id")?;
                let certificate: Option<String> = row.try_get("bundle_certificate")?;
                let bundled = match (id, key_id, certificate) {
                    (Some(id), Some(key_id), Some(certificate)) => {
                        Some($crate::store::PackCertificate {
                            id,
                            key: $crate::store::KeyRef {
                                key_id,
                                owned: row.try_get("bundle_key_owned")?,
                            },
                            custom_csr_id: row.try_get("bundle_csr_id")?,
                            certificate: from_json(&certificate)?,
                        })
                    }
                    _ => None,
                };
                Ok((certificate_id, bundled))
            }

            /// Opens the write transaction of a hostname: locks the CSRs whose keys its
            /// certificates use (in id order, so two writes naming the same two CSRs cannot
            /// deadlock), then stores the keys the customer supplied.
            async fn begin_hostname_write(
                &self,
                record: &$crate::store::HostnameRecord,
                new_keys: &[$crate::store::StoredKey],
            ) -> Result<sqlx::Transaction<'static, $db>, $crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let mut csrs: Vec<uuid::Uuid> = record
                    .custom_csr_id
                    .into_iter()
                    .chain(record.bundled.as_ref().and_then(|b| b.custom_csr_id))
                    .collect();
                csrs.sort();
                csrs.dedup();
                for csr_id in csrs {
                    Self::lock_csr(&mut tx, Some(csr_id)).await?;
                }
                for key in new_keys {
                    Self::insert_key_in(&mut tx, "private_keys", key).await?;
                }
                Ok(tx)
            }

            /// Writes the pack's columns of `record` (its first certificate's id and its
            /// second certificate, or none).
            async fn write_pack_columns(
                tx: &mut sqlx::Transaction<'static, $db>,
                record: &$crate::store::HostnameRecord,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::records::to_json;
                let bundled = record.bundled.as_ref();
                sqlx::query(
                    "UPDATE custom_hostnames SET certificate_id = $1, bundle_certificate_id = $2, \
                     bundle_key_id = $3, bundle_key_owned = $4, bundle_csr_id = $5, \
                     bundle_certificate = $6 WHERE id = $7",
                )
                .bind(record.certificate_id)
                .bind(bundled.map(|b| b.id))
                .bind(bundled.map(|b| b.key.key_id))
                .bind(bundled.is_some_and(|b| b.key.owned))
                .bind(bundled.and_then(|b| b.custom_csr_id))
                .bind(bundled.map(|b| to_json(&b.certificate)).transpose()?)
                .bind(record.id)
                .execute(&mut **tx)
                .await
                .map_err($crate::store::on_write)?;
                Ok(())
            }

            /// Destroys each of `replaced` that the customer uploaded and that neither of
            /// `record`'s certificates uses any more.
            async fn drop_replaced_keys(
                tx: &mut sqlx::Transaction<'static, $db>,
                record: &$crate::store::HostnameRecord,
                replaced: &[$crate::store::KeyRef],
            ) -> Result<(), $crate::store::StoreError> {
                let in_use = |key: &$crate::store::KeyRef| {
                    record.key.is_some_and(|k| k.key_id == key.key_id)
                        || record
                            .bundled
                            .as_ref()
                            .is_some_and(|b| b.key.key_id == key.key_id)
                };
                for key in replaced.iter().filter(|key| !in_use(key)) {
                    Self::drop_owned_key(tx, Some(*key)).await?;
                }
                Ok(())
            }

            /// See [`Store::write_certificate_pack`](crate::store::Store::write_certificate_pack).
            async fn replace_pack(
                &self,
                record: &$crate::store::HostnameRecord,
                expected: $crate::store::PackKeys,
                new_key: Option<&$crate::store::StoredKey>,
                replaced_key: $crate::store::KeyRef,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::records::to_json;
                let new_keys: Vec<$crate::store::StoredKey> =
                    new_key.into_iter().cloned().collect();
                let mut tx = self.begin_hostname_write(record, &new_keys).await?;
                // Only if the pack still uses the keys it was read with: a concurrent change
                // of the pack is not overwritten with what this request read before it.
                let updated = sqlx::query(
                    "UPDATE custom_hostnames SET key_id = $1, key_owned = $2, \
                     custom_csr_id = $3, certificate = $4 \
                     WHERE id = $5 AND zone_id = $6 AND key_id IS NOT DISTINCT FROM $7 \
                     AND bundle_key_id IS NOT DISTINCT FROM $8",
                )
                .bind(record.key.map(|k| k.key_id))
                .bind(record.key.is_some_and(|k| k.owned))
                .bind(record.custom_csr_id)
                .bind(record.certificate.as_ref().map(to_json).transpose()?)
                .bind(record.id)
                .bind(&record.zone_id)
                .bind(expected.first)
                .bind(expected.second)
                .execute(&mut *tx)
                .await
                .map_err($crate::store::on_write)?
                .rows_affected();
                if updated == 0 {
                    return Err($crate::store::StoreError::NotFound);
                }
                Self::write_pack_columns(&mut tx, record).await?;
                Self::drop_replaced_keys(&mut tx, record, &[replaced_key]).await?;
                tx.commit().await?;
                Ok(())
            }

            /// Deletes a hostname and, in the same transaction, the keys the customer
            /// uploaded for either of its certificates.
            async fn delete_hostname_and_keys(
                &self,
                zone_id: &str,
                id: uuid::Uuid,
            ) -> Result<(), $crate::store::StoreError> {
                use sqlx::Row as _;
                let mut tx = self.begin_write().await?;
                let row = sqlx::query(
                    "DELETE FROM custom_hostnames WHERE id = $1 AND zone_id = $2 \
                     RETURNING key_id, key_owned, bundle_key_id, bundle_key_owned",
                )
                .bind(id)
                .bind(zone_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err($crate::store::on_delete)?
                .ok_or($crate::store::StoreError::NotFound)?;
                for (id_column, owned_column) in [
                    ("key_id", "key_owned"),
                    ("bundle_key_id", "bundle_key_owned"),
                ] {
                    let key_id: Option<uuid::Uuid> = row.try_get(id_column)?;
                    if let Some(key_id) = key_id {
                        let owned: bool = row.try_get(owned_column)?;
                        Self::drop_owned_key(
                            &mut tx,
                            Some($crate::store::KeyRef { key_id, owned }),
                        )
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            /// The customer-uploaded second keys of a zone's hostnames, for a reset to destroy
            /// once the hostnames are gone.
            async fn owned_bundle_keys(
                tx: &mut sqlx::Transaction<'static, $db>,
                zone_id: &str,
            ) -> Result<Vec<uuid::Uuid>, $crate::store::StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT bundle_key_id FROM custom_hostnames WHERE zone_id = $1 \
                     AND bundle_key_id IS NOT NULL AND bundle_key_owned = $2",
                )
                .bind(zone_id)
                .bind(true)
                .fetch_all(&mut **tx)
                .await?)
            }
        }
    };
}

pub(in crate::store) use pack_methods;
