//! A TCP proxy in front of a node, to cut links between nodes: a node
//! advertises the proxy's address, so clients and peers all come through
//! it. Peer connections name their sender (the word after the magic), so
//! the proxy can refuse, and cut, those from chosen nodes.

use std::collections::{HashMap, HashSet};
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
    let copy = tokio::spawn(async move {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    });
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
