//! The checks at the end of a chaos run, against what the clients recorded ([`Recorded`]):
//!
//! - every log re-read whole from its node, every leaf hashed here and the tree recomputed
//!   (RFC 6962, proto's compact range): its root must be the log's signed one; every ack's
//!   leaf must be at its index (else: where it went, or that it is gone);
//! - every checkpoint a client saw must be a prefix of that tree (its root recomputed at its
//!   size), and for a sample of pairs of them the node's consistency proof must let the newer
//!   succeed the older under proto's succession rule (the one every verifier calls); the
//!   equivocating log is exempt;
//! - every honest domain must hold a proof of the equivocation that verifies offline (proto's
//!   equivocation verifier), under the equivocating log's key, naming the forked checkpoint, and
//!   nobody may hold one against an honest log;
//!
//! That no process is left is checked apart, once the nodes are stopped ([`super::processes`]).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use herald_light_client::{Gateway as _, GatewayClient};
use herald_node::admin::{AlertReport, ForkReport};
use herald_proto::checkpoint::VerifiedCheckpoint;
use herald_proto::equivocation::Equivocation;
use herald_proto::merkle::{AnyHasher, CompactRange, Hash, LogHasher as _};
use herald_proto::succession::succession;
use herald_proto::wire::MAX_ENTRY_PAGE_COUNT;
use serde::Serialize;

use super::ledger::{Check, LogRecord, Violation};
use super::traffic::LogTarget;
use crate::load::Schedule;
use crate::testnet::Testnet;

/// Details kept per violation kind and log; the rest are counted.
const KEPT_DETAILS: usize = 10;
/// Consistency proofs asked of each log between checkpoints clients saw.
const PROOFS_PER_LOG: usize = 16;

/// One log as re-read at the end.
#[derive(Clone, Debug, Serialize)]
pub struct LogAudit {
    /// The domain.
    pub domain: String,
    /// Whether it is the log made to equivocate.
    pub equivocator: bool,
    /// Its size at the end (its latest signed checkpoint).
    pub tree_size: u64,
    /// Acks recorded, all checked.
    pub acks: usize,
    /// Submissions sent.
    pub submissions: u64,
    /// Submissions that failed, by kind.
    pub failures: BTreeMap<String, u64>,
    /// Distinct checkpoints clients saw (size, root).
    pub checkpoints_seen: usize,
    /// Consistency proofs from the node verified.
    pub proofs_checked: usize,
}

/// Adds violations of `check` about one subject, keeping the first [`KEPT_DETAILS`].
struct Findings<'a> {
    out: &'a mut Vec<Violation>,
    check: Check,
    subject: String,
    count: usize,
}

impl<'a> Findings<'a> {
    fn new(out: &'a mut Vec<Violation>, check: Check, subject: impl Into<String>) -> Self {
        Findings {
            out,
            check,
            subject: subject.into(),
            count: 0,
        }
    }

    fn add(&mut self, detail: String) {
        self.count += 1;
        if self.count <= KEPT_DETAILS {
            self.out.push(Violation {
                check: self.check,
                detail: format!("{}: {detail}", self.subject),
            });
        }
    }
}

impl Drop for Findings<'_> {
    fn drop(&mut self) {
        if self.count > KEPT_DETAILS {
            self.out.push(Violation {
                check: self.check,
                detail: format!(
                    "{}: {} more like these",
                    self.subject,
                    self.count - KEPT_DETAILS
                ),
            });
        }
    }
}

