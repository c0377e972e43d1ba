//! TLS for `https://` and `wss://` endpoints.
//!
//! Both transports use rustls, and reqwest builds its TLS settings for every client, even one
//! that only ever speaks plain HTTP, so a crypto provider must be installed before the first
//! provider is built. ring is the one compiled in: it needs no system OpenSSL.

use std::sync::Once;

/// Makes ring the process's rustls provider; later calls do nothing.
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // An error means another provider is already installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
