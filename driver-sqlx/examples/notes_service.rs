//! A small web service over a `DqlitePool`: notes stored in a dqlite
//! cluster, behind a few HTTP endpoints. See `README.md` next to it.
//!
//! It speaks just enough HTTP/1.1 by hand (one request per connection) to
//! keep this workspace free of a web framework; a real service would use
//! axum or similar, with the pool in its state exactly as here.

use std::time::Duration;

use sqlx::FromRow;
use sqlx_dqlite::{DqlitePool, DqlitePoolOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, FromRow)]
struct Note {
    id: i64,
    body: String,
    created: String,
}

impl Note {
    fn json(&self) -> String {
        format!(
            r#"{{"id":{},"body":{},"created":{}}}"#,
            self.id,
            serde_json::Value::from(self.body.as_str()),
            serde_json::Value::from(self.created.as_str())
        )
    }
}

/// Answers one request: `(status, body)`.
async fn handle(pool: &DqlitePool, method: &str, path: &str, body: String) -> (u16, String) {
    let id = path
        .strip_prefix("/notes/")
        .and_then(|id| id.parse::<i64>().ok());
    let result = match (method, path, id) {
        ("GET", "/health", _) => sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(pool)
            .await
            .map(|_| (200, "ok".to_owned())),
        ("GET", "/notes", _) => {
            sqlx::query_as::<_, Note>("SELECT id, body, created FROM notes ORDER BY id")
                .fetch_all(pool)
                .await
                .map(|notes| {
                    let items: Vec<String> = notes.iter().map(Note::json).collect();
                    (200, format!("[{}]", items.join(",")))
                })
        }
        ("POST", "/notes", _) if !body.trim().is_empty() => sqlx::query_as::<_, Note>(
            "INSERT INTO notes (body) VALUES (?) RETURNING id, body, created",
        )
        .bind(body.trim())
        .fetch_one(pool)
        .await
        .map(|note| (201, note.json())),
        ("POST", "/notes", _) => Ok((400, "empty note".to_owned())),
        ("GET", _, Some(id)) => {
            sqlx::query_as::<_, Note>("SELECT id, body, created FROM notes WHERE id = ?")
                .bind(id)
                .fetch_optional(pool)
                .await
                .map(|note| note.map_or((404, "no such note".into()), |n| (200, n.json())))
        }
        ("DELETE", _, Some(id)) => sqlx::query("DELETE FROM notes WHERE id = ?")
            .bind(id)
            .execute(pool)
            .await
            .map(|done| match done.rows_affected() {
                0 => (404, "no such note".into()),
                _ => (204, String::new()),
            }),
        _ => Ok((404, "not found".to_owned())),
    };
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "request failed");
        (503, e.to_string())
    })
}

/// Reads one request from `stream` and writes the answer.
async fn serve(pool: DqlitePool, stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let mut length = 0_usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0).min(64 * 1024);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    let (status, answer) =
        handle(&pool, &method, &path, String::from_utf8_lossy(&body).into()).await;
    let reply = format!(
        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    );
    reader.into_inner().write_all(reply.as_bytes()).await
}

/// One request as a client, for `--demo`.
async fn request(address: &str, method: &str, path: &str, body: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(address).await?;
    let text = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer.lines().last().unwrap_or("").to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let demo = std::env::args().any(|a| a == "--demo");
    // Without DQLITE_URL, a node of our own in a temporary directory.
    let (url, own_node) = match std::env::var("DQLITE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let dir = tempfile::tempdir()?;
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            let address = listener.local_addr()?.to_string();
            let node = dqlite_server::Node::builder(1, address.clone(), dir.path())
                .serve(listener, dqlite_server::net::Limits::default())
                .start()
                .await?;
            println!("started a dqlite node on {address}");
            (format!("dqlite://{address}/notes"), Some((node, dir)))
        }
    };
    let pool = DqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(15))
        .connect(&url)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS notes (\
         id INTEGER PRIMARY KEY, body TEXT NOT NULL, \
         created TEXT NOT NULL DEFAULT (datetime('now')))",
    )
    .execute(&pool)
    .await?;

    let bind = std::env::var("NOTES_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&bind).await?;
    let address = listener.local_addr()?.to_string();
    println!("notes service on http://{address} (database {url})");
    let server = {
        let pool = pool.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let pool = pool.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(pool, stream).await {
                        tracing::debug!(error = %e, "connection ended");
                    }
                });
            }
        })
    };

    if demo {
        println!(
            "POST /notes      -> {}",
            request(&address, "POST", "/notes", "buy milk").await?
        );
        println!(
            "POST /notes      -> {}",
            request(&address, "POST", "/notes", "call Ada").await?
        );
        println!(
            "GET  /notes      -> {}",
            request(&address, "GET", "/notes", "").await?
        );
        println!(
            "GET  /notes/1    -> {}",
            request(&address, "GET", "/notes/1", "").await?
        );
        println!(
            "DELETE /notes/1  -> {:?}",
            request(&address, "DELETE", "/notes/1", "").await?
        );
        println!(
            "GET  /notes/1    -> {}",
            request(&address, "GET", "/notes/1", "").await?
        );
        server.abort();
    } else {
        tokio::signal::ctrl_c().await?;
        server.abort();
    }
    pool.close().await;
    if let Some((node, _dir)) = own_node {
        node.stop().await?;
    }
    Ok(())
}
