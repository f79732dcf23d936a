//! rusqlite's "persons" example on a dqlite cluster.
//!
//! With `DQLITE_URL` set (e.g. `dqlite://127.0.0.1:9001/app`) it talks to
//! that cluster; otherwise it starts a one-node `dqlite-server` of its own
//! in a temporary directory. See README.md next to this file.

use dqlite_rusqlite::{Connection, Result, params};

struct Person {
    id: i32,
    name: String,
    data: Option<Vec<u8>>,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let (url, own_node) = match std::env::var("DQLITE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let node = OwnNode::start()?;
            (format!("dqlite://{}/persons", node.address), Some(node))
        }
    };
    println!("connecting to {url}");

    let conn = Connection::open(&url)?;
    println!("the leader is {:?}", conn.leader());
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS person (
             id   INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             data BLOB
         )",
    )?;
    let me = Person {
        id: 0,
        name: "Steven".to_string(),
        data: None,
    };
    conn.execute(
        "INSERT INTO person (name, data) VALUES (?1, ?2)",
        (&me.name, &me.data),
    )?;
    conn.execute(
        "INSERT INTO person (name, data) VALUES (?1, ?2)",
        params!["Ada", vec![0xadu8, 0xa0]],
    )?;

    let mut stmt = conn.prepare("SELECT id, name, data FROM person")?;
    let person_iter = stmt.query_map([], |row| {
        Ok(Person {
            id: row.get(0)?,
            name: row.get(1)?,
            data: row.get(2)?,
        })
    })?;
    for person in person_iter {
        let p = person?;
        println!("found person #{}: {} ({:?})", p.id, p.name, p.data);
    }
    drop(stmt);
    drop(conn);
    drop(own_node);
    Ok(())
}

/// A one-node cluster in a temporary directory, on a free port.
struct OwnNode {
    address: String,
    rt: tokio::runtime::Runtime,
    node: Option<dqlite_server::Node>,
    _dir: tempfile::TempDir,
}

impl OwnNode {
    fn start() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?.to_string();
        let rt = tokio::runtime::Runtime::new()?;
        let node = rt
            .block_on(
                dqlite_server::Node::builder(1, address.clone(), dir.path())
                    .serve(listener, dqlite_server::net::Limits::default())
                    .start(),
            )
            .map_err(|e| dqlite_rusqlite::Error::InvalidConfig(format!("starting a node: {e}")))?;
        println!("started a dqlite-server node on {address}");
        Ok(Self {
            address,
            rt,
            node: Some(node),
            _dir: dir,
        })
    }
}

impl Drop for OwnNode {
    fn drop(&mut self) {
        if let Some(node) = self.node.take()
            && let Err(e) = self.rt.block_on(node.stop())
        {
            eprintln!("stopping the node: {e}");
        }
    }
}
