//! `examples/notes_service.rs`, included here, served over HTTP against an
//! in-process node: each route's answers (201, 200, 204, 400, 404), then
//! 503 once the node is gone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../util/mod.rs"]
mod util;

// Its `main` is the example's own.
#[allow(dead_code)]
#[path = "../../examples/notes_service.rs"]
mod notes_service;

use std::time::Duration;

use axum::http::StatusCode;
use notes_service::{Note, app, create_schema, request};
use sqlx_dqlite::DqlitePoolOptions;
use util::{TestNode, runtime};

/// Every request is bounded by this.
const TIMEOUT: Duration = Duration::from_secs(30);

/// `method path` with `body` on the service at `address`, within [`TIMEOUT`].
async fn call(address: &str, method: &str, path: &str, body: &str) -> (StatusCode, String) {
    tokio::time::timeout(TIMEOUT, request(address, method, path, body))
        .await
        .expect("an answer in time")
        .expect("an HTTP answer")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?} is no JSON: {e}"))
}

fn note(text: &str) -> Note {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?} is no note: {e}"))
}

#[test]
fn the_service_answers_each_route_and_503_without_its_database() {
    let mut node = TestNode::start();
    let rt = runtime();
    // Finding the leader gives up after 2 s once the node is gone.
    let url = format!("{}?connect_timeout=2s", node.url("notes"));
    let address = rt.block_on(async {
        let pool = DqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&url)
            .await
            .unwrap();
        create_schema(&pool).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(axum::serve(listener, app(pool)).into_future());
        let address = address.as_str();

        let (status, body) = call(address, "GET", "/health", "").await;
        assert_eq!(
            (status, json(&body)["status"].as_str()),
            (StatusCode::OK, Some("ok"))
        );

        let (status, body) = call(address, "POST", "/notes", r#"{"body":" buy milk "}"#).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let milk = note(&body);
        assert_eq!(milk.body, "buy milk");
        assert!(milk.created.starts_with("20"), "{milk:?}");
        let (status, body) = call(address, "POST", "/notes", r#"{"body":"call Ada"}"#).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let ada = note(&body);
        assert!(ada.id > milk.id);

        // Refused: bad JSON, a field missing, a blank note, no JSON type.
        for body in [r#"{"body":"#, r#"{"text":"x"}"#, r#"{"body":"  "}"#] {
            let (status, answer) = call(address, "POST", "/notes", body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert!(json(&answer)["error"].is_string(), "{answer}");
        }
        let plain = call(address, "POST", "/notes", "").await;
        assert_eq!(plain.0, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{plain:?}");

        let (status, body) = call(address, "GET", "/notes", "").await;
        assert_eq!(status, StatusCode::OK);
        let all: Vec<Note> = serde_json::from_str(&body).unwrap();
        assert_eq!(all, [milk.clone(), ada.clone()]);

        let one = format!("/notes/{}", milk.id);
        let (status, body) = call(address, "GET", &one, "").await;
        assert_eq!((status, note(&body)), (StatusCode::OK, milk.clone()));
        let (status, body) = call(address, "GET", "/notes/999", "").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(json(&body)["error"], "no such note");
        assert_eq!(
            call(address, "GET", "/notes/x", "").await.0,
            StatusCode::BAD_REQUEST
        );

        assert_eq!(
            call(address, "DELETE", &one, "").await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            call(address, "DELETE", &one, "").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(address, "GET", &one, "").await.0,
            StatusCode::NOT_FOUND
        );
        let (_, body) = call(address, "GET", "/notes", "").await;
        assert_eq!(serde_json::from_str::<Vec<Note>>(&body).unwrap(), [ada]);
        address.to_owned()
    });

    // The node stops: the service stays up and says the database is out
    // of reach.
    let stopped = node.node.take().unwrap();
    node.rt.block_on(stopped.stop()).unwrap();
    rt.block_on(async {
        for path in ["/health", "/notes"] {
            let (status, body) = call(&address, "GET", path, "").await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
            assert!(json(&body)["error"].is_string(), "{body}");
        }
        let (status, body) = call(&address, "POST", "/notes", r#"{"body":"lost"}"#).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    });
}
