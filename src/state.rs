//! The one owned state of the server: the document, the write-ahead log and the snapshot job.
//!
//! Only the reactor thread touches it, through `&mut State`; there is no lock anywhere. A write
//! is logged and applied in one call, so the log and the document never disagree.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Waker;
use serde_json::Value;

use std::collections::BTreeSet;
use std::rc::Rc;

use crate::http::response::Body;

use crate::document::{Document, Modification};
use crate::metrics::{Live, Metrics};
use crate::slab::Key;
use crate::snapshot::{Outcome, SnapshotJob};
use crate::storage;
use crate::subscriptions::SubscriptionTrie;
use crate::wal::{self, Lsn, Wal, WalError, WalSettings};

/// One update for the subscribers of one path: the value there right after write `seq`.
pub struct Notification {
    pub path: Vec<String>,
    /// Compact JSON, shared by every frame built from it.
    pub value: Rc<[u8]>,
    pub seq: u64,
}

/// Values smaller than this are serialized on every read: caching them would save little.
const READ_CACHE_MIN_BYTES: usize = 64 * 1024;

/// Plain writes that start an fsync without waiting for `--fsync-interval`.
const SYNC_EVERY_RECORDS: u64 = 4096;

pub struct PersistenceSettings {
    /// A snapshot is taken this long after the previous one, if anything was written.
    pub snapshot_interval: Duration,
    /// ... or as soon as the log grows past this many bytes.
    pub snapshot_log_bytes: u64,
    pub fsync_interval: Duration,
    /// `--queue-capacity`: see [`WalSettings::max_waiting`].
    pub max_waiting: usize,
    /// `--sync-log`: report how long each snapshot took.
    pub log_snapshots: bool,
}

struct Persistence {
    data_file: PathBuf,
    settings: PersistenceSettings,
    wal: Wal,
    snapshot: Option<SnapshotJob>,
    last_snapshot: Instant,
}

pub struct State {
    document: Document,
    subscriptions: SubscriptionTrie<Key>,
    /// Updates for subscribers produced by writes since the last broadcast, in write order.
    notifications: Vec<Notification>,
    /// Writes applied since start: a subscription registered at `n` skips notifications up
    /// to `n`, whose effect its initial value already shows.
    write_seq: u64,
    pub metrics: Metrics,
    /// Open WebSocket connections (`icepeak_subscriber_count`).
    pub websockets: u64,
    /// Open client connections of the main port.
    pub connections: u64,
    /// The last large value a GET serialized, until the next write: repeated reads of a big
    /// document cost a copy instead of a serialization.
    read_cache: Option<(Vec<String>, Rc<[u8]>)>,
    /// `None` for a state that lives only in memory (unit tests).
    persistence: Option<Persistence>,
}

impl State {
    /// Loads the data file, replays the original journal and our log, writes a fresh snapshot
    /// if anything was replayed, and opens a new log segment. Returns the start-up log lines.
    pub fn open(
        data_file: &Path,
        settings: PersistenceSettings,
        waker: Arc<Waker>,
    ) -> Result<(State, Vec<String>), String> {
        let loaded = storage::load_or_create(data_file).map_err(|e| e.to_string())?;
        let mut messages: Vec<String> = loaded.notice.into_iter().collect();
        let mut document = Document::new(loaded.document);
        let recovery = wal::recover(data_file, &mut document)?;
        messages.extend(recovery.messages.iter().cloned());
        if recovery.needs_snapshot() {
            storage::write_snapshot(data_file, document.root()).map_err(|e| {
                format!("Cannot write the recovered document to {}: {e}", data_file.display())
            })?;
        }
        let wal_settings = WalSettings {
            fsync_interval: settings.fsync_interval,
            max_waiting: settings.max_waiting,
            sync_every: SYNC_EVERY_RECORDS,
        };
        let wal = Wal::create(data_file, recovery, wal_settings, waker).map_err(|e| {
            format!("Cannot create the write-ahead log next to {}: {e}", data_file.display())
        })?;
        let persistence = Persistence {
            data_file: data_file.to_owned(),
            settings,
            wal,
            snapshot: None,
            last_snapshot: Instant::now(),
        };
        let mut metrics = Metrics::default();
        metrics.data_size_bytes = std::fs::metadata(data_file).map(|m| m.len()).unwrap_or(0);
        Ok((State::with(document, metrics, Some(persistence)), messages))
    }

