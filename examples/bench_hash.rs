//! Times one password hash at roster's default Argon2id cost on one hashing
//! thread, as the server hashes: `scripts/bench/run.sh` divides the cores
//! by it for the bound that password creates are compared with.
//!
//!   cargo run --release --example bench_hash -- [ROUNDS]

use std::time::Instant;

use roster_core::Secret;
use roster_core::password::{HashCost, PasswordHasher};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), roster_core::CoreError> {
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let hasher = PasswordHasher::new(HashCost::default(), 1, 4)?;
    let password = Secret::new("Bench-Passw0rd-123");
    // The first hash faults the working memory in; the server warms up too.
    hasher.hash(&password).await?;
    let started = Instant::now();
    for _ in 0..rounds {
        hasher.hash(&password).await?;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds);
    println!("{ms:.2}");
    Ok(())
}
