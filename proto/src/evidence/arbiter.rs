//! The offline arbiter (DESIGN §3.3): judges an evidence bundle with no network, from the
//! bundle and an [`ArbiterContext`] alone. Pure: the same inputs give the same [`Verdict`].
//!
//! The checks run in the order of [`Check`]; the first that fails decides "not shown" (anything
//! missing fails its check), and checks that need a failed one's result are listed as not run.
//! If all pass, the delivery check that completed the proof decides "received".
//!
//! Trust: the location X is named in the request B signed, so B is bound by it. B's domain log
//! (key, hash, witnesses) is taken from the arbiter's own trusted list when it has that domain,
//! and from the bundle otherwise, in which case the verdict marks it as assumed.

use x25519_dalek::StaticSecret;

use super::bundle::{BundleError, decode_bundle};
use super::names_request;
use super::verdict::{Check, CheckResult, Outcome, Status, TrustNote, TrustSource, Verdict};
use crate::certmail::{
    MessageKey, VerifiedKeyRequest, check_publication, content_hash, decrypt_message, is_clamped,
    verify_receipt, verify_request, wrap_key,
};
use crate::checkpoint::CosignedCheckpoint;
use crate::equivocation::{Equivocation, VerifiedEquivocation};
use crate::identity::{
    ORIGIN_SUFFIX, VerifiedBinding, VerifiedRevocation, account_domain, verify_binding,
    verify_revocation,
};
use crate::inclusion::LogTrust;
use crate::note::NoteVerifier;
use crate::wire::pb::{self, evidence_bundle};

/// What the arbiter brings besides the bundle.
#[derive(Clone, Debug, Default)]
pub struct ArbiterContext {
    /// The arbiter's clock, Unix seconds: cosignatures timestamped after `now + skew` do not count.
    pub now: u64,
    /// The clock skew allowed for checkpoints of B's domain log (X's is the request's δ).
    pub max_skew: u64,
    /// Logs the arbiter trusts on its own (domain log keys and witness policies). Preferred over
    /// the bundle's copy for the same origin.
    pub trusted_logs: Vec<LogTrust>,
    /// Equivocation proofs presented: a log shown to have split its view proves nothing.
    pub equivocations: Vec<Equivocation>,
    /// Other publications naming the request, presented by B (a lower index wins).
    pub publications: Vec<pb::IncludedLeaf>,
    /// Revocations of B's key, presented by B, each included in B's domain log.
    pub revocations: Vec<pb::IncludedLeaf>,
}

/// Decodes a bundle file ([`decode_bundle`]) and judges it.
pub fn arbitrate_bytes(bytes: &[u8], context: &ArbiterContext) -> Result<Verdict, BundleError> {
    Ok(arbitrate(&decode_bundle(bytes)?, context))
}

struct Judge<'a> {
    ctx: &'a ArbiterContext,
    split: Vec<VerifiedEquivocation>,
    checks: Vec<CheckResult>,
    trust: Vec<TrustNote>,
}

