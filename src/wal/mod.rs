//! The write-ahead log: every write is appended (length + CRC-framed) with `write(2)` before
//! it is acknowledged, so a `kill -9` loses nothing acknowledged; fsyncs are batched on a
//! separate thread (group commit), and `?durable` replies wait for the fsync that covers them.
//!
//! The log is a series of segment files next to the data file. A snapshot starts a new segment
//! first; once the snapshot is safely renamed over the data file, every older segment is
//! deleted. Replaying a segment that the snapshot already contains is harmless (replay is
//! idempotent, spec §4.4), so a crash between those steps loses nothing.

pub mod crc32c;
pub mod journal;
pub mod record;
pub mod segments;
mod syncer;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Waker;

use crate::document::Document;
use crate::storage;
pub use syncer::Lsn;
use syncer::{SyncRequest, Syncer};

/// Why a write is refused (503).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalError {
    /// Back-pressure: the disk is not keeping up; the client may retry.
    Busy,
    /// The log cannot be written; nothing more is accepted until a restart.
    Failed(String),
}

/// What start-up found on disk.
#[derive(Debug, Default)]
pub struct Recovery {
    /// Records replayed from our own log segments.
    pub replayed: usize,
    /// The original Icepeak journal, if one was replayed: (applied, failed) lines.
    pub original_journal: Option<(usize, usize)>,
    /// Log lines for the start-up output.
    pub messages: Vec<String>,
    /// Segment files (and the original journal) that a fresh snapshot makes obsolete.
    obsolete: Vec<PathBuf>,
    next_sequence: u64,
}

impl Recovery {
    /// True when the data file on disk does not hold the whole recovered document yet.
    pub fn needs_snapshot(&self) -> bool {
        !self.obsolete.is_empty()
    }
}

/// Replays, in order, the original journal (migration, D6) and our own log segments onto
/// `document`. Nothing on disk is changed: the caller writes a snapshot and then calls
/// [`Wal::create`], which retires what was replayed.
pub fn recover(data_file: &Path, document: &mut Document) -> Result<Recovery, String> {
    let mut recovery = Recovery::default();
    let journal = journal::journal_path(data_file);
    match fs::read(&journal) {
        Ok(bytes) => {
            recovery.messages.push("Journal not empty, recovering".to_owned());
            let mut messages = Vec::new();
            let outcome =
                journal::replay(&bytes, |m| document.apply(m), |line| messages.push(line));
            recovery.messages.extend(messages);
            recovery.messages.push(format!(
                "Journal replayed\n  failed:     {}\n  successful: {}",
                outcome.failed, outcome.applied
            ));
            recovery.original_journal = Some((outcome.applied, outcome.failed));
            recovery.obsolete.push(journal.clone());
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(format!("Failed to read journal {}: {error}", journal.display()));
        }
    }

    let segments = segments::list_segments(data_file).map_err(|e| {
        format!("Cannot list the write-ahead log next to {}: {e}", data_file.display())
    })?;
    let newest = segments.last().map(|(sequence, _)| *sequence);
    for (sequence, path) in &segments {
        let bytes = fs::read(path)
            .map_err(|e| format!("Cannot read the write-ahead log {}: {e}", path.display()))?;
        let scan = record::scan_segment(&bytes, |m| document.apply(m))
            .map_err(|e| format!("The write-ahead log {} is corrupt: {e}", path.display()))?;
        recovery.replayed += scan.records;
        if let Some(dropped) = scan.torn_tail {
            if Some(*sequence) != newest {
                // Older segments are fsynced before a newer one receives anything, so only the
                // newest can be torn by a crash; anything else is damage, not a crash.
                return Err(format!(
                    "The write-ahead log {} ends in a broken record but is not the newest segment; \
                     refusing to guess. Move it away to start without its last records.",
                    path.display()
                ));
            }
            recovery.messages.push(format!(
                "Dropped a torn record at the end of {} ({dropped} bytes after offset {}).",
                path.display(),
                scan.valid_len
            ));
        }
        recovery.obsolete.push(path.clone());
    }
    recovery.next_sequence = newest.map_or(1, |n| n + 1);
    if recovery.replayed > 0 {
        recovery.messages.push(format!("Replayed {} write-ahead log records.", recovery.replayed));
    }
    Ok(recovery)
}

pub struct WalSettings {
    /// Plain writes are fsynced at most this long after they were appended.
    pub fsync_interval: Duration,
    /// `?durable` replies waiting for an fsync beyond which new writes are refused with 503
    /// (`--queue-capacity`): the disk is not keeping up.
    pub max_waiting: usize,
    /// Plain writes appended without an fsync beyond which one is started at once, bounding
    /// what a power loss can take besides the `fsync_interval`.
    pub sync_every: u64,
}

