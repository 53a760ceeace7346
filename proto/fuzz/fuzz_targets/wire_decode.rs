//! Every top-level message of the wire schema, decoded from arbitrary bytes.
//!
//! Checks, beyond "no panic": a decoded message passed validation, and re-encoding it gives bytes
//! that decode (under the same limit) to the same message. prost's re-encoding is never longer
//! than its input (unknown fields are dropped, repeated scalars and oneofs collapse), so a valid
//! message can always be forwarded.
#![no_main]

use herald_proto::wire::{Validate, WireError, decode_valid, pb};
use libfuzzer_sys::fuzz_target;

fn check<M: Validate + PartialEq + std::fmt::Debug>(data: &[u8]) {
    match decode_valid::<M>(data) {
        Ok(message) => {
            assert_eq!(message.validate(), Ok(()));
            let again = message.encode_to_vec();
            assert!(again.len() <= data.len(), "re-encoding grew: {message:?}");
            assert_eq!(decode_valid::<M>(&again).as_ref(), Ok(&message));
        }
        Err(WireError::TooLarge { len, limit }) => assert!(len == data.len() && len > limit),
        Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    check::<pb::LogEntry>(data);
    check::<pb::SignedCheckpoint>(data);
    check::<pb::InclusionProof>(data);
    check::<pb::ConsistencyProof>(data);
    check::<pb::AddCheckpointRequest>(data);
    check::<pb::AddCheckpointResponse>(data);
    check::<pb::Equivocation>(data);
    check::<pb::ClientRequest>(data);
    check::<pb::ClientResponse>(data);
    check::<pb::SealedMessage>(data);
    check::<pb::SignedKeyRequest>(data);
    check::<pb::DirectKey>(data);
    check::<pb::Receipt>(data);
    check::<pb::EvidenceBundle>(data);
    check::<pb::SenderRecord>(data);
    check::<pb::RecipientRecord>(data);
    check::<pb::AbsenceProof>(data);
    check::<pb::PasswordRecord>(data);
    check::<pb::PasswordParamsRequest>(data);
    check::<pb::PasswordParams>(data);
    check::<pb::LoginShare>(data);
    check::<pb::LoginChallenge>(data);
    check::<pb::LoginConfirm>(data);
    check::<pb::SessionFrame>(data);
    check::<pb::SessionRecord>(data);
    check::<pb::PrekeyUpload>(data);
    check::<pb::PrekeyStatus>(data);
    check::<pb::PrekeyBundleRequest>(data);
    check::<pb::PrekeyBundle>(data);
    check::<pb::MailEnvelope>(data);
    check::<pb::SessionRequest>(data);
    check::<pb::SessionResponse>(data);
    check::<pb::PolicyRules>(data);
});
