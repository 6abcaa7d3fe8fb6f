//! Times one password hash at roster's default Argon2id cost on one hashing
//! thread, as the server hashes: `scripts/bench/run.sh` divides the cores
//! by it for the bound that password creates are compared with.
//!
//!   cargo run --release --example bench_hash -- [ROUNDS] [WORKERS]
//!
//! With WORKERS it also prints, after the time of one hash alone, the
//! hashes per second of WORKERS hashing threads all busy at once: what the
//! machine itself reaches when every core hashes (on a machine whose cores
//! share a cache smaller than their hashes' working memory, less than
//! WORKERS times one hash's rate).

use std::time::Instant;

use roster_core::Secret;
use roster_core::password::{HashCost, PasswordHasher};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), roster_core::CoreError> {
    let mut args = std::env::args().skip(1);
    let rounds: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);
    let workers: Option<usize> = args.next().and_then(|n| n.parse().ok());
    let hasher = PasswordHasher::new(HashCost::default(), 1, 4)?;
    let password = Secret::new("Bench-Passw0rd-123");
    // The first hash faults the working memory in; the server warms up too.
    hasher.hash(&password).await?;
    let started = Instant::now();
    for _ in 0..rounds {
        hasher.hash(&password).await?;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(rounds);
    match workers {
        None => println!("{ms:.2}"),
        Some(n) => {
            let n = n.max(1);
            let pool = PasswordHasher::new(HashCost::default(), n, n)?;
            // Each thread faults its working memory in first.
            futures::future::try_join_all((0..n).map(|_| pool.hash(&password))).await?;
            let started = Instant::now();
            for _ in 0..rounds {
                futures::future::try_join_all((0..n).map(|_| pool.hash(&password))).await?;
            }
            let per_sec = f64::from(rounds) * n as f64 / started.elapsed().as_secs_f64();
            println!("{ms:.2} {per_sec:.1}");
        }
    }
    Ok(())
}
