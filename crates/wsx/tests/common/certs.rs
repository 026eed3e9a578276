//! Test certificates, generated with rcgen at test time: a CA, and a leaf for
//! `127.0.0.1` and `localhost` signed by it, written as PEM files.

use std::path::{Path, PathBuf};

/// PEM files in a directory.
pub struct TestCerts {
    /// The CA certificate: what a client trusts (`wsx connect --ca-cert`).
    pub ca: PathBuf,
    /// The leaf certificate followed by the CA's: what the server presents.
    pub chain: PathBuf,
    /// The leaf's private key (PKCS#8).
    pub key: PathBuf,
}

impl TestCerts {
    pub fn generate(dir: &Path) -> TestCerts {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wsx test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().expect("leaf key");
        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "wsx test server");
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("leaf certificate");
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
