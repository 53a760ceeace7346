//! Herald's protocol core: everything node, light client and arbiter must agree on, with no I/O.
//!
//! - [`merkle`]: the transparency log's hashing, tree maths, proofs and verifiers.
#![forbid(unsafe_code)]

pub mod merkle;
