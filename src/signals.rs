//! SIGTERM, SIGINT and SIGCHLD as a readable pipe in the reactor (the self-pipe trick).
//!
//! A signal handler may only do async-signal-safe work, so it writes the signal number into a
//! pipe whose read end the reactor polls like any socket: a signal can never be lost between
//! checking a flag and going to sleep. SIGTERM and SIGINT are installed with `SA_RESETHAND`, so
//! a second one gets the default action and ends the process at once, as the original does.
//! SIGCHLD reports the end of a snapshot child process.

use std::io::{self, Read};
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use mio::unix::pipe;

static PIPE_WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = PIPE_WRITE_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    // SAFETY: `__errno_location` and `write` are async-signal-safe; errno is restored so the
    // interrupted code does not see the handler's result. The buffer outlives the call.
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        let byte = signal as u8;
        libc::write(fd, (&byte as *const u8).cast(), 1);
        *errno = saved;
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// SIGTERM or SIGINT: stop gracefully.
    pub terminate: bool,
    pub child_exited: bool,
}

pub struct SignalPipe {
    receiver: pipe::Receiver,
}

impl SignalPipe {
    /// Installs the handlers for SIGTERM, SIGINT and SIGCHLD. Call once per process.
    pub fn install() -> io::Result<SignalPipe> {
        let (sender, receiver) = pipe::new()?;
        // The write end lives for the rest of the process: the handler may run at any time.
        PIPE_WRITE_FD.store(sender.into_raw_fd(), Ordering::SeqCst);
        let once = libc::SA_RESETHAND | libc::SA_RESTART;
        let always = libc::SA_RESTART | libc::SA_NOCLDSTOP;
        for (signal, flags) in
            [(libc::SIGTERM, once), (libc::SIGINT, once), (libc::SIGCHLD, always)]
        {
            // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler
            // is an `extern "C" fn(c_int)` as `sa_sigaction` expects without SA_SIGINFO.
            let result = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
                action.sa_flags = flags;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut())
            };
            if result != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(SignalPipe { receiver })
    }

    pub fn source(&mut self) -> &mut pipe::Receiver {
        &mut self.receiver
    }

    /// Empties the pipe and says which signals arrived.
    pub fn take(&mut self) -> Received {
        let mut received = Received::default();
        let mut buffer = [0u8; 64];
        loop {
            match self.receiver.read(&mut buffer) {
                Ok(0) => return received,
                Ok(n) => {
                    for &signal in &buffer[..n] {
                        match libc::c_int::from(signal) {
                            libc::SIGCHLD => received.child_exited = true,
                            _ => received.terminate = true,
                        }
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return received,
            }
        }
    }
}

/// Raises the soft limit on open files to the hard limit, so that thousands of clients fit
/// without the operator tuning `ulimit`. Returns the limit now in force.
pub fn raise_open_file_limit() -> io::Result<u64> {
    // SAFETY: plain FFI calls with a properly initialised struct.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            let wanted = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                limit = wanted;
            }
        }
        Ok(limit.rlim_cur)
    }
}
