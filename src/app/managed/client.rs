//! The HTTP client the ACME library talks to the CA through: hyper over rustls with the ring
//! provider (as the edge and sqlx use), trusting `EDGECERT_ACME_CA_BUNDLE` or Mozilla's roots.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub(super) struct AcmeHttp(Client<HttpsConnector<HttpConnector>, BodyWrapper<Bytes>>);

impl AcmeHttp {
    /// `bundle_pem`: the roots to trust instead of Mozilla's.
    pub(super) fn new(bundle_pem: Option<&[u8]>) -> anyhow::Result<Self> {
        let mut roots = RootCertStore::empty();
        match bundle_pem {
            Some(pem) => {
                for certificate in CertificateDer::pem_slice_iter(pem) {
                    let certificate =
                        certificate.context("EDGECERT_ACME_CA_BUNDLE is not PEM certificates")?;
                    roots
                        .add(certificate)
                        .context("EDGECERT_ACME_CA_BUNDLE holds an unusable root")?;
                }
                anyhow::ensure!(
                    !roots.is_empty(),
                    "EDGECERT_ACME_CA_BUNDLE holds no CERTIFICATE block"
                );
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("TLS settings for the ACME client")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            // RFC 8555 section 6.1: ACME is HTTPS only.
            .https_only()
            .enable_http1()
            .build();
        Ok(Self(Client::builder(TokioExecutor::new()).build(connector)))
    }
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        request: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let sent = self.0.request(request);
        Box::pin(async move {
            match sent.await {
                Ok(response) => Ok(BytesResponse::from(response)),
                Err(error) => Err(instant_acme::Error::Other(Box::new(error))),
            }
        })
    }
}
