//! What the edge serves by SNI: an in-memory map from hostname to certificate chain and key,
//! built from the store and replaced whole when it changes, so a handshake never waits for
//! the database and a connection keeps the certificate it was served.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{SignatureAlgorithm, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::Clock;
use crate::pki::MasterKey;
use crate::store::{Store, StoreError, StoredCertificate};

/// One served certificate: its chain and its key, opened in memory only.
#[derive(Clone)]
struct Served {
    key: Arc<CertifiedKey>,
    not_after: OffsetDateTime,
}

/// A stored certificate and key as last opened; an entry whose row, key and certificate are
/// unchanged is reused by the next reload instead of being opened again.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Source {
    row: Uuid,
    key_id: Uuid,
    fingerprint: String,
}

/// What is served for one name: one certificate, or a certificate pack's two (ECDSA first),
/// of which each handshake gets the first the client can verify.
#[derive(Clone)]
struct Entry(Vec<Served>);

impl Entry {
    /// The first live certificate whose key signs with a scheme in `offered`, else the first
    /// live one (rustls then refuses the handshake, as it would for any certificate the
    /// client cannot verify).
    fn choose(
        &self,
        offered: &[SignatureScheme],
        now: OffsetDateTime,
    ) -> Option<Arc<CertifiedKey>> {
        let mut live = self
            .0
            .iter()
            .filter(|served| served.not_after > now)
            .peekable();
        let first = live.peek().map(|served| Arc::clone(&served.key));
        live.find(|served| served.key.key.choose_scheme(offered).is_some())
            .map(|served| Arc::clone(&served.key))
            .or(first)
    }
}

/// Hostname (lower case, no trailing dot) to what is served for it.
#[derive(Default)]
pub struct ServedMap {
    exact: HashMap<String, Entry>,
    /// `*.example.net` under `example.net`: it matches exactly one more label.
    wildcard: HashMap<String, Entry>,
    opened: HashMap<Source, Served>,
}

impl fmt::Debug for ServedMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names and counts only: nothing of a key.
        f.debug_struct("ServedMap")
            .field("exact", &self.exact.len())
            .field("wildcard", &self.wildcard.len())
            .finish_non_exhaustive()
    }
}

impl ServedMap {
    /// What to serve for `server_name` at `now`: an exact entry, else the wildcard of its
    /// parent; an entry that has expired since the last reload is not served.
    pub fn lookup(&self, server_name: &str, now: OffsetDateTime) -> Option<Arc<CertifiedKey>> {
        self.lookup_for(server_name, &[], now)
    }

    /// [`ServedMap::lookup`] for a client that offered the signature schemes `offered`: of a
    /// certificate pack, the certificate whose key signs with one of them (ECDSA when the
    /// client takes both, RSA for a client that offers only RSA schemes).
    pub fn lookup_for(
        &self,
        server_name: &str,
        offered: &[SignatureScheme],
        now: OffsetDateTime,
    ) -> Option<Arc<CertifiedKey>> {
        let name = server_name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(key) = self.exact.get(&name).and_then(|e| e.choose(offered, now)) {
            return Some(key);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard
            .get(parent)
            .and_then(|entry| entry.choose(offered, now))
    }

    /// How many names are served (exact and wildcard).
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `served` for `name` unless something is already served for it: callers insert
    /// in precedence order, first wins.
    fn offer(&mut self, name: &str, served: &Served) {
        self.offer_entry(name, &Entry(vec![served.clone()]));
    }

    fn offer_entry(&mut self, name: &str, entry: &Entry) {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let (map, key) = match name.strip_prefix("*.") {
            Some(parent) => (&mut self.wildcard, parent.to_string()),
            None => (&mut self.exact, name),
        };
        map.entry(key).or_insert_with(|| entry.clone());
    }

    /// Reads everything the edge serves from `store`, reusing what `previous` already opened.
    ///
    /// Precedence for one name: a custom hostname's own certificate (the oldest hostname
    /// first, should two zones hold the same name), then zone custom certificates,
    /// `legacy_custom` before `sni_custom` (as Cloudflare documents), each by `priority`
    /// (lower first), ties by upload time, then id. An exact name beats a wildcard.
    /// Expired certificates are left out; one that cannot be opened is logged and skipped.
    pub async fn load(
        store: &dyn Store,
        master_key: &MasterKey,
        previous: &ServedMap,
        now: OffsetDateTime,
    ) -> Result<Self, StoreError> {
        let hostnames = store.served_hostnames().await?;
        let mut certificates = store.served_certificates().await?;
        // Stable: the store's (priority, upload time, id) order holds within each type.
        certificates.sort_by_key(|record| record.options.certificate_type != "legacy_custom");
        let mut map = ServedMap::default();
        for record in &hostnames {
            let (Some(certificate), Some(key)) = (&record.certificate, record.key) else {
                continue;
            };
            let mut pack = Vec::with_capacity(2);
            let bundled = record
                .bundled
                .as_ref()
                .map(|b| (b.key.key_id, &b.certificate));
            for (key_id, certificate) in std::iter::once((key.key_id, certificate)).chain(bundled) {
                pack.extend(
                    map.open(
                        store,
                        master_key,
                        previous,
                        record.id,
                        key_id,
                        certificate,
                        now,
                    )
                    .await,
                );
            }
            // ECDSA first: smaller and faster, and what Cloudflare serves to clients that
            // take both; a client offering only RSA schemes gets the RSA one.
            pack.sort_by_key(|served| served.key.key.algorithm() != SignatureAlgorithm::ECDSA);
            if !pack.is_empty() {
                map.offer_entry(&record.hostname, &Entry(pack));
            }
        }
        // Cloudflare deploys `staging` certificates to its staging edge only; this edge is
        // production.
        let production = certificates
            .iter()
            .filter(|record| record.options.deploy.as_deref() != Some("staging"));
        for record in production {
            let certificate = &record.certificate;
            if let Some(served) = map
                .open(
                    store,
                    master_key,
                    previous,
                    record.id,
                    record.key.key_id,
                    certificate,
                    now,
                )
                .await
            {
                for host in &certificate.hosts {
                    map.offer(host, &served);
                }
            }
        }
        Ok(map)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site per record kind, all named"
    )]
    async fn open(
        &mut self,
        store: &dyn Store,
        master_key: &MasterKey,
        previous: &ServedMap,
        row: Uuid,
        key_id: Uuid,
        certificate: &StoredCertificate,
        now: OffsetDateTime,
    ) -> Option<Served> {
        if certificate.expires_on <= now {
            return None;
        }
        let source = Source {
            row,
            key_id,
            fingerprint: certificate.fingerprint_sha256.clone(),
        };
        if let Some(served) = previous.opened.get(&source) {
            self.opened.insert(source, served.clone());
            return Some(served.clone());
        }
        match open_certified(store, master_key, key_id, certificate).await {
            Ok(key) => {
                let served = Served {
                    key: Arc::new(key),
                    not_after: certificate.expires_on,
                };
                self.opened.insert(source, served.clone());
                Some(served)
            }
            Err(problem) => {
                tracing::warn!(%row, %key_id, %problem, "not serving a stored certificate");
                None
            }
        }
    }
}

