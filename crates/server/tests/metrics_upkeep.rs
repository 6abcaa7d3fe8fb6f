//! The Prometheus recorder keeps every histogram sample until upkeep folds
//! it into the buckets. Without a scrape that was ~18 bytes per request,
//! forever (issue 9, problem 3). A process of its own, so that nothing
//! else allocates while resident memory is compared.

use std::time::{Duration, Instant};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn record(n: u32) {
    for i in 0..n {
        roster_server::metrics::record("native", 200, Duration::from_micros(u64::from(i % 5000)));
    }
}

#[test]
fn histogram_samples_do_not_pile_up_without_a_scrape() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("SKIPPED: needs /proc to read resident memory");
        return;
    }
    const N: u32 = 500_000;
    // Warm up: the recorder, its first blocks, the allocator's arenas.
    record(N);
    std::thread::sleep(Duration::from_millis(5500));
    let before = rss_kib();
    let started = Instant::now();
    record(N);
    std::thread::sleep(Duration::from_millis(5500));
    let after = rss_kib();
    eprintln!(
        "{N} samples in {:.1?}: RSS {before} KiB -> {after} KiB",
        started.elapsed()
    );
    // Without upkeep: ~18 bytes × 500,000 ≈ 8.8 MiB more.
    assert!(
        after < before + 3 * 1024,
        "RSS grew from {before} KiB to {after} KiB without a scrape"
    );
}
