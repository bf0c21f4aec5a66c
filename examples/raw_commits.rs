//! The database's raw commit rate, beside a load run (`scripts/measure-api`): single-row
//! `INSERT`s, each its own committed transaction, from concurrent clients, exactly as
//! `cargo bench --bench engine` measures it.
//!
//! ```text
//! cargo run --release --example raw_commits -- URL ROWS CLIENTS...
//! ```
//!
//! Prints one line per client count: `clients inserts_per_second`. URL should name a database
//! of its own (a fresh SQLite file, or a fresh PostgreSQL database): the rows stay there.

#[path = "../benches/support/raw_commits.rs"]
mod raw_commits;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(rows)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: raw_commits URL ROWS CLIENTS...");
        std::process::exit(2);
    };
    for clients in &args[3..] {
        let Ok(clients) = clients.parse::<usize>() else {
            eprintln!("usage: raw_commits URL ROWS CLIENTS...");
            std::process::exit(2);
        };
        let rate = raw_commits::raw_rate(url, rows, clients).await;
        println!("{clients} {rate:.0}");
    }
}
