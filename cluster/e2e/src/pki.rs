//! The webhook's TLS: a CA made for each test with the openssl CLI (what
//! Kubewarden's controller does with its own `kubewarden-ca` Secret), and a
//! serving certificate for 127.0.0.1 signed by it. The API server trusts the
//! CA through the webhook configurations' caBundle.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;

pub struct WebhookPki {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): `make setup` installs it"));
    assert!(
        output.status.success(),
        "openssl {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl WebhookPki {
    /// Makes the CA and the server certificate in `dir` (RSA 2048, one
    /// day: a test lasts minutes).
    pub fn make(dir: &Path) -> WebhookPki {
        std::fs::create_dir_all(dir).expect("the pki folder");
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "1",
                "-subj",
                "/CN=cluster-e2e webhook CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "tls.key",
                "-out",
                "tls.csr",
                "-subj",
                "/CN=policy-server",
            ],
        );
        std::fs::write(
            dir.join("tls.ext"),
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1\n",
        )
        .expect("tls.ext");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "tls.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "2",
                "-days",
                "1",
                "-sha256",
                "-extfile",
                "tls.ext",
                "-out",
                "tls.crt",
            ],
        );
        WebhookPki {
            ca_cert: dir.join("ca.crt"),
            server_cert: dir.join("tls.crt"),
            server_key: dir.join("tls.key"),
        }
    }

    /// The CA as a webhook's `clientConfig.caBundle` (base64 of the PEM).
    pub fn ca_bundle(&self) -> String {
        let pem = std::fs::read(&self.ca_cert).expect("the webhook CA");
        base64::engine::general_purpose::STANDARD.encode(pem)
    }
}
