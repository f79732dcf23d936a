//! `sqlx::types::Json` and the facade's derive macros (`FromRow`, `Type`).

use serde::{Deserialize, Serialize};
use sqlx::types::{Json, JsonValue};
use sqlx::{FromRow, Row};
use sqlx_dqlite::DqlitePool;
use sqlx_dqlite_facade_tests::DqliteServer;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Settings {
    theme: String,
    font_size: u32,
    tags: Vec<String>,
}

fn settings() -> Settings {
    Settings {
        theme: "dark".into(),
        font_size: 14,
        tags: vec!["a".into(), "ü \"quoted\"".into()],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_round_trips_through_the_facade() {
    let server = DqliteServer::start().await;
    let pool = DqlitePool::connect(&server.url("json")).await.unwrap();
    sqlx::query("CREATE TABLE prefs (id INTEGER PRIMARY KEY, settings TEXT NOT NULL, extra TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    let extra = serde_json::json!({"beta": true, "limits": [1, 2.5, null]});
    sqlx::query("INSERT INTO prefs (settings, extra) VALUES (?, ?)")
        .bind(Json(settings()))
        .bind(&extra)
        .execute(&pool)
        .await
        .unwrap();

    let row = sqlx::query("SELECT settings, extra FROM prefs")
        .fetch_one(&pool)
        .await
        .unwrap();
    let Json(back): Json<Settings> = row.try_get("settings").unwrap();
    assert_eq!(back, settings());
    let value: JsonValue = row.try_get("extra").unwrap();
    assert_eq!(value, extra);
    // Stored as JSON text: SQLite's JSON functions read it.
    let theme: String = sqlx::query_scalar("SELECT settings ->> '$.theme' FROM prefs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(theme, "dark");
    // Text that is not JSON of that shape is a decode error.
    let err = sqlx::query_scalar::<_, Json<Settings>>("SELECT '{\"theme\": 1}'")
        .fetch_one(&pool)
        .await
        .unwrap_err();
    assert!(matches!(err, sqlx::Error::ColumnDecode { .. }), "{err}");
    pool.close().await;
}

/// A newtype through `#[derive(sqlx::Type)]`.
#[derive(Debug, Clone, Copy, PartialEq, sqlx::Type)]
#[sqlx(transparent)]
struct AccountId(i64);

#[derive(Debug, PartialEq, FromRow)]
struct Account {
    id: AccountId,
    #[sqlx(rename = "email_address")]
    email: String,
    nickname: Option<String>,
    #[sqlx(json)]
    settings: Settings,
    #[sqlx(default)]
    not_selected: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derive_from_row_with_query_as() {
    let server = DqliteServer::start().await;
    let pool = DqlitePool::connect(&server.url("derive")).await.unwrap();
    sqlx::query(
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email_address TEXT NOT NULL, \
         nickname TEXT, settings TEXT NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (email, nickname) in [
        ("ada@example.com", Some("ada")),
        ("grace@example.com", None),
    ] {
        sqlx::query("INSERT INTO accounts (email_address, nickname, settings) VALUES (?, ?, ?)")
            .bind(email)
            .bind(nickname)
            .bind(Json(settings()))
            .execute(&pool)
            .await
            .unwrap();
    }

    let accounts: Vec<Account> = sqlx::query_as("SELECT * FROM accounts ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        accounts,
        [
            Account {
                id: AccountId(1),
                email: "ada@example.com".into(),
                nickname: Some("ada".into()),
                settings: settings(),
                not_selected: 0,
            },
            Account {
                id: AccountId(2),
                email: "grace@example.com".into(),
                nickname: None,
                settings: settings(),
                not_selected: 0,
            },
        ]
    );
    let one: Account = sqlx::query_as("SELECT * FROM accounts WHERE id = ?")
        .bind(AccountId(2))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(one.email, "grace@example.com");
    // A missing column is an error naming it.
    let err = sqlx::query_as::<_, Account>("SELECT id, nickname, settings FROM accounts")
        .fetch_one(&pool)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, sqlx::Error::ColumnNotFound(c) if c == "email_address"),
        "{err}"
    );
    pool.close().await;
}
