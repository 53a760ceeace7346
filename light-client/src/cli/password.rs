//! The account password of `herald login`, `herald account register` and `herald account
//! password`: never a command-line argument (it would show in `ps` and shell history), nor an
//! environment variable.
//!
//! From `--password-file FILE` (its first line; `/dev/fd/N` reads an inherited descriptor), else
//! standard input: a prompt with echo off when it is a terminal (a new password is asked twice),
//! one line otherwise. When the key store passphrase also comes from standard input, it is the
//! first line and the password the next.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use zeroize::Zeroizing;

use super::cm::files::read_bounded;

/// Longest password read.
const MAX_PASSWORD_BYTES: usize = 1024;

/// Where the account password comes from.
#[derive(Debug, Args)]
pub(super) struct PasswordArgs {
    /// A file whose first line is the account password (`/dev/fd/N` for an open descriptor)
    /// [default: a prompt on the terminal, else one line of standard input].
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// Echo off on standard input while alive; restored on drop.
struct NoEcho {
    saved: Option<rustix::termios::Termios>,
}

impl NoEcho {
    fn new() -> Self {
        let stdin = std::io::stdin();
        let saved = rustix::termios::tcgetattr(&stdin).ok();
        if let Some(saved) = &saved {
            let mut quiet = saved.clone();
            quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
            let _ =
                rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
        }
        NoEcho { saved }
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
    }
}

/// One line of standard input (without its line end), at most [`MAX_PASSWORD_BYTES`].
fn stdin_line() -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let mut line = Zeroizing::new(Vec::new());
    std::io::stdin()
        .lock()
        .take(MAX_PASSWORD_BYTES as u64 + 1)
        .read_until(b'\n', &mut line)
        .context("reading the password from standard input")?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.len() > MAX_PASSWORD_BYTES {
        bail!("the password is longer than {MAX_PASSWORD_BYTES} bytes");
    }
    Ok(line)
}

/// Prompts on the terminal with echo off.
fn prompt(text: &str) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    eprint!("{text}");
    let _ = std::io::stderr().flush();
    let quiet = NoEcho::new();
    let line = stdin_line();
    drop(quiet);
    eprintln!();
    line
}

impl PasswordArgs {
    fn read(&self, prompt_text: &str, confirm: bool) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let mut line = if let Some(path) = &self.password_file {
            let bytes = Zeroizing::new(
                read_bounded(path, MAX_PASSWORD_BYTES + 2, "password file")
                    .with_context(|| format!("reading the password from {}", path.display()))?,
            );
            Zeroizing::new(
                bytes
                    .split(|&b| b == b'\n')
                    .next()
                    .unwrap_or_default()
                    .to_vec(),
            )
        } else if std::io::stdin().is_terminal() {
            let first = prompt(prompt_text)?;
            if confirm {
                let again = prompt("the same password again: ")?;
                if *first != *again {
                    bail!("the two passwords differ; nothing was changed");
                }
            }
            first
        } else {
            stdin_line()?
        };
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() {
            bail!("the password is empty");
        }
        if line.len() > MAX_PASSWORD_BYTES {
            bail!("the password is longer than {MAX_PASSWORD_BYTES} bytes");
        }
        Ok(line)
    }

    /// The password of an existing account (`herald login`).
    pub(super) fn password(&self) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        self.read("account password: ", false)
    }

    /// A new password (`herald account register`, `herald account password`): asked twice at a
    /// terminal.
    pub(super) fn new_password(&self) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        self.read("new account password: ", true)
    }
}
