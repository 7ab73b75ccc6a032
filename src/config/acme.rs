//! Settings of managed certificates: the ACME CA edgecert orders them from.

use std::fmt;
use std::path::PathBuf;

use clap::Args;

use super::{Secret, secret_from_env};

/// Where and as whom edgecert orders managed certificates. Without a directory, hostnames
/// get none (their `ssl.status` stays `pending_validation`, as before).
#[derive(Clone, Default, Args)]
pub struct AcmeArgs {
    /// ACME v2 directory URL (e.g. Pebble's https://127.0.0.1:14000/dir). Set: custom
    /// hostnames with ssl.method "http" and no uploaded certificate get one issued there.
    #[arg(long = "acme-directory", env = "EDGECERT_ACME_DIRECTORY")]
    pub directory: Option<String>,

    /// PEM file of the roots trusted for the ACME server's own HTTPS (default: Mozilla's).
    #[arg(long = "acme-ca-bundle", env = "EDGECERT_ACME_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,

    /// Contact address registered with the ACME account.
    #[arg(long = "acme-email", env = "EDGECERT_ACME_EMAIL")]
    pub email: Option<String>,

    /// External account binding key id, for CAs that require one.
    #[arg(long = "acme-eab-kid", env = "EDGECERT_ACME_EAB_KID")]
    pub eab_kid: Option<String>,

    /// External account binding HMAC key (base64url, as CAs hand it out). Environment only.
    #[arg(skip = secret_from_env("EDGECERT_ACME_EAB_HMAC_KEY"))]
    pub eab_hmac_key: Option<Secret>,
}

impl fmt::Debug for AcmeArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcmeArgs")
            .field("directory", &self.directory)
            .field("ca_bundle", &self.ca_bundle)
            .field("email", &self.email)
            .field("eab_kid", &self.eab_kid)
            .field("eab_hmac_key", &self.eab_hmac_key)
            .finish()
    }
}
