//! A TCP relay in front of a server that can be cut off: while it is down, open connections
//! are reset and new ones are closed at once, as when a host is unreachable; back up, it relays
//! again. Tests point a client at [`Outage::authority`] instead of the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::net::{TcpListener, TcpStream};

pub struct Outage {
    address: SocketAddr,
    down: Arc<AtomicBool>,
    /// Bumped on every cut: relays started before it end.
    generation: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Outage {
    /// Relays 127.0.0.1:<free port> to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the relay");
        let address = listener.local_addr().expect("the relay's address");
        let down = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(AtomicU64::new(0));
        let target = target.to_string();
        let (accept_down, accept_generation) = (down.clone(), generation.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if accept_down.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let generation = accept_generation.clone();
                let started = generation.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let relay = tokio::io::copy_bidirectional(&mut inbound, &mut outbound);
                    let cut = async {
                        while generation.load(Ordering::SeqCst) == started {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        }
                    };
                    tokio::select! {
                        _ = relay => {}
                        () = cut => {}
                    }
                });
            }
        });
        Self {
            address,
            down,
            generation,
            accept,
        }
    }

    /// `127.0.0.1:<port>` of the relay.
    pub fn authority(&self) -> String {
        self.address.to_string()
    }

    /// Cuts every connection and refuses new ones until [`Outage::end`].
    pub fn begin(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn end(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