    fn with(document: Document, metrics: Metrics, persistence: Option<Persistence>) -> State {
        State {
            document,
            subscriptions: SubscriptionTrie::default(),
            notifications: Vec::new(),
            write_seq: 0,
            metrics,
            websockets: 0,
            connections: 0,
            read_cache: None,
            persistence,
        }
    }

    /// A state without files (unit tests): writes are applied, nothing is persisted.
    pub fn in_memory(root: Value) -> State {
        State::with(Document::new(root), Metrics::default(), None)
    }

    pub fn get(&self, path: &[String]) -> Option<&Value> {
        self.document.get(path)
    }

    /// Logs and applies a PUT. `value_json` is the body as received, logged verbatim.
    pub fn put(
        &mut self,
        path: Vec<String>,
        value: Value,
        value_json: &[u8],
        now: Instant,
    ) -> Result<Lsn, WalError> {
        let lsn = match &mut self.persistence {
            Some(p) => p.wal.append_put(&path, value_json, now)?,
            None => 0,
        };
        let changed = self.written(&path);
        self.document.apply(Modification::Put { path, value });
        self.notify(changed);
        Ok(lsn)
    }

    pub fn delete(&mut self, path: Vec<String>, now: Instant) -> Result<Lsn, WalError> {
        let lsn = match &mut self.persistence {
            Some(p) => p.wal.append_delete(&path, now)?,
            None => 0,
        };
        let changed = self.written(&path);
        self.document.apply(Modification::Delete { path });
        self.notify(changed);
        Ok(lsn)
    }

    /// The compact JSON of the value at `path`, if it exists. Large values are shared: every
    /// reader until the next write gets the same bytes.
    pub fn get_serialized(&mut self, path: &[String]) -> Option<Body> {
        if let Some((cached_path, bytes)) = &self.read_cache
            && cached_path == path
        {
            return Some(Body::Shared(bytes.clone()));
        }
        let bytes = storage::to_compact_json(self.document.get(path)?);
        if bytes.len() < READ_CACHE_MIN_BYTES {
            return Some(Body::Owned(bytes));
        }
        let shared: Rc<[u8]> = Rc::from(bytes);
        self.read_cache = Some((path.to_vec(), shared.clone()));
        Some(Body::Shared(shared))
    }

    /// Bookkeeping of a write about to be applied; returns its path when subscribers exist.
    fn written(&mut self, path: &[String]) -> Option<Vec<String>> {
        self.read_cache = None;
        self.metrics.writes_accepted += 1;
        self.write_seq += 1;
        (!self.subscriptions.is_empty()).then(|| path.to_vec())
    }

    /// §5: after a write at `changed`, every subscribed path it reaches gets the value now at
    /// that path (`null` when gone), serialized once here, so that each write is seen even
    /// when several are applied before the next broadcast.
    fn notify(&mut self, changed: Option<Vec<String>>) {
        let Some(changed) = changed else { return };
        let (document, seq, notifications) =
            (&self.document, self.write_seq, &mut self.notifications);
        self.subscriptions.for_each_affected(&changed, |path, _| {
            let value = storage::to_compact_json(document.get(path).unwrap_or(&Value::Null));
            notifications.push(Notification { path: path.to_vec(), value: Rc::from(value), seq });
        });
    }

    /// The write sequence number a subscription registered now starts after.
    pub fn write_seq(&self) -> u64 {
        self.write_seq
    }

    pub fn subscribe(&mut self, path: &[String], subscriber: Key) {
        self.subscriptions.subscribe(path, subscriber);
    }

    pub fn unsubscribe(&mut self, path: &[String], subscriber: Key) -> bool {
        self.subscriptions.unsubscribe(path, subscriber)
    }

