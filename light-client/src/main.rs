//! `herald`: the Herald light client's command line (see `herald --help`).
#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
