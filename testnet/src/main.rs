//! The `herald-testnet` binary. Everything it does is in [`herald_testnet::cli`].
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    herald_testnet::cli::main_with_args(std::env::args_os())
}
