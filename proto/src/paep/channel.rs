//! The session channel a login opens (DESIGN §3.1: "everything between A and S runs in a
//! ChaCha20-Poly1305 channel keyed from K_A with per-direction counters"). Sans-IO: the caller
//! moves [`pb::SessionFrame`]s; the clock comes in as `now`.
//!
//! ```text
//! session_id = KDF("herald v1 paep session id", K_shared)[..16]
//! k_c2s      = KDF("herald v1 paep channel client to server", K_shared)
//! k_s2c      = KDF("herald v1 paep channel server to client", K_shared)
//! frame n    = ChaCha20-Poly1305(k_dir, nonce = n (8 bytes LE) ‖ 0⁴,
//!                                AD = lp("herald v1 paep frame") ‖ lp(session_id) ‖ lp(n LE) ‖ lp(close),
//!                                plaintext)
//! ```
//!
//! - **One key and one counter per direction**, so no nonce is ever used twice under one key
//!   and a frame cannot be reflected back to its sender.
//! - **Strictly in order.** Frame n is accepted only when n is exactly the next counter: a
//!   replayed frame (n too small), a reordered or "dropped then later delivered" frame (n too
//!   large, or too small once a later one was taken) are refused. The transport (a libp2p
//!   stream) is reliable and ordered, so any gap is an attack or a bug.
//! - **Refused frames change nothing**: the counter advances only after the AEAD verified.
//! - **Lifetime and close.** Every frame is refused at or after `expires_at`; either side ends
//!   the session with an authenticated close frame ([`Channel::close`] consumes the channel), after
//!   which the other side refuses everything.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use zeroize::Zeroizing;

use super::key32;
use super::login::SessionKey;
use crate::entry::signing_input;
use crate::wire::{MAX_SESSION_PLAINTEXT_BYTES, SESSION_ID_BYTES, Validate as _, WireError, pb};

/// KDF label of the session identifier.
pub const SESSION_ID_LABEL: &str = "herald v1 paep session id";
/// KDF label of the client → gateway key.
pub const CLIENT_TO_SERVER_LABEL: &str = "herald v1 paep channel client to server";
/// KDF label of the gateway → client key.
pub const SERVER_TO_CLIENT_LABEL: &str = "herald v1 paep channel server to client";
/// Label that starts every frame's associated data.
pub const FRAME_LABEL: &str = "herald v1 paep frame";

/// The longest session a caller may open, in seconds (a week).
pub const MAX_SESSION_LIFETIME_SECS: u64 = 7 * 24 * 60 * 60;
/// The session lifetime Herald uses unless configured otherwise (12 hours).
pub const DEFAULT_SESSION_LIFETIME_SECS: u64 = 12 * 60 * 60;

/// Which end of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The account's device.
    Client,
    /// The gateway.
    Server,
}

/// Why a frame (or a channel operation) was refused. The channel is unchanged by a refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The frame or record breaks the schema's bounds.
    #[error("malformed: {0}")]
    Wire(#[from] WireError),
    /// The frame belongs to another session.
    #[error("frame of another session")]
    WrongSession,
    /// The frame's counter was already used: a replay.
    #[error("frame {counter} replayed (next expected {expected})")]
    Replayed {
        /// The frame's counter.
        counter: u64,
        /// The counter expected.
        expected: u64,
    },
    /// The frame skips counters: reordered, or frames were dropped.
    #[error("frame {counter} out of order (next expected {expected})")]
    OutOfOrder {
        /// The frame's counter.
        counter: u64,
        /// The counter expected.
        expected: u64,
    },
    /// The frame does not decrypt under the session key with its header: forged or altered.
    #[error("frame does not authenticate")]
    Forged,
    /// The session's lifetime is over.
    #[error("session expired at {expires_at} (now {now})")]
    Expired {
        /// When it expired.
        expires_at: u64,
        /// The clock.
        now: u64,
    },
    /// The session was closed (by the peer's close frame).
    #[error("session closed")]
    Closed,
    /// The plaintext is longer than a frame carries.
    #[error("plaintext of {len} bytes exceeds {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The sending counter is used up (2^64 − 1 frames): log in again.
    #[error("frame counter exhausted")]
    Exhausted,
    /// A session longer than [`MAX_SESSION_LIFETIME_SECS`] was asked for.
    #[error("lifetime of {lifetime} s exceeds {max} s")]
    LifetimeTooLong {
        /// The lifetime asked for.
        lifetime: u64,
        /// The bound.
        max: u64,
    },
}

