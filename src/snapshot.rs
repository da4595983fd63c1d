//! Snapshots written by a forked child process, as Redis writes its RDB files.
//!
//! Serializing a 20 MB document takes over 100 ms; on the reactor that would stall every
//! client. `fork` gives the child a copy-on-write image of the document at this instant for the
//! cost of copying page tables (a few milliseconds), and the child serializes, writes
//! `<file>.new`, fsyncs and renames it while the parent keeps serving. The state stays owned by
//! the reactor: the child only reads its private copy and exits.

use std::io;
use std::path::Path;
use std::time::Instant;

use serde_json::Value;

use crate::storage;

pub struct SnapshotJob {
    pid: libc::pid_t,
    /// Log segments below this sequence are in the snapshot.
    pub covers_below: u64,
    pub started: Instant,
}

pub enum Outcome {
    Running,
    Succeeded,
    Failed(String),
}

impl SnapshotJob {
    /// Forks a child that writes `document` to `data_file`.
    pub fn start(data_file: &Path, document: &Value, covers_below: u64) -> io::Result<SnapshotJob> {
        // SAFETY: the child only runs code that is safe after fork in a threaded process (the
        // C library makes malloc fork-safe; no locks of other threads are touched: the child
        // does no logging) and leaves through `_exit`, so no destructor or atexit handler of
        // the parent's objects runs twice.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            let code = child(data_file, document);
            // SAFETY: ends the child immediately, see above.
            unsafe { libc::_exit(code) }
        }
        Ok(SnapshotJob { pid, covers_below, started: Instant::now() })
    }

    /// Checks without blocking whether the child has finished.
    pub fn poll(&mut self) -> Outcome {
        let mut status: libc::c_int = 0;
        // SAFETY: waits only for our own child; `status` is a valid out-pointer.
        let waited = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) };
        match waited {
            0 => Outcome::Running,
            pid if pid == self.pid => {
                if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
                    Outcome::Succeeded
                } else {
                    Outcome::Failed(format!("snapshot process ended with status {status}"))
                }
            }
            _ => Outcome::Failed(format!("waitpid: {}", io::Error::last_os_error())),
        }
    }

    /// Stops the child and waits for it (before a final snapshot written by the parent).
    pub fn cancel(self) {
        // SAFETY: signals and reaps our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            let mut status = 0;
            libc::waitpid(self.pid, &mut status, 0);
        }
    }
}

fn child(data_file: &Path, document: &Value) -> libc::c_int {
    // SAFETY: plain system calls on the child's own process.
    unsafe {
        let parent = libc::getppid();
        // A snapshot must never land after its parent died: a restarted server may already
        // have written a newer one.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            return 1;
        }
        // The child's copies of client sockets would keep connections open that the parent
        // closes while the snapshot runs.
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    }
    match storage::write_snapshot(data_file, document) {
        Ok(_) => 0,
        Err(_) => 1,
    }
}
