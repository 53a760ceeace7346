//! Fixtures for the tests of this crate and of the crates built on it (the node's): peers that
//! speak Herald's protocols over a real libp2p connection on 127.0.0.1 and misbehave on purpose.
//!
//! Behind the `testkit` feature, which only dev-dependencies turn on (the testnet's lying
//! gateway turns it on for [`crate::lies`]); nothing in the client uses it. It adds no
//! dependency. Fixtures panic when they cannot start (no loopback port): in a test that is a
//! failed test.

pub mod trickle;
