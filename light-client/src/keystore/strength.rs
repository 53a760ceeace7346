//! The floor under a new key store's protection: Argon2id costs and passphrase strength.
//!
//! **Argon2id floor** ([`MIN_MEMORY_KIB`], [`MIN_ITERATIONS`]): 19 MiB and 2 passes with one
//! lane, the weakest Argon2id setting the OWASP Password Storage Cheat Sheet recommends
//! (m=19456 KiB, t=2, p=1). Below it a stolen store is cheap to attack with GPUs whatever the
//! passphrase. The default ([`super::KdfParams::DEFAULT`], 64 MiB, 3 passes) is above it.
//!
//! **Passphrase rule** ([`check_passphrase`]): at least [`MIN_PASSPHRASE_CHARS`] characters and
//! an estimated [`MIN_PASSPHRASE_BITS`] bits, where the estimate is
//! `effective length × log2(alphabet)`:
//! - the alphabet is the sum of the classes the passphrase uses: lower-case letters (26),
//!   upper-case letters (26), digits (10), ASCII punctuation and space (33), anything else
//!   (100);
//! - the effective length counts the first character, then every character that neither
//!   repeats the one before it nor steps by one from it (so `aaaa`, `abcd` and `4321` count as
//!   one character each).
//!
//! It is a floor against the obvious (`password1234`, `aaaaaaaaaaaa`, short words), not a
//! strength meter: a dictionary phrase of several words passes, as it should.

/// Least Argon2id memory of a new store, KiB (19 MiB, OWASP).
pub const MIN_MEMORY_KIB: u32 = 19 * 1024;
/// Least Argon2id passes of a new store (OWASP, with 19 MiB).
pub const MIN_ITERATIONS: u32 = 2;
/// Least characters in a new store's passphrase.
pub const MIN_PASSPHRASE_CHARS: usize = 12;
/// Least estimated bits in a new store's passphrase (see the module docs).
pub const MIN_PASSPHRASE_BITS: u32 = 50;

/// Why a passphrase is refused for a new store.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WeakPassphrase {
    /// Fewer than [`MIN_PASSPHRASE_CHARS`] characters.
    #[error("the passphrase has {chars} characters; at least {MIN_PASSPHRASE_CHARS} are needed")]
    TooShort {
        /// Its length in characters.
        chars: usize,
    },
    /// The estimate is under [`MIN_PASSPHRASE_BITS`].
    #[error(
        "the passphrase is too predictable (about {bits} bits; at least {MIN_PASSPHRASE_BITS} are needed): use more words, or mix letters, digits and punctuation without runs like aaaa or 1234"
    )]
    TooPredictable {
        /// The estimate, whole bits.
        bits: u32,
    },
}

/// A class of characters of the estimate.
type CharClass = fn(&char) -> bool;

/// The estimated strength of `passphrase` in whole bits (see the module docs). Bytes that are
/// not UTF-8 count as characters outside every class.
pub fn passphrase_bits(passphrase: &[u8]) -> u32 {
    let text = String::from_utf8_lossy(passphrase);
    let chars: Vec<char> = text.chars().collect();
    let mut alphabet = 0u32;
    let classes: [(CharClass, u32); 5] = [
        (char::is_ascii_lowercase, 26),
        (char::is_ascii_uppercase, 26),
        (char::is_ascii_digit, 10),
        (|c| c.is_ascii_punctuation() || *c == ' ', 33),
        (
            |c| !c.is_ascii() || (c.is_ascii_control() && *c != ' '),
            100,
        ),
    ];
    for (is_in, size) in classes {
        if chars.iter().any(is_in) {
            alphabet += size;
        }
    }
    let effective = chars
        .iter()
        .enumerate()
        .filter(|&(i, &c)| {
            i == 0 || {
                let before = u32::from(chars[i - 1]);
                let now = u32::from(c);
                now.abs_diff(before) > 1
            }
        })
        .count();
    if alphabet < 2 {
        return 0;
    }
    // f64 is exact enough here: the answer is rounded down to whole bits.
    let bits = effective as f64 * f64::from(alphabet).log2();
    bits.floor().min(f64::from(u32::MAX)) as u32
}

/// Checks a new store's passphrase against the rule in the module docs.
pub fn check_passphrase(passphrase: &[u8]) -> Result<(), WeakPassphrase> {
    let chars = String::from_utf8_lossy(passphrase).chars().count();
    if chars < MIN_PASSPHRASE_CHARS {
        return Err(WeakPassphrase::TooShort { chars });
    }
    let bits = passphrase_bits(passphrase);
    if bits < MIN_PASSPHRASE_BITS {
        return Err(WeakPassphrase::TooPredictable { bits });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_repetitive_and_sequential_passphrases_are_refused() {
        for (weak, why) in [
            (&b"a"[..], "one character"),
            (b"Tr0ub4dor&3", "eleven characters"),
            (b"aaaaaaaaaaaaaaaa", "one repeated character"),
            (b"abcdefghijklmnop", "one run"),
            (b"password1234", "a word and a run"),
            (b"123456789012", "digits with runs"),
        ] {
            assert!(check_passphrase(weak).is_err(), "{why}");
        }
        assert_eq!(
            check_passphrase(b"a"),
            Err(WeakPassphrase::TooShort { chars: 1 })
        );
        assert!(matches!(
            check_passphrase(b"password1234"),
            Err(WeakPassphrase::TooPredictable { bits }) if bits < MIN_PASSPHRASE_BITS
        ));
    }

    #[test]
    fn phrases_of_several_words_and_mixed_passwords_pass() {
        for strong in [
            &b"correct horse battery staple"[..],
            b"herald testnet throwaway passphrase",
            b"a long passphrase",
            b"correct horse",
            b"K7#qv!Lm2@xZ",
            "grüße aus köln 2026".as_bytes(),
        ] {
            assert_eq!(check_passphrase(strong), Ok(()), "{strong:?}");
        }
    }

    #[test]
    fn the_estimate_follows_the_documented_rule() {
        // 12 distinct lower-case letters without runs: 12 × log2(26) = 56.4.
        assert_eq!(passphrase_bits(b"qwzmxnrvtplj"), 56);
        // A repeat and a step of one do not count: "aad" and "abd" are 2 effective characters
        // (2 × log2(26) = 9.4), "aab" only 1.
        assert_eq!(passphrase_bits(b"aad"), 9);
        assert_eq!(passphrase_bits(b"abd"), 9);
        assert_eq!(passphrase_bits(b"aab"), 4);
        // Digits and lower case: an alphabet of 36.
        assert_eq!(passphrase_bits(b"a0"), 10);
        // Bytes that are not UTF-8 are counted, not a panic.
        assert!(passphrase_bits(&[0xff, 0xfe, 0x00, 0x41]) > 0);
        assert_eq!(passphrase_bits(b""), 0);
    }
}