/// Re-reads `target`'s log and holds `record` against it (see the module docs).
pub(super) async fn audit_log(
    target: &LogTarget,
    record: &LogRecord,
    equivocator: bool,
    seed: u64,
    violations: &mut Vec<Violation>,
) -> anyhow::Result<LogAudit> {
    let client = target.connect().await?;
    let signed = client.checkpoint().await?;
    let last = target.trust.verify_checkpoint(&signed.note)?;
    let hasher = AnyHasher(target.hash());
    // Roots are recomputed at every size a client saw, and at the end.
    let wanted: Vec<u64> = record
        .seen
        .keys()
        .copied()
        .filter(|s| *s <= last.size())
        .chain(std::iter::once(last.size()))
        .collect();
    let (leaves, roots) = read_log(&client, &hasher, last.size(), &wanted).await?;

    let tree = Tree {
        size: last.size(),
        root: *last.root(),
        leaves: &leaves,
        roots: &roots,
    };
    hold_against(&target.domain, record, &tree, equivocator, violations);

    let proofs_checked = if equivocator {
        0
    } else {
        let mut seen = Findings::new(violations, Check::Checkpoints, &target.domain);
        let mut rng = Schedule::new(seed ^ target.index as u64);
        check_succession(&client, target, record, &roots, &last, &mut rng, &mut seen).await?
    };
    Ok(LogAudit {
        domain: target.domain.clone(),
        equivocator,
        tree_size: last.size(),
        acks: record.acks.len(),
        submissions: record.submissions,
        failures: record.failures.clone(),
        checkpoints_seen: record.seen.values().map(BTreeMap::len).sum(),
        proofs_checked,
    })
}

/// Asks the node for consistency proofs between pairs of the checkpoints clients saw (those
/// kept, and the last), at most [`PROOFS_PER_LOG`], each judged by proto's succession rule: the
/// older must be succeeded by the newer. A checkpoint seen off the log's tree as re-read (its
/// root is not `roots` at its size) is reported by [`hold_against`] already, and left out here.
/// The number of proofs judged.
async fn check_succession(
    client: &GatewayClient,
    target: &LogTarget,
    record: &LogRecord,
    roots: &BTreeMap<u64, Hash>,
    last: &VerifiedCheckpoint,
    rng: &mut Schedule,
    seen: &mut Findings<'_>,
) -> anyhow::Result<usize> {
    let on_tree = |c: &&VerifiedCheckpoint| {
        c.size() > 0 && c.size() < last.size() && roots.get(&c.size()) == Some(c.root())
    };
    let checkpoints: Vec<&VerifiedCheckpoint> = record
        .kept
        .values()
        .filter(on_tree)
        .chain(std::iter::once(last))
        .collect();
    let mut judged = 0;
    for _ in 0..PROOFS_PER_LOG.min(checkpoints.len().saturating_sub(1)) {
        let a = rng.range(0, checkpoints.len() as u64 - 1) as usize;
        let b = rng.range(a as u64 + 1, checkpoints.len() as u64) as usize;
        let (older, newer) = (checkpoints[a], checkpoints[b]);
        let proof = client.consistency(older.size(), newer.size()).await?;
        if let Err(e) = succession(&target.trust, Some(older), newer, &proof.hashes) {
            seen.add(format!(
                "its checkpoint of {} does not succeed its checkpoint of {}: {e}",
                newer.size(),
                older.size()
            ));
        }
        judged += 1;
    }
    Ok(judged)
}

/// A log as re-read: its signed size and root, every leaf hash, and the roots recomputed at
/// the sizes clients saw.
struct Tree<'a> {
    size: u64,
    root: Hash,
    leaves: &'a [Hash],
    roots: &'a BTreeMap<u64, Hash>,
}

