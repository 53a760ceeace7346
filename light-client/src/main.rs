//! `herald`: the Herald light client's command line (see `herald --help`). Everything it does is
//! in [`herald_light_client::cli`], so that other binaries (the testnet) can run the same code.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    herald_light_client::cli::main()
}
