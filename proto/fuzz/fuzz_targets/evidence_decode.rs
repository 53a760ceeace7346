//! Evidence bundles and absence proofs from arbitrary bytes: the files an arbiter is handed.
//!
//! Checks, beyond "no panic": whatever decodes can be judged (the arbiter returns a verdict for
//! any decoded bundle, never an error or a panic), and an absence proof that decodes can be
//! verified without panicking.
#![no_main]

use herald_proto::evidence::{
    ArbiterContext, arbitrate, decode_absence_proof, decode_bundle, verify_absence,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = decode_bundle(data) {
        let context = ArbiterContext {
            now: 1_800_000_000,
            max_skew: 60,
            ..ArbiterContext::default()
        };
        let verdict = arbitrate(&bundle, &context);
        // Every verdict names the check that decided it.
        let _ = verdict.to_string();
    }
    if let Ok(proof) = decode_absence_proof(data) {
        let _ = verify_absence(&proof, 1_800_000_000);
    }
});
