//! The fsync thread. `fdatasync` can take milliseconds (or seconds on a slow disk); doing it on
//! the reactor would stall every client. The reactor sends "make the log durable up to record
//! n"; this thread coalesces everything queued while the previous fsync ran (group commit),
//! syncs once, reports the highest record now durable and wakes the reactor.
//!
//! Only the log file handle crosses threads; the document and the rest of the state stay on the
//! reactor.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::Waker;

/// Log sequence number: records appended since start, counted from 1.
pub type Lsn = u64;

pub struct SyncRequest {
    pub file: Arc<File>,
    pub up_to: Lsn,
}

/// The highest record now durable and how long the fsync took, or why it failed.
pub type SyncResult = Result<(Lsn, Duration), String>;

pub struct Syncer {
    requests: Option<Sender<SyncRequest>>,
    results: Receiver<SyncResult>,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    pub fn start(waker: Arc<Waker>) -> io::Result<Syncer> {
        let (request_tx, request_rx) = mpsc::channel::<SyncRequest>();
        let (result_tx, result_rx) = mpsc::channel::<SyncResult>();
        let thread = thread::Builder::new()
            .name("icepeak-fsync".to_owned())
            .spawn(move || run(request_rx, result_tx, waker))?;
        Ok(Syncer { requests: Some(request_tx), results: result_rx, thread: Some(thread) })
    }

    pub fn request(&self, request: SyncRequest) {
        if let Some(requests) = &self.requests {
            // A send only fails if the thread is gone; `results` then reports the cause.
            let _ = requests.send(request);
        }
    }

    /// Results that arrived since the last call, oldest first.
    pub fn results(&self) -> impl Iterator<Item = SyncResult> + '_ {
        self.results.try_iter()
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(requests: Receiver<SyncRequest>, results: Sender<SyncResult>, waker: Arc<Waker>) {
    while let Ok(first) = requests.recv() {
        // Everything queued while the previous fsync ran shares this one.
        let mut batch = vec![first];
        loop {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => break,
            }
        }
        let up_to = batch.iter().map(|r| r.up_to).max().unwrap_or(0);
        // Files in request order, each once: an older log segment is synced before a newer one.
        let mut synced: Vec<*const File> = Vec::new();
        let started = Instant::now();
        let mut outcome = Ok(up_to);
        for request in &batch {
            let identity = Arc::as_ptr(&request.file);
            if synced.contains(&identity) {
                continue;
            }
            synced.push(identity);
            if let Err(error) = request.file.sync_data() {
                outcome = Err(format!("fsync of the write-ahead log failed: {error}"));
                break;
            }
        }
        let failed = outcome.is_err();
        if results.send(outcome.map(|lsn| (lsn, started.elapsed()))).is_err() {
            return;
        }
        let _ = waker.wake();
        if failed {
            // A failed fsync may have dropped dirty pages; retrying could report success for
            // data that is gone. The reactor stops accepting writes instead.
            return;
        }
    }
}
