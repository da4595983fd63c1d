//! The `icepeak` binary: parse the command line, run the server, turn the outcome into an exit
//! status. Everything else lives in the library.

use std::process::ExitCode;
use std::thread;

use icepeak::config::{self, Command};

/// glibc gives the server thread its own malloc arena, which grows a page at a time (one
/// `mprotect` per page): loading a 100 MB document took 40% longer than in the main arena.
/// The serving thread is the only one that allocates much, so one arena costs no contention.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn use_one_malloc_arena() {
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// musl has a single allocator state already.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn use_one_malloc_arena() {}

/// The server runs on a thread with a large stack: documents loaded from disk may nest up to
/// `storage::MAX_FILE_DEPTH` levels, and serde_json serializes and drops them recursively. Only
/// the pages actually touched are ever committed.
const SERVER_STACK_SIZE: usize = 64 << 20;

fn main() -> ExitCode {
    use_one_malloc_arena();
    let command = config::parse_args(std::env::args_os().skip(1), |name| std::env::var(name).ok());
    let config = match command {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{}", config::usage());
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("icepeak: {error}\nRun 'icepeak --help' for usage.");
            return ExitCode::FAILURE;
        }
    };
    let server = thread::Builder::new()
        .name("icepeak".to_owned())
        .stack_size(SERVER_STACK_SIZE)
        .spawn(move || icepeak::app::run(config));
    match server.map(|handle| handle.join()) {
        Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
        Ok(Ok(Err(fatal))) => {
            eprintln!("{fatal}");
            ExitCode::FAILURE
        }
        Ok(Err(_)) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("Cannot start the server thread: {error}");
            ExitCode::FAILURE
        }
    }
}
