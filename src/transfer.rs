//! `roster export` and `roster import`: the whole database as JSON lines
//! (format in `roster_core::transfer`), streamed page by page so memory
//! stays bounded, with a progress bar when standard error is a terminal.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal as _, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use roster_core::audit::AuditQuery;
use roster_core::service::Verification;
use roster_core::store::{ImportFailure, Store};
use roster_core::transfer::{
    Cursor, End, FORMAT_VERSION, Header, Line, Meta, Record, RecordKind, parse_line,
};
use time::OffsetDateTime;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::{close, describe, open_store};

/// Records read per store call on export.
const EXPORT_PAGE: u32 = 5_000;
/// Records written per transaction on import.
const IMPORT_CHUNK: usize = 5_000;

type Counts = BTreeMap<RecordKind, u64>;

/// The bar goes to standard error, and only when that is a terminal.
fn progress(bar: ProgressBar) -> ProgressBar {
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    }
}

fn spinner(template: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or(ProgressStyle::default_spinner()),
    );
    progress(bar)
}

fn print_counts(verb: &str, counts: &Counts, elapsed: Duration) {
    let total: u64 = counts.values().sum();
    eprintln!("{verb} {total} records in {elapsed:.1?}:");
    for kind in RecordKind::ALL {
        eprintln!(
            "  {:<14} {}",
            kind.as_str(),
            counts.get(&kind).copied().unwrap_or(0)
        );
    }
}

/// The newest audit event (seq and hash), to notice writes during an export.
async fn audit_head(store: &dyn Store) -> anyhow::Result<Option<(i64, String)>> {
    let newest = store
        .list_audit(&AuditQuery {
            limit: 1,
            ..Default::default()
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(newest.into_iter().next().map(|r| (r.seq, r.hash)))
}

/// Creates (or truncates) `path` readable and writable by its owner only:
/// the export holds password hashes and token signing secrets.
fn create_private(path: &Path) -> anyhow::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        let file = options
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        // An existing file keeps its mode through `open`: narrow it.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        options
            .open(path)
            .with_context(|| format!("cannot create {}", path.display()))
    }
}

pub async fn export(config: Config, output: Option<PathBuf>) -> anyhow::Result<()> {
    // Read-only: exporting must not migrate or otherwise change the source.
    let store: Arc<dyn Store> = roster_store::open_read_only(&config.database_url).await?;
    let result = export_from(store.as_ref(), output.as_deref()).await;
    close(store).await;
    if result.is_err()
        && let Some(path) = &output
    {
        // A partial file is worse than none (its end line would be missing
        // anyway, so import would refuse it).
        let _ = std::fs::remove_file(path);
    }
    result
}

async fn export_from(store: &dyn Store, output: Option<&Path>) -> anyhow::Result<()> {
    let started = Instant::now();
    let head = audit_head(store).await?;
    let (sink, file): (Box<dyn Write>, Option<std::fs::File>) = match output {
        Some(path) => {
            let file = create_private(path)?;
            (Box::new(file.try_clone()?), Some(file))
        }
        None => (Box::new(std::io::stdout().lock()), None),
    };
    let mut out = BufWriter::with_capacity(1 << 20, sink);
    let bar = spinner("{spinner} exported {human_pos} records in {elapsed} {msg}");
    let header = Meta::Header(Header {
        format: FORMAT_VERSION,
        roster_version: env!("CARGO_PKG_VERSION").into(),
        exported_at: OffsetDateTime::now_utc(),
    });
    serde_json::to_writer(&mut out, &header)?;
    out.write_all(b"\n")?;
    let mut counts = Counts::new();
    for kind in RecordKind::ALL {
        bar.set_message(kind.as_str());
        let mut cursor = Cursor::Start;
        let n = counts.entry(kind).or_default();
        loop {
            let page = store
                .export_chunk(kind, cursor, EXPORT_PAGE)
                .await
                .map_err(|e| anyhow::anyhow!("reading {}s: {e}", kind.as_str()))?;
            for record in &page.records {
                serde_json::to_writer(&mut out, record)?;
                out.write_all(b"\n")?;
            }
            *n += page.records.len() as u64;
            bar.inc(page.records.len() as u64);
            match page.next {
                Some(next) => cursor = next,
                None => break,
            }
        }
    }
    serde_json::to_writer(
        &mut out,
        &Meta::End(End {
            counts: counts.clone(),
        }),
    )?;
    out.write_all(b"\n")?;
    out.flush().context("writing the export")?;
    drop(out);
    if let Some(file) = file {
        file.sync_all().context("writing the export")?;
    }
    bar.finish_and_clear();
    if audit_head(store).await? != head {
        bail!(
            "the database changed during the export (new audit events): stop the server and export again"
        );
    }
    print_counts("exported", &counts, started.elapsed());
    Ok(())
}

