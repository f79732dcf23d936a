//! A TCP proxy in front of a node, to cut links between nodes: a node
//! advertises the proxy's address, so clients and peers all come through
//! it. Peer connections name their sender (the word after the magic), so
//! the proxy can refuse, and cut, those from chosen nodes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dqlite_server::PEER_MAGIC;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Default)]
struct State {
    blocked: HashSet<u64>,
    /// Relays of peer connections, by sender.
    relays: HashMap<u64, Vec<AbortHandle>>,
    /// Bytes relayed from each sender's peer connections to the node.
    relayed: HashMap<u64, Arc<AtomicU64>>,
    /// Senders whose connection is cut once that many bytes of theirs
    /// were relayed (once).
    cut_at: HashMap<u64, u64>,
}

pub struct Proxy {
    pub address: String,
    state: Arc<Mutex<State>>,
    accept: AbortHandle,
}

impl Proxy {
    /// Listens on 127.0.0.1:0 and relays to `backend`.
    pub async fn start(backend: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(relay(stream, backend.clone(), shared.clone()));
            }
        })
        .abort_handle();
        Self {
            address,
            state,
            accept,
        }
    }

    /// Refuses (and cuts) peer connections from `nodes`, or lets them
    /// through again with an empty set.
    pub fn block(&self, nodes: &[u64]) {
        let mut state = self.state.lock().unwrap();
        state.blocked = nodes.iter().copied().collect();
        for node in nodes {
            for relay in state.relays.remove(node).unwrap_or_default() {
                relay.abort();
            }
        }
    }
}

impl Proxy {
    /// Bytes relayed so far from node `id`'s peer connections.
    pub fn relayed_from(&self, id: u64) -> u64 {
        self.state
            .lock()
            .unwrap()
            .relayed
            .get(&id)
            .map_or(0, |n| n.load(Ordering::Relaxed))
    }

    /// Cuts node `id`'s peer connection once `bytes` of its traffic were
    /// relayed in all (once; later connections pass).
    pub fn cut_after(&self, id: u64, bytes: u64) {
        self.state.lock().unwrap().cut_at.insert(id, bytes);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        let mut state = self.state.lock().unwrap();
        for relay in state.relays.drain().flat_map(|(_, r)| r) {
            relay.abort();
        }
    }
}

async fn relay(mut client: TcpStream, backend: String, state: Arc<Mutex<State>>) {
    let mut head = [0u8; 16];
    if client.read_exact(&mut head[..8]).await.is_err() {
        return;
    }
    let mut head_len = 8;
    let mut from = None;
    if u64::from_le_bytes(head[..8].try_into().unwrap()) == PEER_MAGIC {
        if client.read_exact(&mut head[8..]).await.is_err() {
            return;
        }
        head_len = 16;
        let id = u64::from_le_bytes(head[8..].try_into().unwrap());
        if state.lock().unwrap().blocked.contains(&id) {
            return;
        }
        from = Some(id);
    }
    let Ok(mut server) = TcpStream::connect(&backend).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let _ = client.set_nodelay(true);
    if server.write_all(&head[..head_len]).await.is_err() {
        return;
    }
    let copy = match from {
        None => tokio::spawn(async move {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }),
        Some(id) => {
            let counter = state.lock().unwrap().relayed.entry(id).or_default().clone();
            let state = state.clone();
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let total = counter.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
                        let cut = {
                            let mut state = state.lock().unwrap();
                            let due = state.cut_at.get(&id).is_some_and(|&at| total >= at);
                            if due {
                                state.cut_at.remove(&id);
                            }
                            due
                        };
                        if cut || server_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                let down = tokio::io::copy(&mut server_read, &mut client_write);
                tokio::select! {
                    () = up => {}
                    _ = down => {}
                }
            })
        }
    };
    if let Some(id) = from {
        state
            .lock()
            .unwrap()
            .relays
            .entry(id)
            .or_default()
            .push(copy.abort_handle());
    }
    let _ = copy.await;
}
