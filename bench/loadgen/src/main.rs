//! Load generator and in-run baselines for `bench/run.sh` (see PERFORMANCE.md).
//!
//! Every subcommand prints one line of `key=value` pairs on stdout; errors go to stderr with
//! a non-zero exit status. Every loop is bounded in count and time, and all traffic goes to
//! 127.0.0.1.

mod fanout;
mod idle;
mod misc;
mod util;

const USAGE: &str = "usage: icepeak-loadgen COMMAND [--option value ...]
  fanout     --proto ws|redis --port P --k K --others N --rate PUTS_PER_S --duration S [--settle S] [--pid SERVER_PID]
  idle       --proto ws|redis --port P --n N --pid SERVER_PID [--paths distinct|same]
  floor      --k SOCKETS --rounds R [--scale-to K]
  fsync      --dir DIR [--seconds S]
  gen        --out FILE --bytes N
  naive-load --file FILE
  startup    --port P --data FILE --log FILE [--timeout S] -- SERVER COMMAND...
  stall      --port P --duration S [--put-rate R] [--pause-us U]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let opts = util::Opts::parse(&args[1..]);
    util::raise_nofile();
    match command.as_str() {
        "fanout" => fanout::run(&opts),
        "idle" => idle::run(&opts),
        "floor" => misc::floor(&opts),
        "fsync" => misc::fsync(&opts),
        "gen" => misc::generate(&opts),
        "naive-load" => misc::naive_load(&opts),
        "startup" => misc::startup(&opts),
        "stall" => misc::stall(&opts),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}
