//! Property tests: nothing a peer sends can make decoding panic, and valid messages round trip.
//!
//! Random bytes, and valid encodings with random bytes flipped, cut or appended, go through
//! every top-level decoder; each call returns a value or a typed error, and a value that comes
//! back has passed validation (checked again here). The fuzz targets in `proto/fuzz` do the same
//! with coverage guidance; these run on every `cargo test`.

mod wire_samples;

use herald_proto::merkle::{consistency_proof_len, inclusion_proof_len};
use herald_proto::wire::pb;
use herald_proto::wire::{
    MAX_CONSISTENCY_PROOF_HASHES, MAX_INCLUSION_PROOF_HASHES, Validate, WireError, decode,
    decode_valid, decode_valid_bytes,
};
use proptest::prelude::*;
use prost::Message;
use wire_samples::*;

/// Decodes `bytes` as `M` both ways; checks the invariants a caller relies on.
fn decode_any<M: Validate + std::fmt::Debug + PartialEq>(bytes: &[u8]) {
    // Frames from the network are decoded from a `Bytes` (the light client's and the node's
    // streams): that path accepts, and refuses with, exactly what the slice path does.
    assert_eq!(
        decode_valid_bytes::<M>(bytes::Bytes::copy_from_slice(bytes)),
        decode_valid::<M>(bytes)
    );
    match decode_valid::<M>(bytes) {
        Ok(m) => {
            assert_eq!(m.validate(), Ok(()));
            assert!(bytes.len() <= M::MAX_ENCODED_LEN);
        }
        Err(WireError::TooLarge { len, limit }) => {
            assert_eq!(len, bytes.len());
            assert!(len > limit);
        }
        Err(_) => {}
    }
    // The raw decoder with a generous limit must not panic either.
    let _ = decode::<M>(bytes, usize::MAX);
}

/// Feeds `bytes` to every top-level decoder.
fn decode_every_message(bytes: &[u8]) {
    decode_any::<pb::LogEntry>(bytes);
    decode_any::<pb::SignedCheckpoint>(bytes);
    decode_any::<pb::InclusionProof>(bytes);
    decode_any::<pb::ConsistencyProof>(bytes);
    decode_any::<pb::AddCheckpointRequest>(bytes);
    decode_any::<pb::AddCheckpointResponse>(bytes);
    decode_any::<pb::Equivocation>(bytes);
    decode_any::<pb::ClientRequest>(bytes);
    decode_any::<pb::ClientResponse>(bytes);
    decode_any::<pb::StreamRequest>(bytes);
    decode_any::<pb::StreamResponse>(bytes);
}

/// Valid encodings of every sample message, as seeds for mutation.
fn seeds() -> Vec<Vec<u8>> {
    let mut seeds: Vec<Vec<u8>> = entries().iter().map(Message::encode_to_vec).collect();
    seeds.extend(equivocations().iter().map(Message::encode_to_vec));
    seeds.push(signed_checkpoint().encode_to_vec());
    seeds.push(inclusion_proof().encode_to_vec());
    seeds.push(consistency_proof().encode_to_vec());
    seeds.push(add_checkpoint_request().encode_to_vec());
    seeds.push(cosigned_response().encode_to_vec());
    seeds.push(refusal(pb::witness_refusal::Reason::Conflict, 9).encode_to_vec());
    seeds
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bits: u8 },
    Truncate { at: usize },
    Append { tail: Vec<u8> },
    Insert { at: usize, bytes: Vec<u8> },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        prop::collection::vec(any::<u8>(), 1..16).prop_map(|tail| Mutation::Append { tail }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        match m {
            Mutation::Flip { at, bits } if !bytes.is_empty() => {
                let i = at % bytes.len();
                bytes[i] ^= bits;
            }
            Mutation::Truncate { at } => bytes.truncate(at % (bytes.len() + 1)),
            Mutation::Append { tail } => bytes.extend_from_slice(tail),
            Mutation::Insert { at, bytes: b } => {
                let i = at % (bytes.len() + 1);
                bytes.splice(i..i, b.iter().copied());
            }
            Mutation::Flip { .. } => {}
        }
    }
    bytes
}

