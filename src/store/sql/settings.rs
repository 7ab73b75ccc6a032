//! The statements behind stored API token hashes and settings, generated beside the `Store` methods that
//! call them, over the hooks `sql_store!` documents.

/// Inherent API token and settings methods of `$store`.
macro_rules! settings_statements {
    ($store:ty) => {
        impl $store {
            async fn read_token_hashes(&self) -> Result<Vec<[u8; 32]>, $crate::store::StoreError> {
                let hashes: Vec<Vec<u8>> =
                    sqlx::query_scalar("SELECT token_sha256 FROM api_tokens")
                        .fetch_all(&self.pool)
                        .await?;
                hashes.into_iter().map($crate::store::hash_array).collect()
            }

            async fn write_token(
                &self,
                hash: &[u8; 32],
                label: &str,
            ) -> Result<bool, $crate::store::StoreError> {
                let inserted = sqlx::query(
                    "INSERT INTO api_tokens (token_sha256, label) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&hash[..])
                .bind(label)
                .execute(self.writer())
                .await?
                .rows_affected();
                Ok(inserted == 1)
            }

            async fn replace_token_hash(
                &self,
                old: &[u8; 32],
                new: &[u8; 32],
            ) -> Result<(), $crate::store::StoreError> {
                // The UPDATE cannot take `new` when another instance already wrote it; the
                // old row is then simply dropped. Both in one transaction.
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "UPDATE api_tokens SET token_sha256 = $1 WHERE token_sha256 = $2 \
                     AND NOT EXISTS (SELECT 1 FROM api_tokens WHERE token_sha256 = $1)",
                )
                .bind(&new[..])
                .bind(&old[..])
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM api_tokens WHERE token_sha256 = $1")
                    .bind(&old[..])
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn read_setting(
                &self,
                name: &str,
            ) -> Result<Option<String>, $crate::store::StoreError> {
                Ok(
                    sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await?,
                )
            }

            async fn read_or_write_setting(
                &self,
                name: &str,
                value: &str,
            ) -> Result<String, $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(name)
                .bind(value)
                .execute(self.writer())
                .await?;
                Ok(
                    sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                        .bind(name)
                        .fetch_one(&self.pool)
                        .await?,
                )
            }
        }
    };
}

pub(in crate::store) use settings_statements;
