//! Herald's protocol core: everything node, light client and arbiter must agree on, with no I/O.
//!
//! - [`merkle`]: the transparency log's hashing, tree maths, proofs and verifiers.
//! - [`note`]: C2SP signed notes.
//! - [`checkpoint`]: C2SP tlog checkpoints, cosignatures and witness policies.
//! - [`equivocation`]: transferable proofs that a log showed two incompatible trees.
//! - [`wire`]: the prost wire schema and size-limited decoding.
//! - [`ed25519`]: the one strict Ed25519 signature check.
//! - [`entry`]: log entry kinds' signing inputs and author-signature checks.
//! - [`inclusion`]: a log as a verifier knows it, and leaves proven in its (cosigned)
//!   checkpoints.
//! - [`succession`]: may a verifier move from the checkpoint it holds to another, and if not,
//!   which split view does the refusal prove (the one rule every verifier calls).
//! - [`identity`]: key transparency: verified identity bindings and "bound at time t".
//! - [`witness`]: the witness's judgement of an `AddCheckpoint` request, for every transport.
//! - [`certmail`]: certified mail (Schneier–Riordan on the log): primitives and the sans-IO
//!   sender and recipient state machines.
//! - [`evidence`]: the evidence bundle, the offline arbiter, and absence proofs.
//! - [`paep`]: PAEP: SPAKE2+ password login, the session channel, signed prekeys and the mail
//!   envelope, with the key-store operations they need.
//! - [`policy`]: gateway policy: the rule set, the gateway's judgement of a mail, the mail
//!   content (subject, body, attachments and their manifest) and the clients' inspection of it.
//! - [`scan`]: the scanner interface and the built-in signature scanner (EICAR, signature files).
//! - `testkit` (feature `testkit`, tests only): in-memory logs, witnesses, accounts and
//!   bindings, all with real keys, signatures and proofs.
#![forbid(unsafe_code)]

pub mod certmail;
pub mod checkpoint;
pub mod ed25519;
pub mod entry;
pub mod equivocation;
pub mod evidence;
pub mod identity;
pub mod inclusion;
pub mod merkle;
pub mod note;
pub mod paep;
pub mod policy;
pub mod scan;
pub mod succession;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tlog_tiles;
pub mod tlog_witness;
pub mod wire;
pub mod witness;