    /// The updates produced since the last call, in write order.
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        std::mem::take(&mut self.notifications)
    }

    /// Who subscribed to exactly `path`.
    pub fn subscribers(&self, path: &[String]) -> Option<&BTreeSet<Key>> {
        self.subscriptions.subscribers(path)
    }

    /// A reply waits until record `lsn` is on disk.
    pub fn want_durable(&mut self, lsn: Lsn) {
        if let Some(p) = &mut self.persistence {
            p.wal.want_durable(lsn);
        }
    }

    /// The highest record known to be on disk (everything, for an in-memory state).
    pub fn durable_lsn(&self) -> Lsn {
        self.persistence.as_ref().map_or(Lsn::MAX, |p| p.wal.synced())
    }

    /// Called when the fsync thread reports.
    pub fn collect_sync_results(&mut self) {
        if let Some(p) = &mut self.persistence {
            for took in p.wal.collect_sync_results() {
                self.metrics.observe_fsync(took);
            }
        }
    }

    /// The metrics text of the metrics port.
    pub fn render_metrics(&self) -> String {
        let (log_bytes, log_written_bytes) = self
            .persistence
            .as_ref()
            .map_or((0, 0), |p| (p.wal.active_len(), p.wal.written_bytes()));
        let live = Live {
            subscribers: self.websockets,
            log_bytes,
            log_written_bytes,
            connections: self.connections,
        };
        self.metrics.render(&live)
    }

    /// End of a loop iteration: ask for the fsyncs that are due, start a snapshot when one is
    /// due, and notice a finished one.
    pub fn housekeeping(&mut self, now: Instant) {
        let Some(p) = &mut self.persistence else { return };
        p.wal.sync_if_due(now);
        p.finish_snapshot(&mut self.metrics);
        if p.snapshot.is_none() && p.snapshot_due(now) {
            p.start_snapshot(self.document.root(), now, &mut self.metrics);
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let p = self.persistence.as_ref()?;
        let snapshot = (p.snapshot.is_none() && p.wal.has_records_since_rotation())
            .then(|| p.last_snapshot + p.settings.snapshot_interval);
        match (p.wal.next_deadline(), snapshot) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Graceful stop: the final snapshot, written here and now, replaces the whole log.
    pub fn shut_down(self) -> io::Result<()> {
        let Some(p) = self.persistence else { return Ok(()) };
        if let Some(job) = p.snapshot {
            job.cancel();
        }
        storage::write_snapshot(&p.data_file, self.document.root())?;
        p.wal.remove_all()
    }
}

impl Persistence {
    fn snapshot_due(&self, now: Instant) -> bool {
        self.wal.failure().is_none()
            && self.wal.has_records_since_rotation()
            && (now >= self.last_snapshot + self.settings.snapshot_interval
                || self.wal.active_len() >= self.settings.snapshot_log_bytes)
    }

    fn start_snapshot(&mut self, document: &Value, now: Instant, metrics: &mut Metrics) {
        self.last_snapshot = now;
        let covers_below = match self.wal.rotate() {
            Ok(sequence) => sequence,
            Err(error) => {
                eprintln!("Snapshot skipped: cannot start a new log segment: {error}");
                return;
            }
        };
        match SnapshotJob::start(&self.data_file, document, covers_below) {
            Ok(job) => self.snapshot = Some(job),
            Err(error) => {
                // Without fork (e.g. no memory for the page tables) write here, stalling the
                // loop, rather than letting the log grow without bound.
                eprintln!(
                    "Cannot fork the snapshot process ({error}); writing the snapshot in place"
                );
                let started = Instant::now();
                match storage::write_snapshot(&self.data_file, document) {
                    Ok(_) => self.snapshot_done(covers_below, started, metrics),
                    Err(error) => eprintln!("Snapshot failed: {error}"),
                }
            }
        }
    }

    fn finish_snapshot(&mut self, metrics: &mut Metrics) {
        let Some(job) = &mut self.snapshot else { return };
        match job.poll() {
            Outcome::Running => {}
            Outcome::Succeeded => {
                let (covers_below, started) = (job.covers_below, job.started);
                self.snapshot = None;
                self.snapshot_done(covers_below, started, metrics);
            }
            Outcome::Failed(reason) => {
                eprintln!("Snapshot failed: {reason}; the log is kept and the snapshot retried");
                self.snapshot = None;
            }
        }
    }

    fn snapshot_done(&mut self, covers_below: u64, started: Instant, metrics: &mut Metrics) {
        let file_bytes = std::fs::metadata(&self.data_file).map(|m| m.len()).unwrap_or(0);
        metrics.observe_snapshot(started.elapsed(), file_bytes);
        if let Err(error) = self.wal.remove_segments_below(covers_below) {
            eprintln!("Cannot remove old log segments: {error}");
        }
        if self.settings.log_snapshots {
            println!(
                "It took {} ms to synchronize Icepeak on disk.",
                started.elapsed().as_millis()
            );
        }
    }
}