pub struct Wal {
    data_file: PathBuf,
    settings: WalSettings,
    /// Shared with the fsync thread, which syncs it.
    active: Arc<File>,
    active_sequence: u64,
    active_len: u64,
    appended: Lsn,
    synced: Lsn,
    sync_requested: Lsn,
    /// Records that `?durable` replies wait for, ascending.
    durable_waits: VecDeque<Lsn>,
    oldest_unsynced: Option<Instant>,
    failed: Option<String>,
    /// Bytes appended since start (`icepeak_journal_written_bytes_total`).
    written_bytes: u64,
    syncer: Syncer,
    record: Vec<u8>,
}

impl Wal {
    /// Starts a fresh segment after start-up recovery. Call only once the recovered document
    /// is safely in the data file (or nothing needed recovering): the replayed files are
    /// deleted here.
    pub fn create(
        data_file: &Path,
        recovery: Recovery,
        settings: WalSettings,
        waker: Arc<Waker>,
    ) -> io::Result<Wal> {
        // The replayed files go first: a crash right after this leaves only the snapshot and
        // no segment, never a torn old segment next to a new one.
        for path in &recovery.obsolete {
            remove_if_present(path)?;
        }
        storage::sync_parent_directory(data_file)?;
        let (active, active_len) = create_segment(data_file, recovery.next_sequence)?;
        storage::sync_parent_directory(data_file)?;
        Ok(Wal {
            data_file: data_file.to_owned(),
            settings,
            active: Arc::new(active),
            active_sequence: recovery.next_sequence,
            active_len,
            appended: 0,
            synced: 0,
            sync_requested: 0,
            durable_waits: VecDeque::new(),
            oldest_unsynced: None,
            failed: None,
            written_bytes: 0,
            syncer: Syncer::start(waker)?,
            record: Vec::new(),
        })
    }

    pub fn append_put(
        &mut self,
        path: &[String],
        value_json: &[u8],
        now: Instant,
    ) -> Result<Lsn, WalError> {
        self.record.clear();
        record::encode_put(&mut self.record, path, value_json);
        self.append(now)
    }

    pub fn append_delete(&mut self, path: &[String], now: Instant) -> Result<Lsn, WalError> {
        self.record.clear();
        record::encode_delete(&mut self.record, path);
        self.append(now)
    }

    /// Refuses the next write when the disk is not keeping up.
    pub fn check_accepting(&self) -> Result<(), WalError> {
        if let Some(reason) = &self.failed {
            return Err(WalError::Failed(reason.clone()));
        }
        if self.durable_waits.len() >= self.settings.max_waiting {
            return Err(WalError::Busy);
        }
        Ok(())
    }

    fn append(&mut self, now: Instant) -> Result<Lsn, WalError> {
        self.check_accepting()?;
        if let Err(error) = (&*self.active).write_all(&self.record) {
            // A partial record must not stay in front of the next one.
            if let Err(truncate_error) = self.active.set_len(self.active_len) {
                self.failed = Some(format!(
                    "write-ahead log unusable: append failed ({error}) and could not be undone \
                     ({truncate_error})"
                ));
            }
            return Err(WalError::Failed(format!("write-ahead log append failed: {error}")));
        }
        self.active_len += self.record.len() as u64;
        self.written_bytes += self.record.len() as u64;
        self.appended += 1;
        self.oldest_unsynced.get_or_insert(now);
        if self.appended - self.sync_requested >= self.settings.sync_every {
            self.request_sync();
        }
        Ok(self.appended)
    }

    /// A `?durable` reply waits for `lsn`.
    pub fn want_durable(&mut self, lsn: Lsn) {
        if lsn > self.synced {
            self.durable_waits.push_back(lsn);
        }
    }

    pub fn synced(&self) -> Lsn {
        self.synced
    }

    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// End of a loop iteration: one fsync for everything a durable reply waits for, or for
    /// plain writes once they have waited `fsync_interval`.
    pub fn sync_if_due(&mut self, now: Instant) {
        if self.appended <= self.sync_requested {
            return;
        }
        let durable_waiting =
            self.durable_waits.back().is_some_and(|&lsn| lsn > self.sync_requested);
        let interval_passed =
            self.oldest_unsynced.is_some_and(|t| now >= t + self.settings.fsync_interval);
        if durable_waiting || interval_passed {
            self.request_sync();
        }
    }

