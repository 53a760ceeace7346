//! A tampered bundle: flipping any bit of an encoded evidence bundle must either make it fail
//! to parse or change the verdict. Checked for the lowest and the highest bit of every byte of a
//! publication bundle and a receipt bundle (a few thousand arbitrations, about a second).
//!
//! "Change the verdict" compares the whole verdict, details included: e.g. a flipped byte in a
//! redundant cosignature line does not change the outcome (the quorum holds without it) but does
//! change how many cosignatures counted, which the verdict reports.

mod certmail_support;

use certmail_support::*;
use herald_proto::evidence::{ArbiterContext, Outcome, arbitrate_bytes};
use herald_proto::wire::pb;

fn context() -> ArbiterContext {
    ArbiterContext {
        now: NOW + 3600,
        max_skew: SKEW,
        ..Default::default()
    }
}

/// Flips bit `mask` of each byte in turn; returns the positions where the verdict survived.
fn unchanged_flips(bundle: &pb::EvidenceBundle) -> Vec<(usize, u8)> {
    let bytes = bundle.to_file_bytes();
    let ctx = context();
    let honest = arbitrate_bytes(&bytes, &ctx).unwrap();
    assert_eq!(honest.outcome, Outcome::Received, "{honest}");
    let mut survived = Vec::new();
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80] {
            let mut t = bytes.clone();
            t[i] ^= mask;
            if let Ok(v) = arbitrate_bytes(&t, &ctx)
                && v == honest
            {
                survived.push((i, mask));
            }
        }
    }
    survived
}

#[test]
fn every_flip_of_a_publication_bundle_is_detected() {
    // Three cosignatures where two make the quorum: redundancy must not hide a flip either.
    let (_, bundle, _, _) = honest_run(b"pay 100 to bob", 11);
    assert!(bundle.to_file_bytes().len() > 2000);
    assert_eq!(unchanged_flips(&bundle), Vec::<(usize, u8)>::new());
}

#[test]
fn every_flip_of_a_receipt_bundle_is_detected() {
    let world = World::new();
    let bundle =
        certmail_support::forge::receipt(&world, &mut TestRng::new(12), b"M", NOW + 5, |_| {});
    assert_eq!(unchanged_flips(&bundle), Vec::<(usize, u8)>::new());
}
