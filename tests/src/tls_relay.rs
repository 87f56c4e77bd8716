//! HTTPS in front of the emulator (tests/tls_proxy.py): TLS with a certificate for `localhost`
//! from a test authority, each connection relayed to the emulator. A store built on it trusting
//! that authority takes the production HTTPS path, certificate checks included.

use std::sync::OnceLock;

use crate::{TlsStandIn, emulator};

pub struct TlsRelay {
    /// `https://localhost:<port>`.
    pub url: String,
    stand_in: TlsStandIn,
}

impl TlsRelay {
    pub fn ca_pem(&self) -> &[u8] {
        &self.stand_in.ca_pem
    }

    /// Connections whose TLS handshake succeeded, and so were relayed, so far.
    pub fn connections(&self) -> u64 {
        std::fs::read_to_string(self.stand_in.dir.join("connections"))
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
            .expect("the emulator's endpoint has a port");
        let stand_in = TlsStandIn::start("tls_proxy.py", "tls-relay", upstream);
        TlsRelay {
            url: format!("https://localhost:{}", stand_in.port),
            stand_in,
        }
    })
}
