//! The whole-table reads the edge reloads from (what it serves by SNI and where it routes
//! each hostname), generated beside the `Store` methods that call them.

/// Inherent read methods of `$store` for the edge's reload; `$row` is its row type.
macro_rules! edge_reads {
    ($store:ty, $row:ty) => {
        impl $store {
            /// Every custom hostname with a certificate and a key, oldest first.
            async fn read_served_hostnames(
                &self,
            ) -> Result<Vec<$crate::store::HostnameRecord>, $crate::store::StoreError> {
                let rows = sqlx::query(&format!(
                    "{} WHERE certificate IS NOT NULL AND key_id IS NOT NULL \
                     ORDER BY created_at_us ASC, id ASC",
                    $crate::store::sql::hostname_select()
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::hostname_from_row).collect()
            }

            async fn read_served_certificates(
                &self,
            ) -> Result<Vec<$crate::store::CertificateRecord>, $crate::store::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {} FROM custom_certificates \
                     ORDER BY priority ASC, uploaded_on_us ASC, id ASC",
                    $crate::store::sql::CERTIFICATE_COLUMNS
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::certificate_from_row).collect()
            }

            /// Only the columns routing needs: a reload every second must not decode every
            /// hostname's certificate JSON a second time.
            async fn read_hostname_routes(
                &self,
            ) -> Result<Vec<$crate::store::HostnameRoute>, $crate::store::StoreError> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT id, zone_id, hostname, custom_origin_server, custom_origin_sni, \
                     ownership_token FROM custom_hostnames ORDER BY created_at_us ASC, id ASC",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|row: &$row| {
                        Ok($crate::store::HostnameRoute {
                            id: row.try_get("id")?,
                            zone_id: row.try_get("zone_id")?,
                            hostname: row.try_get("hostname")?,
                            custom_origin_server: row.try_get("custom_origin_server")?,
                            custom_origin_sni: row.try_get("custom_origin_sni")?,
                            ownership_token: row.try_get("ownership_token")?,
                        })
                    })
                    .collect()
            }

            async fn read_fallback_origins(
                &self,
            ) -> Result<Vec<$crate::store::FallbackOriginRecord>, $crate::store::StoreError>
            {
                let rows = sqlx::query(&format!(
                    "SELECT {} FROM fallback_origins ORDER BY zone_id",
                    $crate::store::sql::FALLBACK_ORIGIN_COLUMNS
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(Self::fallback_origin_from_row).collect()
            }
        }
    };
}

pub(in crate::store) use edge_reads;
