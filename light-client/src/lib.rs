//! Herald light client (in progress).
#![forbid(unsafe_code)]
