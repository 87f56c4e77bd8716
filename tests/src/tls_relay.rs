//! HTTPS in front of the emulator (tests/tls_proxy.py): TLS with a certificate for `localhost`
//! from a test authority, each connection relayed to the emulator. A store built on it trusting
//! that authority takes the production HTTPS path, certificate checks included.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use crate::{emulator, free_port, repo_root, spawn_tied_to_this_process, wait_for_port};

pub struct TlsRelay {
    /// `https://localhost:<port>`.
    pub url: String,
    pub ca_pem: Vec<u8>,
    dir: PathBuf,
    _process: crate::TiedProcess,
}

impl TlsRelay {
    /// Connections whose TLS handshake succeeded, and so were relayed, so far.
    pub fn connections(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("connections"))
            .map(|count| count.trim().parse().expect("a count"))
            .unwrap_or(0)
    }
}

/// The relay of this test binary, started on first use.
pub fn tls_relay() -> &'static TlsRelay {
    static RELAY: OnceLock<TlsRelay> = OnceLock::new();
    RELAY.get_or_init(|| {
        let upstream = emulator()
            .endpoint
            .rsplit(':')
            .next()
            .expect("the emulator's endpoint has a port")
            .to_string();
        let port = free_port();
        let root = repo_root();
        let logs = root.join("target/test-logs");
        let dir = logs.join(format!("tls-relay-{port}"));
        std::fs::create_dir_all(&dir).expect("relay directory");
        let process = spawn_tied_to_this_process(
            &format!(
                "exec {} {} {port} {} {upstream}",
                root.join(".venv/bin/python").display(),
                root.join("tests/tls_proxy.py").display(),
                dir.display()
            ),
            &[],
            &logs.join(format!("tls-relay-{port}.log")),
        );
        wait_for_port(port, Duration::from_secs(60));
        let ca_pem = std::fs::read(dir.join("ca.pem")).expect("the relay wrote ca.pem before listening");
        TlsRelay {
            url: format!("https://localhost:{port}"),
            ca_pem,
            dir,
            _process: process,
        }
    })
}