fn short(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn cosigned(cp: &CosignedCheckpoint) -> String {
    format!(
        "checkpoint size {} with {} counted cosignatures (quorum {}, reached at {})",
        cp.checkpoint().size(),
        cp.cosignatures().len(),
        cp.quorum(),
        cp.quorum_time()
    )
}

impl Judge<'_> {
    /// Runs one check: `Ok((value, detail))` passes, `Err(detail)` fails.
    fn step<T>(
        &mut self,
        check: Check,
        f: impl FnOnce() -> Result<(T, String), String>,
    ) -> Option<T> {
        let (status, detail, value) = match f() {
            Ok((value, detail)) => (Status::Passed, detail, Some(value)),
            Err(detail) => (Status::Failed, detail, None),
        };
        self.checks.push(CheckResult {
            check,
            status,
            detail,
        });
        value
    }

    fn not_run(&mut self, checks: &[Check]) {
        for &check in checks {
            self.checks.push(CheckResult {
                check,
                status: Status::NotRun,
                detail: "an earlier check it needs failed".into(),
            });
        }
    }

    fn split_view(&self, log: &NoteVerifier) -> Result<String, String> {
        match self.split.iter().find(|v| v.equivocation().log() == log) {
            Some(_) => Err(format!(
                "an equivocation proof for {} was presented",
                log.name()
            )),
            None => Ok(format!("no equivocation proof for {}", log.name())),
        }
    }

    fn verdict(self, delivered_by: Check) -> Verdict {
        let failed = self.checks.iter().find(|c| c.status != Status::Passed);
        let (outcome, decided_by) = match failed {
            Some(c) => (Outcome::NotShown, c.check),
            None => (Outcome::Received, delivered_by),
        };
        Verdict {
            outcome,
            decided_by,
            checks: self.checks,
            trust: self.trust,
        }
    }

    /// B's domain log: the arbiter's own copy if it has one, else the bundle's (assumed).
    fn recipient_domain(
        &mut self,
        bundle: &pb::EvidenceBundle,
        recipient: &str,
    ) -> Result<(LogTrust, String), String> {
        let domain = account_domain(recipient).ok_or("the recipient has no domain")?;
        let origin = format!("{domain}{ORIGIN_SUFFIX}");
        let from_bundle = bundle.recipient_domain.as_ref().map(LogTrust::from_pb);
        let own = self.ctx.trusted_logs.iter().find(|t| t.origin() == origin);
        let (trust, source) = match (own, from_bundle) {
            (Some(own), Some(Ok(b))) if &b == own => (own.clone(), TrustSource::Confirmed),
            (Some(own), _) => (own.clone(), TrustSource::ArbiterOverride),
            (None, Some(Ok(b))) if b.origin() == origin => (b, TrustSource::Assumed),
            (None, Some(Ok(b))) => {
                return Err(format!("the bundle describes {}, not {origin}", b.origin()));
            }
            (None, Some(Err(e))) => return Err(format!("the bundle's description: {e}")),
            (None, None) => return Err(format!("missing, and {origin} is not trusted")),
        };
        self.trust.push(TrustNote {
            what: format!("recipient domain log {origin}"),
            source,
        });
        let detail = match trust.policy() {
            Some(p) => format!(
                "{origin}: {} witnesses, quorum {}",
                p.witnesses().len(),
                p.quorum()
            ),
            // Nothing of it can count as cosigned: its binding check will say so.
            None => format!("{origin}: no witness policy"),
        };
        Ok((trust, detail))
    }
}

const AFTER_REQUEST: &[Check] = &[
    Check::RecipientDomain,
    Check::RecipientLogConsistent,
    Check::RecipientBinding,
    Check::BoundAtCreated,
    Check::CiphertextHash,
    Check::KeyCommitment,
    Check::Decryption,
    Check::Expectation,
];

/// Judges `bundle` against `context` (see the module documentation).
pub fn arbitrate(bundle: &pb::EvidenceBundle, context: &ArbiterContext) -> Verdict {
    let mut j = Judge {
        ctx: context,
        split: context
            .equivocations
            .iter()
            .filter_map(|e| e.verify().ok())
            .collect(),
        checks: Vec::new(),
        trust: Vec::new(),
    };
    let request = j.step(Check::RequestSignature, || {
        let signed = bundle.request.as_ref().ok_or("the request is missing")?;
        let r = verify_request(signed).map_err(|e| e.to_string())?;
        let detail = format!(
            "req_hash {}…, signed by {}…",
            short(r.req_hash()),
            short(r.recipient_key())
        );
        Ok((r, detail))
    });
    let Some(request) = request else {
        j.not_run(AFTER_REQUEST);
        j.not_run(&[Check::PublicationIncluded]);
        return j.verdict(Check::PublicationCosignedInTime);
    };
    j.trust.push(TrustNote {
        what: format!("location X {}", request.location().origin()),
        source: TrustSource::SignedByRecipient,
    });
    let (binding, revocations) = recipient_checks(&mut j, bundle, &request);
    let key = content_checks(&mut j, bundle, &request);
    let delivered_by = match &bundle.delivery {
        Some(evidence_bundle::Delivery::Receipt(receipt)) => {
            receipt_checks(&mut j, receipt, &request, binding.as_ref(), &revocations);
            Check::ReceiptKeyBound
        }
        Some(evidence_bundle::Delivery::Publication(publication)) => {
            publication_checks(&mut j, publication, &request, key.as_ref());
            Check::PublicationCosignedInTime
        }
        None => {
            j.step::<()>(Check::PublicationIncluded, || {
                Err("the bundle shows neither a publication nor a receipt".into())
            });
            Check::PublicationIncluded
        }
    };
    j.verdict(delivered_by)
}