async fn open_certified(
    store: &dyn Store,
    master_key: &MasterKey,
    key_id: Uuid,
    certificate: &StoredCertificate,
) -> Result<CertifiedKey, String> {
    let chain = CertificateDer::pem_slice_iter(certificate.bundle_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("certificate bundle: {error}"))?;
    if chain.is_empty() {
        return Err("certificate bundle holds no certificate".into());
    }
    let stored = store
        .get_key(key_id)
        .await
        .map_err(|error| format!("key: {error}"))?;
    let key = stored
        .open(master_key)
        .map_err(|error| format!("key: {error}"))?;
    // The copy is wiped when dropped (pki-types zeroizes private key buffers).
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec()));
    let signing = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|error| format!("key: {error}"))?;
    Ok(CertifiedKey::new(chain, signing))
}

/// The rustls certificate resolver over the current [`ServedMap`].
#[derive(Debug, Default)]
pub struct Resolver {
    current: RwLock<Arc<ServedMap>>,
    clock: Clock,
}

impl Resolver {
    /// An empty resolver that judges expiry by `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            current: RwLock::default(),
            clock,
        }
    }

    /// The map now served; handshakes already started keep the one they looked up.
    pub fn current(&self) -> Arc<ServedMap> {
        match self.current.read() {
            Ok(map) => Arc::clone(&map),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn replace(&self, map: ServedMap) {
        let map = Arc::new(map);
        match self.current.write() {
            Ok(mut current) => *current = map,
            Err(poisoned) => *poisoned.into_inner() = map,
        }
    }

    pub fn lookup(&self, server_name: &str) -> Option<Arc<CertifiedKey>> {
        self.current().lookup(server_name, self.clock.now())
    }

    /// What to serve a client whose ClientHello named `server_name` and offered the
    /// signature schemes `offered`.
    pub fn lookup_for(
        &self,
        server_name: &str,
        offered: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.current()
            .lookup_for(server_name, offered, self.clock.now())
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let offered = client_hello.signature_schemes();
        self.lookup_for(client_hello.server_name()?, offered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(valid_for: time::Duration) -> Served {
        let key = rcgen::KeyPair::generate().expect("P-256 key");
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = rustls::crypto::ring::sign::any_supported_type(&der).expect("signing key");
        Served {
            key: Arc::new(CertifiedKey::new(Vec::new(), signing)),
            not_after: OffsetDateTime::now_utc() + valid_for,
        }
    }

    #[test]
    fn names_match_exactly_or_by_one_wildcard_label_first_offer_wins() {
        let now = OffsetDateTime::now_utc();
        let (exact, wildcard, later) = (
            served(time::Duration::days(1)),
            served(time::Duration::days(1)),
            served(time::Duration::days(1)),
        );
        let mut map = ServedMap::default();
        map.offer("App.Example.com.", &exact);
        map.offer("*.example.com", &wildcard);
        map.offer("app.example.com", &later);
        let is = |name: &str, expected: Option<&Served>| {
            let found = map.lookup(name, now);
            assert_eq!(
                found.map(|key| Arc::as_ptr(&key)),
                expected.map(|served| Arc::as_ptr(&served.key)),
                "{name}"
            );
        };
        is("app.example.com", Some(&exact));
        is("APP.example.com.", Some(&exact));
        is("www.example.com", Some(&wildcard));
        is("a.www.example.com", None);
        is("example.com", None);
        is("other.test", None);
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn an_expired_entry_is_not_served_and_uncovers_the_wildcard() {
        let now = OffsetDateTime::now_utc();
        let mut map = ServedMap::default();
        map.offer("app.example.com", &served(time::Duration::seconds(-1)));
        let wildcard = served(time::Duration::days(1));
        map.offer("*.example.com", &wildcard);
        let found = map.lookup("app.example.com", now).expect("the wildcard");
        assert!(Arc::ptr_eq(&found, &wildcard.key));
        assert!(
            map.lookup("app.example.com", now + time::Duration::days(2))
                .is_none()
        );
    }
}
