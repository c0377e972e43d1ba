//! A byte-level proxy in front of a node, optionally terminating TLS: it carries websockets
//! (which the HTTP-level `RpcProxy` cannot) and lets tests reach a node over `https://` and
//! `wss://` with a certificate signed by the test CA in `fixtures/tls`. Cutting it drops every
//! open connection at once, as a provider outage or a lost network does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types::pem::PemObject};

/// The test certificate authority's certificate: point `SSL_CERT_FILE` at it to trust the
/// proxy's TLS endpoint.
pub fn test_ca_file() -> PathBuf {
    fixtures().join("ca.pem")
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls")
}

#[derive(Default)]
struct Shared {
    down: AtomicBool,
    accepted: AtomicUsize,
    live: Mutex<JoinSet<()>>,
}

/// A running proxy; it stops when dropped.
pub struct SocketProxy {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    abort: AbortHandle,
}

impl Drop for SocketProxy {
    fn drop(&mut self) {
        self.abort.abort();
        self.shared.live.lock().unwrap().abort_all();
    }
}

impl SocketProxy {
    /// A plain proxy on a free 127.0.0.1 port that forwards to `upstream`.
    pub async fn plain(upstream: SocketAddr) -> std::io::Result<Self> {
        Self::start(upstream, None).await
    }

    /// A proxy that speaks TLS to its clients (as `localhost` and 127.0.0.1) and plain TCP to
    /// `upstream`.
    pub async fn tls(upstream: SocketAddr) -> std::io::Result<Self> {
        let certs = rustls::pki_types::CertificateDer::pem_file_iter(fixtures().join("server.pem"))
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(std::io::Error::other)?;
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(fixtures().join("server.key"))
            .map_err(std::io::Error::other)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(std::io::Error::other)?;
        Self::start(upstream, Some(TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn start(upstream: SocketAddr, tls: Option<TlsAcceptor>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let has_tls = tls.is_some();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                if state.down.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                state.accepted.fetch_add(1, Ordering::SeqCst);
                let tls = tls.clone();
                state.live.lock().unwrap().spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else { return };
                    match tls {
                        Some(acceptor) => {
                            if let Ok(client) = acceptor.accept(client).await {
                                pipe(client, server).await;
                            }
                        }
                        None => pipe(client, server).await,
                    }
                });
            }
        });
        Ok(Self { addr, tls: has_tls, shared, abort: task.abort_handle() })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint as a URL of `scheme` ("http" or "ws"; made "https"/"wss" when TLS is on).
    /// TLS endpoints are named `localhost`, the name on the test certificate.
    pub fn url(&self, scheme: &str) -> String {
        if self.tls {
            format!("{scheme}s://localhost:{}", self.addr.port())
        } else {
            format!("{scheme}://{}", self.addr)
        }
    }

    /// Going down cuts every open connection and refuses new ones until it comes back.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
        if down {
            self.shared.live.lock().unwrap().abort_all();
        }
    }

    /// Connections accepted so far (a client that redials shows up here).
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

async fn pipe(mut client: impl AsyncRead + AsyncWrite + Unpin, mut server: TcpStream) {
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