/// B's domain, binding, and the binding at `created`.
fn recipient_checks(
    j: &mut Judge<'_>,
    bundle: &pb::EvidenceBundle,
    request: &VerifiedKeyRequest,
) -> (Option<VerifiedBinding>, Vec<VerifiedRevocation>) {
    let domain = j.recipient_domain(bundle, request.recipient());
    let Some(trust) = j.step(Check::RecipientDomain, || domain) else {
        j.not_run(&[
            Check::RecipientLogConsistent,
            Check::RecipientBinding,
            Check::BoundAtCreated,
        ]);
        return (None, Vec::new());
    };
    let split = j.split_view(trust.log());
    j.step(Check::RecipientLogConsistent, || split.map(|d| ((), d)));
    let (now, skew) = (j.ctx.now, j.ctx.max_skew);
    let binding = j.step(Check::RecipientBinding, || {
        let leaf = bundle
            .recipient_binding
            .as_ref()
            .ok_or("the recipient's binding is missing")?;
        let b = verify_binding(&trust, leaf, now, skew).map_err(|e| e.to_string())?;
        let detail = format!(
            "{} has key {}… at index {}, {}",
            b.account(),
            short(b.identity_key()),
            b.index(),
            cosigned(b.checkpoint())
        );
        Ok((b, detail))
    });
    let revocations: Vec<VerifiedRevocation> = j
        .ctx
        .revocations
        .iter()
        .filter_map(|r| verify_revocation(&trust, r, now, skew).ok())
        .collect();
    match &binding {
        Some(b) => {
            j.step(Check::BoundAtCreated, || {
                request
                    .check_binding(b, &revocations)
                    .map_err(|e| e.to_string())?;
                let detail = format!(
                    "bound from {}, request made at {}, {} valid revocations presented",
                    b.valid_from(),
                    request.created(),
                    revocations.len()
                );
                Ok(((), detail))
            });
        }
        None => j.not_run(&[Check::BoundAtCreated]),
    }
    (binding, revocations)
}

/// H(C), c_K, Dec_K(C) = M and the expectation. Returns K if it matches c_K.
fn content_checks(
    j: &mut Judge<'_>,
    bundle: &pb::EvidenceBundle,
    request: &VerifiedKeyRequest,
) -> Option<MessageKey> {
    j.step(Check::CiphertextHash, || {
        let h = content_hash(&bundle.ciphertext);
        if &h != request.ciphertext_hash() {
            return Err(format!(
                "H(C) = {}…, the request names {}…",
                short(&h),
                short(request.ciphertext_hash())
            ));
        }
        Ok((
            (),
            format!("H(C) = {}… ({} bytes)", short(&h), bundle.ciphertext.len()),
        ))
    });
    let key = j.step(Check::KeyCommitment, || {
        let bytes: [u8; 32] = bundle
            .message_key
            .as_slice()
            .try_into()
            .map_err(|_| format!("K is {} bytes, not 32", bundle.message_key.len()))?;
        let key = MessageKey::from_bytes(bytes);
        if !key.matches(request.key_commitment()) {
            return Err("K does not match c_K".into());
        }
        Ok((key, format!("c_K = {}…", short(request.key_commitment()))))
    });
    match &key {
        Some(key) => {
            j.step(Check::Decryption, || {
                let m = decrypt_message(key, request.msg_id(), &bundle.ciphertext)
                    .map_err(|e| e.to_string())?;
                if m != bundle.plaintext {
                    return Err("Dec_K(C) is not the message in the bundle".into());
                }
                Ok(((), format!("Dec_K(C) = M ({} bytes)", m.len())))
            });
        }
        None => j.not_run(&[Check::Decryption]),
    }
    j.step(Check::Expectation, || match request.expect() {
        None => Ok(((), "the request states none".into())),
        Some(e) => e
            .check(&bundle.plaintext)
            .map(|()| ((), format!("met (media type {:?})", e.media_type)))
            .map_err(|e| e.to_string()),
    });
    key
}

/// The optimistic variant: B's receipt, signed while B's key was bound.
fn receipt_checks(
    j: &mut Judge<'_>,
    receipt: &pb::Receipt,
    request: &VerifiedKeyRequest,
    binding: Option<&VerifiedBinding>,
    revocations: &[VerifiedRevocation],
) {
    let valid = j.step(Check::Receipt, || {
        verify_receipt(receipt, request).map_err(|e| e.to_string())?;
        Ok(((), format!("signed at {}", receipt.time)))
    });
    match (valid, binding) {
        (Some(()), Some(b)) => {
            j.step(Check::ReceiptKeyBound, || {
                b.bound_at(receipt.time, revocations)
                    .map_err(|e| e.to_string())?;
                Ok(((), format!("bound at {}", receipt.time)))
            });
        }
        _ => j.not_run(&[Check::ReceiptKeyBound]),
    }
}