pub async fn import(config: Config, file: PathBuf) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    match store.is_empty_for_import().await {
        Ok(true) => {}
        Ok(false) => {
            close(store).await;
            eprintln!(
                "roster import: {} is not empty (it has users, groups, audit events, signing keys or custom roles or containers); import only into a new database",
                config.redacted_database_url()
            );
            std::process::exit(2);
        }
        Err(e) => {
            close(store).await;
            bail!("cannot read {}: {e}", config.redacted_database_url());
        }
    }
    if let Err(e) = store.import_starting().await {
        close(store).await;
        bail!(
            "cannot prepare {} for the import: {e}",
            config.redacted_database_url()
        );
    }
    let mut started_writing = false;
    let result = import_into(store.clone(), &file, &mut started_writing).await;
    // Whether it went well or not: the indexes set aside are built again.
    let rebuilt = store.import_finished().await;
    close(store).await;
    if let Err(e) = rebuilt {
        bail!(
            "the records were written, but building the indexes of {} failed: {e}",
            config.redacted_database_url()
        );
    }
    match result {
        Ok(Verification::Intact { .. }) => Ok(()),
        Ok(Verification::Broken(b)) => {
            eprintln!(
                "audit chain BROKEN at event {}: {}; the file was imported, but its audit trail was edited, removed or reordered",
                b.seq, b.reason
            );
            std::process::exit(1);
        }
        Err(e) if started_writing => Err(e.context(format!(
            "import stopped; {} now holds part of the file: start again on a new, empty database",
            config.redacted_database_url()
        ))),
        Err(e) => Err(e.context(format!(
            "nothing imported; {} is unchanged",
            config.redacted_database_url()
        ))),
    }
}

/// A chunk being written while the next one is read.
type Pending = JoinHandle<(Vec<usize>, Result<u64, ImportFailure>)>;

async fn finish(pending: Option<Pending>) -> anyhow::Result<()> {
    let Some(task) = pending else { return Ok(()) };
    let (lines, result) = task.await?;
    if let Err(f) = result {
        return Err(match f.index.and_then(|i| lines.get(i)) {
            Some(line) => anyhow::anyhow!("line {line}: {}", f.error),
            None => anyhow::anyhow!(
                "lines {}-{}: {}",
                lines.first().copied().unwrap_or(0),
                lines.last().copied().unwrap_or(0),
                f.error
            ),
        });
    }
    Ok(())
}