/// What a frame carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// Application data.
    Data(Vec<u8>),
    /// The peer closed the session (logout); the channel refuses everything from now on.
    Closed,
}

struct Direction {
    key: Zeroizing<[u8; 32]>,
    next: u64,
}

impl Direction {
    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(*self.key))
    }
}

/// One end of a live session. Made by [`super::LoggedIn::into_channel`] or resumed from its
/// record; keys zeroized on drop.
pub struct Channel {
    role: Role,
    session_id: [u8; SESSION_ID_BYTES],
    send: Direction,
    receive: Direction,
    expires_at: u64,
    closed: bool,
}

impl core::fmt::Debug for Channel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Channel")
            .field("role", &self.role)
            .field("session_id", &self.session_id)
            .field("send", &self.send.next)
            .field("receive", &self.receive.next)
            .field("expires_at", &self.expires_at)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

fn nonce(counter: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(&counter.to_le_bytes());
    Nonce::from(n)
}

fn associated_data(session_id: &[u8], counter: u64, close: bool) -> Vec<u8> {
    signing_input(
        FRAME_LABEL,
        &[session_id, &counter.to_le_bytes(), &[u8::from(close)]],
    )
}

impl Channel {
    pub(super) fn new(
        key: &SessionKey,
        role: Role,
        now: u64,
        lifetime: u64,
    ) -> Result<Channel, ChannelError> {
        if lifetime > MAX_SESSION_LIFETIME_SECS {
            return Err(ChannelError::LifetimeTooLong {
                lifetime,
                max: MAX_SESSION_LIFETIME_SECS,
            });
        }
        let k = key.as_bytes();
        let id = blake3::derive_key(SESSION_ID_LABEL, k);
        let c2s = Zeroizing::new(blake3::derive_key(CLIENT_TO_SERVER_LABEL, k));
        let s2c = Zeroizing::new(blake3::derive_key(SERVER_TO_CLIENT_LABEL, k));
        let (send, receive) = match role {
            Role::Client => (c2s, s2c),
            Role::Server => (s2c, c2s),
        };
        let mut session_id = [0u8; SESSION_ID_BYTES];
        session_id.copy_from_slice(&id[..SESSION_ID_BYTES]);
        Ok(Channel {
            role,
            session_id,
            send: Direction { key: send, next: 0 },
            receive: Direction {
                key: receive,
                next: 0,
            },
            expires_at: now.saturating_add(lifetime),
            closed: false,
        })
    }

    /// The session's public identifier (frames carry it; the gateway finds the session by it).
    pub fn session_id(&self) -> &[u8; SESSION_ID_BYTES] {
        &self.session_id
    }