    /// When [`Wal::sync_if_due`] must run next for plain writes.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.appended <= self.sync_requested {
            return None;
        }
        self.oldest_unsynced.map(|t| t + self.settings.fsync_interval)
    }

    fn request_sync(&mut self) {
        if self.failed.is_some() || self.appended <= self.sync_requested {
            return;
        }
        self.syncer.request(SyncRequest { file: self.active.clone(), up_to: self.appended });
        self.sync_requested = self.appended;
        self.oldest_unsynced = None;
    }

    /// Takes the fsync thread's reports; returns how long each fsync took.
    pub fn collect_sync_results(&mut self) -> Vec<Duration> {
        let mut durations = Vec::new();
        for result in self.syncer.results() {
            match result {
                Ok((lsn, took)) => {
                    self.synced = self.synced.max(lsn);
                    durations.push(took);
                }
                Err(reason) => {
                    eprintln!("{reason}; refusing further writes");
                    self.failed = Some(reason);
                }
            }
        }
        while self.durable_waits.front().is_some_and(|&lsn| lsn <= self.synced) {
            self.durable_waits.pop_front();
        }
        durations
    }

    /// Starts a new segment for a snapshot and returns its sequence: every older segment is
    /// covered by a snapshot of the document as it is now.
    pub fn rotate(&mut self) -> io::Result<u64> {
        // The old segment is made durable here, so a crash can only ever tear the newest one.
        self.active.sync_data()?;
        self.synced = self.synced.max(self.appended);
        while self.durable_waits.front().is_some_and(|&lsn| lsn <= self.synced) {
            self.durable_waits.pop_front();
        }
        let sequence = self.active_sequence + 1;
        let (file, len) = create_segment(&self.data_file, sequence)?;
        storage::sync_parent_directory(&self.data_file)?;
        self.active = Arc::new(file);
        self.active_sequence = sequence;
        self.active_len = len;
        Ok(sequence)
    }

    /// After a snapshot that covers every segment below `sequence` is safely on disk.
    pub fn remove_segments_below(&self, sequence: u64) -> io::Result<()> {
        for (number, path) in segments::list_segments(&self.data_file)? {
            if number < sequence {
                remove_if_present(&path)?;
            }
        }
        storage::sync_parent_directory(&self.data_file)
    }

    pub fn written_bytes(&self) -> u64 {
        self.written_bytes
    }

    /// Bytes in the active segment (snapshot trigger).
    pub fn active_len(&self) -> u64 {
        self.active_len
    }

    /// Records appended since the last rotation or start.
    pub fn has_records_since_rotation(&self) -> bool {
        self.active_len > record::SEGMENT_HEADER.len() as u64
    }

    /// After the final snapshot at shutdown: the log is no longer needed.
    pub fn remove_all(self) -> io::Result<()> {
        let sequence = self.active_sequence + 1;
        self.remove_segments_below(sequence)
    }
}

