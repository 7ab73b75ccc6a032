//! The statements behind a zone's fallback origin, generated beside the `Store` methods that
//! call them, over the hooks `sql_store!` documents.

/// Inherent fallback origin methods of `$store`.
macro_rules! fallback_origin_statements {
    ($store:ty) => {
        impl $store {
            async fn write_fallback_origin(
                &self,
                zone_id: &str,
                origin: &str,
                at: time::OffsetDateTime,
            ) -> Result<$crate::store::FallbackOriginRecord, $crate::store::StoreError> {
                use $crate::store::records::to_micros;
                // One statement, so two writers racing on a new zone cannot both insert.
                let row = sqlx::query(&format!(
                    "INSERT INTO fallback_origins ({columns}) VALUES ($1, $2, $3, $3) \
                     ON CONFLICT (zone_id) DO UPDATE \
                     SET origin = excluded.origin, updated_at_us = excluded.updated_at_us \
                     RETURNING {columns}",
                    columns = $crate::store::sql::FALLBACK_ORIGIN_COLUMNS
                ))
                .bind(zone_id)
                .bind(origin)
                .bind(to_micros(at))
                .fetch_one(self.writer())
                .await
                .map_err($crate::store::on_write)?;
                Self::fallback_origin_from_row(&row)
            }

            async fn read_fallback_origin(
                &self,
                zone_id: &str,
            ) -> Result<Option<$crate::store::FallbackOriginRecord>, $crate::store::StoreError>
            {
                let row = sqlx::query(&format!(
                    "SELECT {} FROM fallback_origins WHERE zone_id = $1",
                    $crate::store::sql::FALLBACK_ORIGIN_COLUMNS
                ))
                .bind(zone_id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(Self::fallback_origin_from_row).transpose()
            }

            async fn remove_fallback_origin(
                &self,
                zone_id: &str,
            ) -> Result<Option<$crate::store::FallbackOriginRecord>, $crate::store::StoreError>
            {
                let row = sqlx::query(&format!(
                    "DELETE FROM fallback_origins WHERE zone_id = $1 RETURNING {}",
                    $crate::store::sql::FALLBACK_ORIGIN_COLUMNS
                ))
                .bind(zone_id)
                .fetch_optional(self.writer())
                .await
                .map_err($crate::store::on_delete)?;
                row.as_ref().map(Self::fallback_origin_from_row).transpose()
            }
        }
    };
}

pub(in crate::store) use fallback_origin_statements;
