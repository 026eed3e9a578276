//! Test certificates, made with rcgen when a test runs, so no private key is committed
//! and none expires. One private function, `generate`, makes every one of them; the two
//! front-ends differ in how a client comes to trust the result:
//!
//! - [`TestCerts`]: a CA and a leaf it signed, as PEM files. Processes (`wsx echo`,
//!   `wsx connect --ca-cert`, Chromium) read files, and trusting a CA rather than the leaf
//!   itself is what a real deployment does.
//! - [`self_signed`]: one certificate that is its own issuer, in memory as rustls types, so
//!   a test can trust exactly that certificate and nothing else.

use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::path::{Path, PathBuf};
use wsx::tls::rustls_crate::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// What a server presents to clients: a leaf for these names.
const SERVER_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// What a certificate is for.
enum Kind<'a> {
    /// A CA that signs leaves (no names of its own).
    Ca,
    /// A server certificate, signed by the given CA or, if none, by its own key.
    Leaf(Option<&'a Issuer<'static, KeyPair>>),
}

/// Makes a key pair and a certificate for `names` (DNS names or IP literals). Returns the
/// parameters too: a CA needs them again to become an [`Issuer`].
fn generate(common_name: &str, names: &[&str], kind: Kind<'_>) -> (Certificate, KeyPair, CertificateParams) {
    let key = KeyPair::generate().expect("generate a key pair");
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("valid subject names");
    params.distinguished_name.push(DnType::CommonName, common_name);
    let cert = match kind {
        Kind::Ca => {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.self_signed(&key)
        }
        Kind::Leaf(Some(ca)) => params.signed_by(&key, ca),
        Kind::Leaf(None) => params.self_signed(&key),
    }
    .expect("sign the certificate");
    (cert, key, params)
}

/// PEM files in a directory: a CA, and a leaf for `127.0.0.1` and `localhost` it signed.
#[derive(Debug)]
pub struct TestCerts {
    /// The CA certificate: what a client trusts (`wsx connect --ca-cert`).
    pub ca: PathBuf,
    /// The leaf certificate followed by the CA's: what the server presents.
    pub chain: PathBuf,
    /// The leaf's private key (PKCS#8).
    pub key: PathBuf,
}

impl TestCerts {
    /// Generates the CA and the leaf and writes them to `ca.pem`, `chain.pem` and
    /// `key.pem` in `dir`.
    pub fn generate(dir: &Path) -> TestCerts {
        let (ca_cert, ca_key, ca_params) = generate("wsx test CA", &[], Kind::Ca);
        let ca = Issuer::new(ca_params, ca_key);
        let (leaf, leaf_key, _) = generate("wsx test server", &SERVER_NAMES, Kind::Leaf(Some(&ca)));
        let certs = TestCerts {
            ca: dir.join("ca.pem"),
            chain: dir.join("chain.pem"),
            key: dir.join("key.pem"),
        };
        std::fs::write(&certs.ca, ca_cert.pem()).unwrap();
        std::fs::write(&certs.chain, format!("{}{}", leaf.pem(), ca_cert.pem())).unwrap();
        std::fs::write(&certs.key, leaf_key.serialize_pem()).unwrap();
        certs
    }
}

/// A self-signed certificate for `names` (DNS names or IP literals) and its key. Being its
/// own issuer, the certificate is also the trust root a client needs for it.
pub fn self_signed(names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let (cert, key, _) = generate("wsx test server", names, Kind::Leaf(None));
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.der().clone(), key)
}
