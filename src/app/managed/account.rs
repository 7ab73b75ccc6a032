//! The ACME account: registered once per directory, its key sealed under the master key and
//! kept with its account URL in the database, so every instance and restart uses the same one.

use instant_acme::{Account, ExternalAccountKey, NewAccount};
use rustls_pki_types::PrivatePkcs8KeyDer;

use super::{Acme, Failure};
use crate::AppState;
use crate::pki::PrivateKey;
use crate::store::{AcmeAccountRecord, StoredKey};

impl Acme {
    /// The account, loaded or registered on first use and then kept in memory.
    pub(super) async fn account(&self, state: &AppState) -> Result<Account, Failure> {
        let mut cached = self.account.lock().await;
        if let Some(account) = cached.as_ref() {
            return Ok(account.clone());
        }
        let stored = match state.store.get_acme_account(&self.directory).await? {
            Some(stored) => stored,
            None => self.register(state).await?,
        };
        let account = self.restore(state, &stored).await?;
        *cached = Some(account.clone());
        Ok(account)
    }

    async fn register(&self, state: &AppState) -> Result<AcmeAccountRecord, Failure> {
        let contact = self.email.as_ref().map(|email| format!("mailto:{email}"));
        let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
        let eab = self
            .eab
            .as_ref()
            .map(|(kid, hmac)| ExternalAccountKey::new(kid.clone(), hmac));
        let (account, credentials) = Account::builder_with_http(Box::new(self.http.clone()))
            .create(
                &NewAccount {
                    contact: &contacts,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                self.directory.clone(),
                eab.as_ref(),
            )
            .await?;
        let key = PrivateKey::from_ring_p256_pkcs8(credentials.private_key().secret_pkcs8_der())
            .map_err(|error| Failure::Transient(format!("ACME account key: {error}")))?;
        let sealed = StoredKey::seal(&key, &state.master_key)
            .map_err(|error| Failure::Transient(format!("ACME account key: {error}")))?;
        let record = AcmeAccountRecord {
            directory: self.directory.clone(),
            account_url: account.id().to_string(),
            key: sealed,
            created_at: state.clock.now(),
        };
        // Another instance may have registered first: its account is the one kept.
        let stored = state.store.put_acme_account(&record).await?;
        tracing::info!(directory = %self.directory, "registered the ACME account");
        Ok(stored)
    }

    async fn restore(
        &self,
        state: &AppState,
        stored: &AcmeAccountRecord,
    ) -> Result<Account, Failure> {
        let key = stored
            .key
            .open(&state.master_key)
            .map_err(|error| Failure::Transient(format!("ACME account key: {error}")))?;
        let pkcs8 = PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec());
        Ok(Account::builder_with_http(Box::new(self.http.clone()))
            .from_parts(stored.account_url.clone(), pkcs8, self.directory.clone())
            .await?)
    }
}