    /// When the session ends, Unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Whether the peer closed the session.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn live(&self, now: u64) -> Result<(), ChannelError> {
        if self.closed {
            return Err(ChannelError::Closed);
        }
        if now >= self.expires_at {
            return Err(ChannelError::Expired {
                expires_at: self.expires_at,
                now,
            });
        }
        Ok(())
    }

    fn frame(&mut self, plaintext: &[u8], close: bool) -> Result<pb::SessionFrame, ChannelError> {
        let counter = self.send.next;
        if counter == u64::MAX {
            return Err(ChannelError::Exhausted);
        }
        let aad = associated_data(&self.session_id, counter, close);
        let ciphertext = self
            .send
            .cipher()
            .encrypt(
                &nonce(counter),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            // Only a plaintext beyond ChaCha20's 256 GiB fails; ours is bounded far below.
            .map_err(|_| ChannelError::TooLarge {
                len: plaintext.len(),
                max: MAX_SESSION_PLAINTEXT_BYTES,
            })?;
        self.send.next = counter + 1;
        Ok(pb::SessionFrame {
            session_id: self.session_id.to_vec(),
            counter,
            close,
            ciphertext,
        })
    }

    /// Encrypts `plaintext` as the next frame to send.
    pub fn seal(&mut self, plaintext: &[u8], now: u64) -> Result<pb::SessionFrame, ChannelError> {
        self.live(now)?;
        if plaintext.len() > MAX_SESSION_PLAINTEXT_BYTES {
            return Err(ChannelError::TooLarge {
                len: plaintext.len(),
                max: MAX_SESSION_PLAINTEXT_BYTES,
            });
        }
        self.frame(plaintext, false)
    }

    /// Ends the session (logout): the close frame to send. The channel is gone afterwards.
    pub fn close(mut self) -> Result<pb::SessionFrame, ChannelError> {
        if self.closed {
            return Err(ChannelError::Closed);
        }
        self.frame(&[], true)
    }

    /// Checks and decrypts the next frame from the peer. A refused frame changes nothing.
    pub fn open(&mut self, frame: &pb::SessionFrame, now: u64) -> Result<Received, ChannelError> {
        frame.validate()?;
        if frame.session_id[..] != self.session_id[..] {
            return Err(ChannelError::WrongSession);
        }
        self.live(now)?;
        let expected = self.receive.next;
        if frame.counter < expected {
            return Err(ChannelError::Replayed {
                counter: frame.counter,
                expected,
            });
        }
        if frame.counter > expected {
            return Err(ChannelError::OutOfOrder {
                counter: frame.counter,
                expected,
            });
        }
        let aad = associated_data(&self.session_id, frame.counter, frame.close);
        let plaintext = self
            .receive
            .cipher()
            .decrypt(
                &nonce(frame.counter),
                Payload {
                    msg: &frame.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| ChannelError::Forged)?;
        self.receive.next = expected.saturating_add(1);
        if frame.close {
            self.closed = true;
            return Ok(Received::Closed);
        }
        Ok(Received::Data(plaintext))
    }

    /// The channel's state to keep across a restart (holds its keys: store it encrypted).
    pub fn to_record(&self) -> Result<pb::SessionRecord, ChannelError> {
        if self.closed {
            return Err(ChannelError::Closed);
        }
        Ok(pb::SessionRecord {
            role: match self.role {
                Role::Client => pb::SessionRole::Client,
                Role::Server => pb::SessionRole::Server,
            } as i32,
            session_id: self.session_id.to_vec(),
            send_key: self.send.key.to_vec(),
            receive_key: self.receive.key.to_vec(),
            send_counter: self.send.next,
            receive_counter: self.receive.next,
            expires_at: self.expires_at,
        })
    }

    /// Resumes a channel from its record; refused once expired.
    pub fn resume(record: &pb::SessionRecord, now: u64) -> Result<Channel, ChannelError> {
        record.validate()?;
        let role = match pb::SessionRole::try_from(record.role) {
            Ok(pb::SessionRole::Client) => Role::Client,
            _ => Role::Server,
        };
        let mut session_id = [0u8; SESSION_ID_BYTES];
        session_id.copy_from_slice(&record.session_id);
        let channel = Channel {
            role,
            session_id,
            send: Direction {
                key: Zeroizing::new(key32("SessionRecord.send_key", &record.send_key)?),
                next: record.send_counter,
            },
            receive: Direction {
                key: Zeroizing::new(key32("SessionRecord.receive_key", &record.receive_key)?),
                next: record.receive_counter,
            },
            expires_at: record.expires_at,
            closed: false,
        };
        channel.live(now)?;
        Ok(channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn pair(seed: u8) -> (Channel, Channel) {
        let key = SessionKey::new(Zeroizing::new(vec![seed; 32]));
        (
            Channel::new(&key, Role::Client, NOW, 3600).unwrap(),
            Channel::new(&key, Role::Server, NOW, 3600).unwrap(),
        )
    }

    fn data(bytes: &[u8]) -> Received {
        Received::Data(bytes.to_vec())
    }

    #[test]
    fn frames_flow_both_ways_with_their_own_counters() {
        let (mut c, mut s) = pair(1);
        assert_eq!(c.session_id(), s.session_id());
        for i in 0..3u8 {
            let f = c.seal(&[i; 5], NOW).unwrap();
            assert_eq!(f.counter, u64::from(i));
            assert_eq!(s.open(&f, NOW).unwrap(), data(&[i; 5]));
        }
        let back = s.seal(b"", NOW).unwrap();
        assert_eq!(back.counter, 0);
        assert_eq!(c.open(&back, NOW).unwrap(), data(b""));
        // The session id and both keys are the documented KDFs of K_shared.
        let k = [1u8; 32];
        assert_eq!(
            c.session_id()[..],
            blake3::derive_key("herald v1 paep session id", &k)[..16]
        );
        assert_eq!(
            *c.send.key,
            blake3::derive_key("herald v1 paep channel client to server", &k)
        );
        assert_eq!(
            *c.receive.key,
            blake3::derive_key("herald v1 paep channel server to client", &k)
        );
    }

    #[test]
    fn attack_replayed_frame_is_refused() {
        let (mut c, mut s) = pair(2);
        let f0 = c.seal(b"pay 10", NOW).unwrap();
        assert_eq!(s.open(&f0, NOW).unwrap(), data(b"pay 10"));
        assert_eq!(
            s.open(&f0, NOW).unwrap_err(),
            ChannelError::Replayed {
                counter: 0,
                expected: 1
            }
        );
    }

    #[test]
    fn attack_reordered_frame_is_refused_and_changes_nothing() {
        let (mut c, mut s) = pair(3);
        let f0 = c.seal(b"first", NOW).unwrap();
        let f1 = c.seal(b"second", NOW).unwrap();
        assert_eq!(
            s.open(&f1, NOW).unwrap_err(),
            ChannelError::OutOfOrder {
                counter: 1,
                expected: 0
            }
        );
        assert_eq!(s.open(&f0, NOW).unwrap(), data(b"first"));
        assert_eq!(s.open(&f1, NOW).unwrap(), data(b"second"));
    }

    #[test]
    fn attack_dropped_frame_then_later_frames_are_refused() {
        let (mut c, mut s) = pair(4);
        let f0 = c.seal(b"a", NOW).unwrap();
        let _dropped = c.seal(b"b", NOW).unwrap();
        let f2 = c.seal(b"c", NOW).unwrap();
        assert_eq!(s.open(&f0, NOW).unwrap(), data(b"a"));
        assert_eq!(
            s.open(&f2, NOW).unwrap_err(),
            ChannelError::OutOfOrder {
                counter: 2,
                expected: 1
            }
        );
        // A frame re-labelled with the missing counter does not authenticate.
        let mut relabelled = f2.clone();
        relabelled.counter = 1;
        assert_eq!(s.open(&relabelled, NOW).unwrap_err(), ChannelError::Forged);
    }

    #[test]
    fn attack_tampered_frames_are_refused_and_change_nothing() {
        let (mut c, mut s) = pair(5);
        let f = c.seal(b"transfer", NOW).unwrap();
        let mut body = f.clone();
        body.ciphertext[0] ^= 1;
        let mut tag = f.clone();
        let last = tag.ciphertext.len() - 1;
        tag.ciphertext[last] ^= 0x80;
        let mut close = f.clone();
        close.close = true;
        for bad in [body, tag, close] {
            assert_eq!(s.open(&bad, NOW).unwrap_err(), ChannelError::Forged);
        }
        assert_eq!(s.open(&f, NOW).unwrap(), data(b"transfer"));
    }

    #[test]
    fn attack_reflected_frame_is_refused() {
        let (mut c, _) = pair(6);
        let f = c.seal(b"to the gateway", NOW).unwrap();
        // Sent back to its sender: the client's receive key is the other direction's.
        assert_eq!(c.open(&f, NOW).unwrap_err(), ChannelError::Forged);
    }

    #[test]
    fn attack_frame_of_another_session_is_refused() {
        let (mut c, _) = pair(7);
        let (_, mut other) = pair(8);
        let f = c.seal(b"x", NOW).unwrap();
        assert_eq!(other.open(&f, NOW).unwrap_err(), ChannelError::WrongSession);
    }

    #[test]
    fn frames_are_size_limited() {
        let (mut c, mut s) = pair(9);
        let big = vec![0u8; MAX_SESSION_PLAINTEXT_BYTES + 1];
        assert_eq!(
            c.seal(&big, NOW).unwrap_err(),
            ChannelError::TooLarge {
                len: big.len(),
                max: MAX_SESSION_PLAINTEXT_BYTES
            }
        );
        // The largest plaintext goes through; a frame over the bound is refused unread.
        let most = c.seal(&big[1..], NOW).unwrap();
        assert!(
            matches!(s.open(&most, NOW).unwrap(), Received::Data(d) if d.len() == big.len() - 1)
        );
        let mut over = c.seal(b"", NOW).unwrap();
        over.ciphertext = vec![0; MAX_SESSION_PLAINTEXT_BYTES + 17];
        assert!(matches!(
            s.open(&over, NOW).unwrap_err(),
            ChannelError::Wire(WireError::FieldSize { .. })
        ));
    }

    #[test]
    fn a_session_expires_at_the_end_of_its_lifetime() {
        let (mut c, mut s) = pair(10);
        let f = c.seal(b"late", NOW + 3599).unwrap();
        let end = NOW + 3600;
        assert_eq!(
            c.seal(b"x", end).unwrap_err(),
            ChannelError::Expired {
                expires_at: end,
                now: end
            }
        );
        assert!(matches!(
            s.open(&f, end).unwrap_err(),
            ChannelError::Expired { .. }
        ));
        let key = SessionKey::new(Zeroizing::new(vec![1; 32]));
        assert_eq!(
            Channel::new(&key, Role::Client, NOW, MAX_SESSION_LIFETIME_SECS + 1).unwrap_err(),
            ChannelError::LifetimeTooLong {
                lifetime: MAX_SESSION_LIFETIME_SECS + 1,
                max: MAX_SESSION_LIFETIME_SECS
            }
        );
    }

    #[test]
    fn an_explicit_close_ends_the_session_on_both_sides() {
        let (c, mut s) = pair(11);
        let bye = c.close().unwrap();
        assert!(bye.close);
        assert_eq!(s.open(&bye, NOW).unwrap(), Received::Closed);
        assert!(s.is_closed());
        assert_eq!(s.seal(b"x", NOW).unwrap_err(), ChannelError::Closed);
        assert_eq!(s.open(&bye, NOW).unwrap_err(), ChannelError::Closed);
        assert_eq!(s.to_record().unwrap_err(), ChannelError::Closed);
        assert_eq!(s.close().unwrap_err(), ChannelError::Closed);
    }

    #[test]
    fn a_record_resumes_the_channel_where_it_was() {
        let (mut c, mut s) = pair(12);
        let f0 = c.seal(b"0", NOW).unwrap();
        s.open(&f0, NOW).unwrap();
        let record = s.to_record().unwrap();
        let mut resumed = Channel::resume(&record, NOW + 10).unwrap();
        // The replay is still refused after the restart; the next frame is accepted.
        assert!(matches!(
            resumed.open(&f0, NOW + 10),
            Err(ChannelError::Replayed { .. })
        ));
        let f1 = c.seal(b"1", NOW + 10).unwrap();
        assert_eq!(resumed.open(&f1, NOW + 10).unwrap(), data(b"1"));
        assert!(matches!(
            Channel::resume(&record, NOW + 3600),
            Err(ChannelError::Expired { .. })
        ));
        let mut bad = record;
        bad.role = 0;
        assert!(matches!(
            Channel::resume(&bad, NOW),
            Err(ChannelError::Wire(_))
        ));
    }
}