fn create_segment(data_file: &Path, sequence: u64) -> io::Result<(File, u64)> {
    let path = segments::segment_path(data_file, sequence);
    let mut file = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
    file.write_all(&record::SEGMENT_HEADER)?;
    file.sync_all()?;
    let file = OpenOptions::new().append(true).open(&path)?;
    Ok((file, record::SEGMENT_HEADER.len() as u64))
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::test_support::TempDir;

    fn segment(records: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut bytes = record::SEGMENT_HEADER.to_vec();
        for (path, value) in records {
            let path: Vec<String> =
                path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
            match value {
                Some(value) => record::encode_put(&mut bytes, &path, value.as_bytes()),
                None => record::encode_delete(&mut bytes, &path),
            }
        }
        bytes
    }

    #[test]
    fn empty_log_recovers_nothing() {
        let dir = TempDir::new("empty");
        let data_file = dir.0.join("d.json");
        let mut document = Document::new(json!({"a": 1}));
        let recovery = recover(&data_file, &mut document).expect("recover");
        assert_eq!(recovery.replayed, 0);
        assert!(!recovery.needs_snapshot());
        assert_eq!(recovery.next_sequence, 1);
        assert_eq!(document.root(), &json!({"a": 1}));
    }

    #[test]
    fn log_without_snapshot_replays_every_segment_in_order() {
        let dir = TempDir::new("replay");
        let data_file = dir.0.join("d.json");
        fs::write(
            segments::segment_path(&data_file, 3),
            segment(&[("a", Some("1")), ("b", Some("2"))]),
        )
        .expect("write");
        fs::write(segments::segment_path(&data_file, 4), record::SEGMENT_HEADER).expect("write");
        fs::write(
            segments::segment_path(&data_file, 5),
            segment(&[("a", None), ("b/c", Some("3"))]),
        )
        .expect("write");
        let mut document = Document::new(json!({}));
        let recovery = recover(&data_file, &mut document).expect("recover");
        assert_eq!(recovery.replayed, 4);
        assert!(recovery.needs_snapshot());
        assert_eq!(recovery.next_sequence, 6);
        assert_eq!(document.root(), &json!({"b": {"c": 3}}));
    }

    #[test]
    fn torn_tail_is_dropped_only_in_the_newest_segment() {
        let dir = TempDir::new("torn");
        let data_file = dir.0.join("d.json");
        let mut torn = segment(&[("a", Some("1")), ("b", Some("2"))]);
        torn.truncate(torn.len() - 3);
        fs::write(segments::segment_path(&data_file, 1), &torn).expect("write");
        let mut document = Document::new(json!({}));
        let recovery = recover(&data_file, &mut document).expect("a torn newest tail is fine");
        assert_eq!(document.root(), &json!({"a": 1}));
        assert!(
            recovery.messages.iter().any(|m| m.contains("torn record")),
            "{:?}",
            recovery.messages
        );

        fs::write(segments::segment_path(&data_file, 2), segment(&[("c", Some("3"))]))
            .expect("write");
        let mut document = Document::new(json!({}));
        let error = recover(&data_file, &mut document).err().unwrap_or_default();
        assert!(error.contains("not the newest segment"), "{error}");
    }

    #[test]
    fn corruption_before_the_tail_stops_recovery() {
        let dir = TempDir::new("corrupt");
        let data_file = dir.0.join("d.json");
        let mut bytes = segment(&[("a", Some("\"first\"")), ("b", Some("2"))]);
        let in_first_record = record::SEGMENT_HEADER.len() + 12;
        bytes[in_first_record] ^= 0xff;
        fs::write(segments::segment_path(&data_file, 1), &bytes).expect("write");
        let error = recover(&data_file, &mut Document::default()).err().unwrap_or_default();
        assert!(error.contains("is corrupt"), "{error}");
    }

    #[test]
    fn original_journal_is_replayed_before_our_log() {
        let dir = TempDir::new("journal");
        let data_file = dir.0.join("d.json");
        fs::write(
            journal::journal_path(&data_file),
            "{\"op\":\"put\",\"path\":[\"a\"],\"value\":1}\n{\"op\":\"put\",\"path\":[\"torn\"],\"va",
        )
        .expect("write");
        fs::write(segments::segment_path(&data_file, 1), segment(&[("a", Some("2"))]))
            .expect("write");
        let mut document = Document::new(json!({}));
        let recovery = recover(&data_file, &mut document).expect("recover");
        assert_eq!(recovery.original_journal, Some((1, 1)));
        assert_eq!(document.root(), &json!({"a": 2}));
        assert!(recovery.needs_snapshot(), "the journal is retired after a snapshot");
    }

    #[test]
    fn unreadable_journal_is_an_error() {
        let dir = TempDir::new("journal-dir");
        let data_file = dir.0.join("d.json");
        fs::create_dir(journal::journal_path(&data_file)).expect("mkdir");
        let error = recover(&data_file, &mut Document::default()).err().unwrap_or_default();
        assert!(error.starts_with("Failed to read journal"), "{error}");
    }

    #[test]
    fn durable_writes_wait_for_the_fsync_thread_and_back_pressure_applies() {
        let dir = TempDir::new("append");
        let data_file = dir.0.join("d.json");
        let mut poll = mio::Poll::new().expect("poll");
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(7)).expect("waker"));
        let recovery = recover(&data_file, &mut Document::default()).expect("recover");
        let settings = WalSettings {
            fsync_interval: Duration::from_secs(3600),
            max_waiting: 2,
            sync_every: 1_000_000,
        };
        let mut wal = Wal::create(&data_file, recovery, settings, waker).expect("create");
        let now = Instant::now();
        let first = wal.append_put(&["a".to_owned()], b"1", now).expect("append");
        let second = wal.append_delete(&["b".to_owned()], now).expect("append");
        assert_eq!((first, second), (1, 2));
        wal.want_durable(first);
        wal.want_durable(second);
        assert_eq!(wal.append_put(&[], b"2", now), Err(WalError::Busy), "two replies wait");
        wal.sync_if_due(now);
        let mut events = mio::Events::with_capacity(4);
        let deadline = Instant::now() + Duration::from_secs(10);
        while wal.synced() < second {
            assert!(Instant::now() < deadline, "the fsync thread never answered");
            poll.poll(&mut events, Some(Duration::from_millis(100))).expect("poll");
            wal.collect_sync_results();
        }
        assert!(wal.append_put(&[], b"3", now).is_ok(), "accepting again");
        let bytes = fs::read(segments::segment_path(&data_file, 1)).expect("segment");
        let mut replayed = Document::new(serde_json::json!({"b": 0}));
        let scan = record::scan_segment(&bytes, |m| replayed.apply(m)).expect("scan");
        assert_eq!(scan.records, 3);
        assert_eq!(replayed.root(), &serde_json::json!(3));
    }
}