/// Holds what clients recorded of one log against the log as re-read: the tree hashes to its
/// signed root, every ack's leaf is at its index, and (unless `exempt`: the equivocating log)
/// every checkpoint seen has the recomputed root at its size.
fn hold_against(
    domain: &str,
    record: &LogRecord,
    tree: &Tree<'_>,
    exempt: bool,
    violations: &mut Vec<Violation>,
) {
    let mut acks = Findings::new(violations, Check::Acks, domain);
    if tree.roots.get(&tree.size) != Some(&tree.root) {
        acks.add(format!(
            "the {} entries it serves do not hash to its signed root at that size",
            tree.size
        ));
    }
    let position: HashMap<Hash, u64> = tree
        .leaves
        .iter()
        .zip(0u64..)
        .map(|(h, i)| (*h, i))
        .collect();
    for ack in &record.acks {
        if tree.leaves.get(ack.index as usize) == Some(&ack.leaf_hash) {
            continue;
        }
        let now = match position.get(&ack.leaf_hash) {
            Some(at) => format!("it is at index {at} now"),
            None => format!("it is nowhere in the log of {}", tree.size),
        };
        acks.add(format!(
            "entry {} acknowledged at index {} (in a tree of {}) is not there: {now}",
            hex::encode(ack.leaf_hash),
            ack.index,
            ack.tree_size
        ));
    }
    drop(acks);
    if exempt {
        return;
    }
    let mut seen = Findings::new(violations, Check::Checkpoints, domain);
    for (size, by_root) in &record.seen {
        for (root, who) in by_root {
            match tree.roots.get(size) {
                None => seen.add(format!(
                    "a {who} saw a checkpoint of size {size}; the log has {} entries now",
                    tree.size
                )),
                Some(actual) if actual != root => seen.add(format!(
                    "a {who} saw root {} at size {size}; the log's root there is {}",
                    BASE64.encode(root),
                    BASE64.encode(actual)
                )),
                Some(_) => {}
            }
        }
    }
}

/// Reads entries `0..size` in pages; their leaf hashes, and the root at each `wanted` size.
async fn read_log(
    client: &GatewayClient,
    hasher: &AnyHasher,
    size: u64,
    wanted: &[u64],
) -> anyhow::Result<(Vec<Hash>, BTreeMap<u64, Hash>)> {
    let mut tree = CompactRange::new();
    let mut leaves = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut roots = BTreeMap::new();
    let mut want = wanted.to_vec();
    want.sort_unstable();
    want.dedup();
    let mut want = want.into_iter().peekable();
    while want.peek() == Some(&0) {
        roots.insert(0, hasher.empty_root());
        want.next();
    }
    while (leaves.len() as u64) < size {
        let start = leaves.len() as u64;
        let count = (size - start).min(u64::from(MAX_ENTRY_PAGE_COUNT)) as u32;
        let page = client.entries(start, count).await?;
        anyhow::ensure!(
            page.start == start && !page.entries.is_empty(),
            "asked for entries from {start}, got a page from {} with {} entries",
            page.start,
            page.entries.len()
        );
        for entry in page.entries.iter().take(count as usize) {
            let leaf = hasher.hash_leaf(entry);
            tree.append(hasher, leaf, |_, _| {});
            leaves.push(leaf);
            while want.peek() == Some(&(leaves.len() as u64)) {
                roots.insert(leaves.len() as u64, tree.root(hasher));
                want.next();
            }
        }
    }
    Ok((leaves, roots))
}

/// What the equivocation check found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EquivocationAudit {
    /// The equivocating log.
    pub origin: Option<String>,
    /// Per honest domain, the kind of evidence of the proof it holds (`same_size`, ...).
    pub proofs: BTreeMap<String, String>,
}

