//! The machine's physical limit for committed writes: single-row `INSERT`s, each its own
//! committed transaction, into a table of its own (`raw_bench`), as the store commits (SQLite:
//! WAL, `synchronous=FULL`, `BEGIN IMMEDIATE`). Shared by `benches/engine.rs` and
//! `examples/raw_commits.rs` (`scripts/measure-api`), so both measure the same thing.

use std::time::Instant;

/// Inserts `n` rows, one per committed transaction, from `clients` concurrent tasks.
pub async fn raw_rate(url: &str, n: usize, clients: usize) -> f64 {
    let start;
    if url.starts_with("sqlite") {
        let options = url
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .unwrap()
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(clients as u32)
            .connect_with(options)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE IF NOT EXISTS raw_bench (id INTEGER PRIMARY KEY, v TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        start = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for i in (c..n).step_by(clients) {
                        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
                        sqlx::query("INSERT INTO raw_bench (v) VALUES (?)")
                            .bind(format!("row {i}"))
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                        tx.commit().await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    } else {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(clients as u32)
            .connect(url)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE IF NOT EXISTS raw_bench (id BIGSERIAL PRIMARY KEY, v TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        start = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|c| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for i in (c..n).step_by(clients) {
                        let mut tx = pool.begin().await.unwrap();
                        sqlx::query("INSERT INTO raw_bench (v) VALUES ($1)")
                            .bind(format!("row {i}"))
                            .execute(&mut *tx)
                            .await
                            .unwrap();
                        tx.commit().await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}
