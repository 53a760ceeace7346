//! The `herald-node` binary. Everything it does is in [`herald_node::cli`], so that other binaries
//! (the testnet) can run the same code.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    herald_node::cli::main_with_args(std::env::args_os())
}
