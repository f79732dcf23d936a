//! A small web service over a `DqlitePool`: notes stored in a dqlite
//! cluster behind a JSON API, served with axum, the pool in the router's
//! state as in any axum service. See `README.md` next to it.
//!
//! Run it against a node it starts itself, with a scripted round of
//! requests:
//!
//! ```sh
//! cargo run -p sqlx-dqlite --example notes_service -- --demo
//! ```
//!
//! Or against a cluster of yours (`DQLITE_URL` lists some of its nodes;
//! the leader is found through them), on a fixed port:
//!
//! ```sh
//! DQLITE_URL="dqlite://127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003/notes" \
//! NOTES_ADDR=127.0.0.1:8080 cargo run -p sqlx-dqlite --example notes_service
//! curl -H 'content-type: application/json' -d '{"body":"buy milk"}' http://127.0.0.1:8080/notes
//! curl http://127.0.0.1:8080/notes
//! ```
//!
//! `driver-sqlx/tests/notes_service` includes this file and tests [`app`]
//! over HTTP.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use sqlx_dqlite::{DqlitePool, DqlitePoolOptions};

/// A note as stored and as served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Note {
    /// Its id, chosen by the database.
    pub id: i64,
    /// The text.
    pub body: String,
    /// When it was added (UTC, SQLite's `datetime('now')`).
    pub created: String,
}

/// The body of `POST /notes`.
#[derive(Debug, Deserialize)]
pub struct NewNote {
    /// The text; not blank.
    pub body: String,
}

/// Why a request failed; each is answered with a status and
/// `{"error": "..."}`.
#[derive(Debug)]
pub enum ApiError {
    /// No note with that id (404).
    NotFound,
    /// The request is not usable (400, or 415 without a JSON content type).
    BadRequest(StatusCode, String),
    /// The database failed (503 when it cannot be reached, 500 otherwise).
    Database(sqlx::Error),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = match rejection {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::BadRequest(status, rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::NotFound => (StatusCode::NOT_FOUND, "no such note".to_owned()),
            Self::BadRequest(status, why) => (status, why),
            Self::Database(e) => {
                // The cluster out of reach: no leader within the connect
                // timeout, a connection lost (the outcome of a write then
                // unknown), the pool unable to hand out a connection.
                // Temporary, so 503: a client or a load balancer retries.
                let unreachable = matches!(
                    e,
                    sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
                );
                tracing::warn!(error = %e, unreachable, "database request failed");
                let status = if unreachable {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                (status, e.to_string())
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

/// The service's routes, over `pool`:
///
/// | route | answer |
/// |---|---|
/// | `GET /health` | 200 `{"status":"ok"}` after a `SELECT 1`, 503 if the database is out of reach |
/// | `GET /notes` | 200, every note |
/// | `POST /notes` (`{"body": "..."}`) | 201 and the note; 400 for bad JSON or a blank body |
/// | `GET /notes/{id}` | 200 and the note, 404 |
/// | `DELETE /notes/{id}` | 204, 404 |
pub fn app(pool: DqlitePool) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/notes", get(list).post(create))
        .route("/notes/{id}", get(fetch).delete(remove))
        .with_state(pool)
}

/// Creates the table if it is not there.
pub async fn create_schema(pool: &DqlitePool) -> sqlx::Result<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS notes (\
         id INTEGER PRIMARY KEY, body TEXT NOT NULL, \
         created TEXT NOT NULL DEFAULT (datetime('now')))",
    )
    .execute(pool)
    .await?;
    Ok(())
}

async fn health(State(pool): State<DqlitePool>) -> Result<Json<serde_json::Value>, ApiError> {
    sqlx::query_scalar::<_, i64>("SELECT 1")
        .fetch_one(&pool)
        .await?;
    Ok(Json(serde_json::json!({ "status": "ok" })))
}

async fn list(State(pool): State<DqlitePool>) -> Result<Json<Vec<Note>>, ApiError> {
    let notes = sqlx::query_as("SELECT id, body, created FROM notes ORDER BY id")
        .fetch_all(&pool)
        .await?;
    Ok(Json(notes))
}

async fn create(
    State(pool): State<DqlitePool>,
    payload: Result<Json<NewNote>, JsonRejection>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    let Json(new) = payload?;
    let body = new.body.trim();
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            StatusCode::BAD_REQUEST,
            "the note is blank".into(),
        ));
    }
    let note = sqlx::query_as("INSERT INTO notes (body) VALUES (?) RETURNING id, body, created")
        .bind(body)
        .fetch_one(&pool)
        .await?;
    Ok((StatusCode::CREATED, Json(note)))
}

async fn fetch(
    State(pool): State<DqlitePool>,
    Path(id): Path<i64>,
) -> Result<Json<Note>, ApiError> {
    sqlx::query_as("SELECT id, body, created FROM notes WHERE id = ?")
        .bind(id)
        .fetch_optional(&pool)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}

async fn remove(
    State(pool): State<DqlitePool>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let done = sqlx::query("DELETE FROM notes WHERE id = ?")
        .bind(id)
        .execute(&pool)
        .await?;
    match done.rows_affected() {
        0 => Err(ApiError::NotFound),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// One request to the service at `address` (JSON `body` if not empty):
/// its status and body. A client for `--demo` (and the test).
pub async fn request(
    address: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Result<(StatusCode, String), Box<dyn std::error::Error + Send + Sync>> {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(address).await?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", address);
    if !body.is_empty() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(Full::new(hyper::body::Bytes::from(body.to_owned())))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
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
    create_schema(&pool).await?;

    let bind = std::env::var("NOTES_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    let address = listener.local_addr()?.to_string();
    println!("notes service on http://{address} (database {url})");
    if demo {
        let server = tokio::spawn(axum::serve(listener, app(pool.clone())).into_future());
        for (method, path, body) in [
            ("POST", "/notes", r#"{"body":"buy milk"}"#),
            ("POST", "/notes", r#"{"body":"call Ada"}"#),
            ("POST", "/notes", r#"{"body":"#),
            ("GET", "/notes", ""),
            ("GET", "/notes/1", ""),
            ("DELETE", "/notes/1", ""),
            ("GET", "/notes/1", ""),
        ] {
            let (status, answer) = request(&address, method, path, body).await?;
            println!("{method:6} {path:9} {body:22} -> {status} {answer}");
        }
        server.abort();
    } else {
        // Until Ctrl-C; requests under way are finished first.
        axum::serve(listener, app(pool.clone()))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
    }
    pool.close().await;
    if let Some((node, _dir)) = own_node {
        node.stop().await?;
    }
    Ok(())
}