/// Sets `started_writing` once the first chunk is handed to the store.
async fn import_into(
    store: Arc<dyn Store>,
    file: &Path,
    started_writing: &mut bool,
) -> anyhow::Result<Verification> {
    let started = Instant::now();
    let (source, bar): (Box<dyn Read + Send>, ProgressBar) = if file.as_os_str() == "-" {
        let bar = spinner("{spinner} read {binary_bytes} in {elapsed} {msg}");
        (Box::new(bar.wrap_read(std::io::stdin())), bar)
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:25} {binary_bytes}/{binary_total_bytes} ({eta} left) {msg}",
            )
            .unwrap_or(ProgressStyle::default_bar()),
        );
        let bar = progress(bar);
        (Box::new(bar.wrap_read(f)), bar)
    };
    let mut reader = BufReader::with_capacity(1 << 20, source);
    let mut text = String::new();
    let mut line_no = 0usize;
    let mut header: Option<Header> = None;
    let mut end: Option<(usize, End)> = None;
    let mut counts = Counts::new();
    let mut chunk: Vec<Record> = Vec::with_capacity(IMPORT_CHUNK);
    let mut chunk_lines: Vec<usize> = Vec::with_capacity(IMPORT_CHUNK);
    let mut pending: Option<Pending> = None;
    loop {
        text.clear();
        if reader
            .read_line(&mut text)
            .with_context(|| format!("reading line {}", line_no + 1))?
            == 0
        {
            break;
        }
        line_no += 1;
        let line = text.trim();
        if line.is_empty() {
            continue;
        }
        if let Some((at, _)) = &end {
            bail!("line {line_no}: text after the end line (line {at})");
        }
        let parsed = parse_line(line).map_err(|e| anyhow::anyhow!("line {line_no}: {e}"))?;
        match (parsed, &header) {
            (Line::Header(h), None) => {
                if h.format != FORMAT_VERSION {
                    bail!(
                        "line {line_no}: the file is in format {} (written by roster {}); this roster reads format {FORMAT_VERSION}",
                        h.format,
                        h.roster_version
                    );
                }
                header = Some(h);
            }
            (_, None) => {
                bail!("line {line_no}: not a roster export (the first line must be its header)")
            }
            (Line::Header(_), Some(_)) => bail!("line {line_no}: a second header"),
            (Line::End(e), Some(_)) => end = Some((line_no, e)),
            (Line::Record(record), Some(_)) => {
                *counts.entry(record.kind()).or_default() += 1;
                chunk.push(record);
                chunk_lines.push(line_no);
                if chunk.len() == IMPORT_CHUNK {
                    // Write this chunk while the next is read; one at a time,
                    // in order, so each refers only to what is committed.
                    finish(pending.take()).await?;
                    let records = std::mem::replace(&mut chunk, Vec::with_capacity(IMPORT_CHUNK));
                    let lines =
                        std::mem::replace(&mut chunk_lines, Vec::with_capacity(IMPORT_CHUNK));
                    let store = store.clone();
                    *started_writing = true;
                    pending = Some(tokio::spawn(async move {
                        (lines, store.import_chunk(records).await)
                    }));
                    bar.set_message(format!("{} records", counts.values().sum::<u64>()));
                }
            }
        }
    }
    if header.is_none() {
        bail!("the file is empty, not a roster export");
    }
    let Some((_, end)) = end else {
        bail!("the file ends without its end line after line {line_no}: it was cut short");
    };
    let expected: Counts = end.counts.into_iter().filter(|(_, n)| *n > 0).collect();
    let read: Counts = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| (*k, *n))
        .collect();
    if expected != read {
        bail!("the end line counts {expected:?} records, but the file holds {read:?}");
    }
    finish(pending.take()).await?;
    if !chunk.is_empty() {
        let lines = std::mem::take(&mut chunk_lines);
        let records = std::mem::take(&mut chunk);
        let writer = store.clone();
        *started_writing = true;
        finish(Some(tokio::spawn(async move {
            (lines, writer.import_chunk(records).await)
        })))
        .await?;
    }
    bar.finish_and_clear();
    print_counts("imported", &counts, started.elapsed());
    // The same walk as `roster audit verify`.
    let verification = roster_core::service::verify_audit_chain(store.as_ref())
        .await
        .map_err(describe)?;
    if let Verification::Intact { events } = &verification {
        eprintln!("audit chain verified: {events} events intact");
    }
    Ok(verification)
}