const PUBLICATION_CHECKS: &[Check] = &[
    Check::LowestIndex,
    Check::PublicationMatchesRequest,
    Check::PublicationUnwrapsToKey,
    Check::PublicationCosignedInTime,
];

/// Step (c): the lowest publication for req_hash, what it wraps, and its timely cosigning.
fn publication_checks(
    j: &mut Judge<'_>,
    publication: &pb::Publication,
    request: &VerifiedKeyRequest,
    key: Option<&MessageKey>,
) {
    let x = request.location().log();
    let split = j.split_view(x.log());
    j.step(Check::LocationLogConsistent, || split.map(|d| ((), d)));
    let included = j.step(Check::PublicationIncluded, || {
        let leaf = publication
            .leaf
            .as_ref()
            .ok_or("the publication leaf is missing")?;
        let v = x.verify_logged(leaf).map_err(|e| e.to_string())?;
        let detail = format!(
            "index {} of {}, checkpoint size {}",
            v.index(),
            x.origin(),
            v.checkpoint().size()
        );
        Ok((v.index(), detail))
    });
    let (Some(index), Some(leaf)) = (included, publication.leaf.as_ref()) else {
        j.not_run(PUBLICATION_CHECKS);
        return;
    };
    let lower = j
        .ctx
        .publications
        .iter()
        .filter_map(|p| x.verify_logged(p).ok())
        .filter(|v| v.index() < index && names_request(v.entry(), request.req_hash()))
        .map(|v| v.index())
        .min();
    let presented = j.ctx.publications.len();
    j.step(Check::LowestIndex, || match lower {
        Some(first) => Err(format!(
            "index {first} names this request before the bundle's index {index}: the first counts"
        )),
        None => Ok((
            (),
            format!("index {index}; {presented} other publications presented, none earlier"),
        )),
    });
    let matched = j.step(Check::PublicationMatchesRequest, || {
        let p = check_publication(&leaf.entry, request).map_err(|e| e.to_string())?;
        let detail = format!("KeyPublication by {} made at {}", p.author, p.created);
        Ok((p, detail))
    });
    match (matched, key) {
        (Some(p), Some(key)) => {
            j.step(Check::PublicationUnwrapsToKey, || {
                let a: [u8; 32] = publication
                    .ephemeral_secret
                    .as_slice()
                    .try_into()
                    .map_err(|_| "the sender's ephemeral secret a is missing".to_string())?;
                if !is_clamped(&a) {
                    return Err("a is not written in its clamped form".into());
                }
                let w = wrap_key(
                    key,
                    &StaticSecret::from(a),
                    request.request_key(),
                    request.req_hash(),
                )
                .map_err(|e| e.to_string())?;
                if w.ephemeral_key != p.ephemeral_key {
                    return Err("A_eph is not X25519(a, base)".into());
                }
                if w.wrapped_key != p.wrapped_key {
                    return Err("K_wrap does not unwrap to K".into());
                }
                Ok(((), format!("A_eph = {}…", short(&w.ephemeral_key))))
            });
        }
        _ => j.not_run(&[Check::PublicationUnwrapsToKey]),
    }
    let (now, limit, skew) = (
        j.ctx.now,
        request.publication_limit(),
        request.location().clock_skew(),
    );
    j.step(Check::PublicationCosignedInTime, || {
        let v = x
            .verify_included(leaf, limit, now, skew)
            .map_err(|e| format!("{e} (T + δ = {limit})"))?;
        Ok(((), format!("{}, T + δ = {limit}", cosigned(v.checkpoint()))))
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn a_leaf_names_a_request_by_req_hash_only_as_a_key_publication() {
        let entry = |kind| pb::LogEntry { kind: Some(kind) }.encode_to_vec();
        let publication = entry(pb::log_entry::Kind::KeyPublication(pb::KeyPublication {
            req_hash: vec![7; 32],
            ..Default::default()
        }));
        assert!(names_request(&publication, &[7; 32]));
        assert!(!names_request(&publication, &[8; 32]));
        let other = entry(pb::log_entry::Kind::Notarization(pb::Notarization {
            digest: vec![7; 32],
            ..Default::default()
        }));
        assert!(!names_request(&other, &[7; 32]));
        assert!(!names_request(&[0xff; 3], &[7; 32]));
    }

    #[test]
    fn an_empty_bundle_is_not_shown_and_says_why() {
        let v = arbitrate(&pb::EvidenceBundle::default(), &ArbiterContext::default());
        assert_eq!(
            (v.outcome, v.decided_by),
            (Outcome::NotShown, Check::RequestSignature)
        );
        assert_eq!(v.checks[0].detail, "the request is missing");
    }
}