fn proof_hash() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 32)
}

/// Sizes spread over all 64 bit lengths, with extra weight at the top of `u64`.
fn tree_size() -> impl Strategy<Value = u64> {
    prop_oneof![
        (0u32..64, any::<u64>()).prop_map(|(bits, x)| x >> bits),
        (0u64..1024).prop_map(|d| u64::MAX - d),
        (0u64..1024).prop_map(|d| (1u64 << 63).wrapping_add(d)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_proof_of_a_64_bit_tree_exceeds_the_wire_bounds(a in tree_size(), b in tree_size()) {
        let (small, large) = (a.min(b), a.max(b));
        if large > 0 {
            prop_assert!(inclusion_proof_len(small.min(large - 1), large) <= MAX_INCLUSION_PROOF_HASHES);
        }
        prop_assert!(consistency_proof_len(small, large) <= MAX_CONSISTENCY_PROOF_HASHES);
    }

    #[test]
    fn random_bytes_never_panic_any_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_every_message(&bytes);
    }

    #[test]
    fn mutated_valid_messages_never_panic_any_decoder(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let seeds = seeds();
        let bytes = apply(seeds[seed.index(seeds.len())].clone(), &mutations);
        decode_every_message(&bytes);
    }

    #[test]
    fn inclusion_proofs_round_trip_within_bounds(
        leaf_index in any::<u64>(),
        tree_size in any::<u64>(),
        hashes in prop::collection::vec(proof_hash(), 0..=MAX_INCLUSION_PROOF_HASHES),
    ) {
        let hashes = hashes.into_iter().map(Into::into).collect();
        let proof = pb::InclusionProof { leaf_index, tree_size, hashes };
        let encoded = proof.encode_to_vec();
        // Decoded from a `Bytes` frame, the hashes are slices of it: the same message.
        prop_assert_eq!(
            decode_valid_bytes::<pb::InclusionProof>(encoded.clone().into()),
            Ok(proof.clone())
        );
        prop_assert_eq!(decode_valid::<pb::InclusionProof>(&encoded), Ok(proof));
    }

    #[test]
    fn consistency_proofs_round_trip_within_bounds(
        size1 in any::<u64>(),
        size2 in any::<u64>(),
        hashes in prop::collection::vec(proof_hash(), 0..=MAX_CONSISTENCY_PROOF_HASHES),
    ) {
        let hashes = hashes.into_iter().map(Into::into).collect();
        let proof = pb::ConsistencyProof { size1, size2, hashes };
        let encoded = proof.encode_to_vec();
        prop_assert_eq!(
            decode_valid_bytes::<pb::ConsistencyProof>(encoded.clone().into()),
            Ok(proof.clone())
        );
        prop_assert_eq!(decode_valid::<pb::ConsistencyProof>(&encoded), Ok(proof));
    }

    #[test]
    fn key_publications_round_trip(
        fields in prop::collection::vec(prop::collection::vec(any::<u8>(), 32), 5),
        signature in prop::collection::vec(any::<u8>(), 64),
        author in "[a-z]{1,64}@[a-z]{1,32}\\.test",
        created in any::<u64>(),
    ) {
        let publication = pb::KeyPublication {
            req_hash: fields[0].clone(),
            ciphertext_hash: fields[1].clone(),
            ephemeral_key: fields[2].clone(),
            wrapped_key: fields[3].clone(),
            author,
            author_key: fields[4].clone(),
            created,
            signature,
            ..Default::default()
        };
        let entry = entry(pb::log_entry::Kind::KeyPublication(publication));
        prop_assert_eq!(decode_valid::<pb::LogEntry>(&entry.encode_to_vec()), Ok(entry));
    }
}