/// Waits (at most `bound`) until every honest domain holds a proof against the equivocating
/// log, then checks each offline; and checks that no domain holds one against an honest log.
pub(super) async fn audit_equivocation(
    net: &Testnet,
    equivocator: Option<usize>,
    fork: Option<&ForkReport>,
    bound: Duration,
    violations: &mut Vec<Violation>,
) -> EquivocationAudit {
    let mut out = EquivocationAudit::default();
    let deadline = Instant::now() + bound;
    let subject = equivocator.map(|e| net.node(e));
    if let (Some(node), None) = (subject, fork) {
        violations.push(Violation {
            check: Check::Equivocation,
            detail: format!("{} was to equivocate, and no fork was made", node.domain()),
        });
    }
    let expected = subject.zip(fork);
    if let Some((node, _)) = expected {
        out.origin = Some(node.origin());
    }
    for j in 0..net.len() {
        let domain = net.node(j).domain().to_owned();
        let report = loop {
            let report = net.alerts(j).await;
            let done = match (&report, expected) {
                (Ok(r), Some((node, _))) if Some(j) != equivocator => {
                    r.alerts.iter().any(|a| a.origin == node.origin())
                }
                (Ok(_), _) => true,
                (Err(_), _) => false,
            };
            if done || Instant::now() >= deadline {
                break report;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let report: AlertReport = match report {
            Ok(r) => r,
            Err(e) => {
                violations.push(Violation {
                    check: Check::Equivocation,
                    detail: format!("{domain}: its alerts could not be read: {e}"),
                });
                continue;
            }
        };
        let bad_origin = |o: &str| expected.is_none_or(|(node, _)| o != node.origin());
        for origin in report.distrusted.iter().filter(|o| bad_origin(o)) {
            violations.push(Violation {
                check: Check::Equivocation,
                detail: format!("{domain} distrusts {origin}, an honest log"),
            });
        }
        for alert in report.alerts.iter().filter(|a| bad_origin(&a.origin)) {
            violations.push(Violation {
                check: Check::Equivocation,
                detail: format!(
                    "{domain} holds an equivocation proof against {}, an honest log ({})",
                    alert.origin, alert.evidence
                ),
            });
        }
        let Some((node, fork)) = expected else {
            continue;
        };
        if Some(j) == equivocator {
            continue;
        }
        let Some(alert) = report.alerts.iter().find(|a| a.origin == node.origin()) else {
            violations.push(Violation {
                check: Check::Equivocation,
                detail: format!(
                    "{domain} holds no proof that {} equivocated, {bound:?} after the end of the faults",
                    node.domain()
                ),
            });
            continue;
        };
        match check_proof(&alert.proof, node.log_key(), fork) {
            Ok(()) => {
                out.proofs.insert(domain, alert.evidence.clone());
            }
            Err(why) => violations.push(Violation {
                check: Check::Equivocation,
                detail: format!("{domain}'s proof against {}: {why}", node.domain()),
            }),
        }
    }
    out
}

/// Checks a proof as anyone could, offline: it decodes, verifies (proto), is under `log_key`,
/// and one of its two checkpoints is the forked one.
fn check_proof(
    proof_b64: &str,
    log_key: &herald_proto::note::NoteVerifier,
    fork: &ForkReport,
) -> Result<(), String> {
    let bytes = BASE64
        .decode(proof_b64)
        .map_err(|e| format!("not base64: {e}"))?;
    let proof = Equivocation::decode(&bytes).map_err(|e| format!("does not decode: {e}"))?;
    if proof.log().to_string() != log_key.to_string() {
        return Err(format!("it is under another key: {}", proof.log()));
    }
    let verified = proof
        .verify()
        .map_err(|e| format!("does not verify: {e}"))?;
    let forked = [verified.first(), verified.second()]
        .iter()
        .any(|c| c.size() == fork.size && BASE64.encode(c.root()) == fork.root);
    if !forked {
        return Err(format!(
            "neither of its checkpoints is the forked one (size {}, root {})",
            fork.size, fork.root
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use herald_proto::merkle::HashAlgorithm;
    use herald_proto::testkit::MemoryLog;

    use super::super::ledger::Ack;
    use super::*;

    /// Leaves of `n` entries and the root at every size.
    fn tree_of(n: u8) -> (Vec<Hash>, BTreeMap<u64, Hash>) {
        let h = AnyHasher(HashAlgorithm::Blake3);
        let mut range = CompactRange::new();
        let mut roots = BTreeMap::from([(0, h.empty_root())]);
        let mut leaves = Vec::new();
        for i in 0..n {
            let leaf = h.hash_leaf(&[i]);
            range.append(&h, leaf, |_, _| {});
            leaves.push(leaf);
            roots.insert(leaves.len() as u64, range.root(&h));
        }
        (leaves, roots)
    }

    fn judge(record: &LogRecord, exempt: bool) -> Vec<Violation> {
        let (leaves, roots) = tree_of(5);
        let tree = Tree {
            size: 5,
            root: roots[&5],
            leaves: &leaves,
            roots: &roots,
        };
        let mut out = Vec::new();
        hold_against("d0.test", record, &tree, exempt, &mut out);
        out
    }

    fn ack(index: u64, entry: u8) -> Ack {
        Ack {
            index,
            leaf_hash: AnyHasher(HashAlgorithm::Blake3).hash_leaf(&[entry]),
            tree_size: 5,
        }
    }

    #[test]
    fn acks_in_place_and_checkpoints_on_the_tree_hold() {
        let (_, roots) = tree_of(5);
        let mut record = LogRecord {
            acks: (0..5).map(|i| ack(u64::from(i), i)).collect(),
            ..LogRecord::default()
        };
        for size in [1, 3, 5] {
            record
                .seen
                .entry(size)
                .or_default()
                .insert(roots[&size], "watcher");
        }
        assert_eq!(judge(&record, false), vec![]);
    }

    #[test]
    fn a_moved_or_lost_ack_is_named_with_where_it_went() {
        let record = LogRecord {
            acks: vec![ack(2, 3), ack(4, 9), ack(1, 1)],
            ..LogRecord::default()
        };
        let found = judge(&record, false);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|v| v.check == Check::Acks));
        assert!(found[0].detail.contains("index 2") && found[0].detail.contains("at index 3 now"));
        assert!(found[1].detail.contains("nowhere in the log of 5"));
    }

    #[test]
    fn a_checkpoint_off_the_tree_is_named_unless_its_log_equivocated() {
        let (_, roots) = tree_of(5);
        let mut record = LogRecord::default();
        record
            .seen
            .entry(2)
            .or_default()
            .insert(roots[&3], "submitter");
        record
            .seen
            .entry(2)
            .or_default()
            .insert(roots[&2], "watcher");
        record
            .seen
            .entry(9)
            .or_default()
            .insert([7; 32], "cosigned");
        let found = judge(&record, false);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().all(|v| v.check == Check::Checkpoints));
        assert!(
            found
                .iter()
                .any(|v| v.detail.contains("a submitter saw root"))
        );
        assert!(
            found
                .iter()
                .any(|v| v.detail.contains("size 9; the log has 5"))
        );
        assert_eq!(judge(&record, true), vec![]);
    }

    #[test]
    fn a_proof_of_the_fork_verifies_offline_and_others_do_not() {
        let mut honest = MemoryLog::new("d2.test", 7);
        let mut forked = MemoryLog::new("d2.test", 7);
        honest.append(b"a");
        forked.append(b"b");
        let (a, b) = (honest.checkpoint(), forked.checkpoint());
        let proof = Equivocation::from_same_size(HashAlgorithm::Blake3, &a, &b).unwrap();
        let encoded = BASE64.encode(proof.encode());
        let fork = ForkReport {
            origin: "d2.test/herald".into(),
            size: 1,
            root: BASE64.encode(b.root()),
            checkpoint: b.note(),
        };
        let key = honest.signer.verifier();
        assert_eq!(check_proof(&encoded, &key, &fork), Ok(()));
        let other = MemoryLog::new("d2.test", 8).signer.verifier();
        assert!(
            check_proof(&encoded, &other, &fork)
                .unwrap_err()
                .contains("another key")
        );
        let elsewhere = ForkReport {
            root: BASE64.encode([1; 32]),
            ..fork.clone()
        };
        assert!(
            check_proof(&encoded, &key, &elsewhere)
                .unwrap_err()
                .contains("forked one")
        );
        assert!(check_proof("@@", &key, &fork).is_err());
        assert!(check_proof(&BASE64.encode(b"junk"), &key, &fork).is_err());
    }

    #[test]
    fn findings_keep_the_first_details_and_count_the_rest() {
        let mut out = Vec::new();
        let mut f = Findings::new(&mut out, Check::Acks, "d0.test");
        for i in 0..(KEPT_DETAILS + 3) {
            f.add(format!("entry {i}"));
        }
        drop(f);
        assert_eq!(out.len(), KEPT_DETAILS + 1);
        assert!(out[0].detail.starts_with("d0.test: entry 0"));
        assert!(out.last().unwrap().detail.contains("3 more"));
    }
}
