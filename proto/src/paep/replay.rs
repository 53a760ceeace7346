//! The recipient's replay cache (DESIGN §3.2: "keeps a replay cache of (msg_id, id)").
//!
//! A mail encrypted to a one-time prekey cannot be read twice once the prekey's secret is
//! erased; one encrypted to the fallback prekey could, since the fallback is kept. The cache
//! refuses a second `(msg_id, prekey id)` before anything is decrypted.
//!
//! **Bounded by the key store.** Entries are grouped by prekey id: once a prekey's secret is
//! erased (a one-time prekey after its mail, a fallback when replaced), no mail to it can be
//! decrypted again, so [`ReplayCache::forget_prekey`] drops its entries. The cache then holds
//! only the mails received under prekeys still held. The owner persists it with the prekeys
//! ([`ReplayCache::entries`], [`ReplayCache::from_entries`]).

use std::collections::{BTreeMap, BTreeSet};

/// The `(msg_id, prekey id)` pairs of mails already opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayCache {
    by_prekey: BTreeMap<u64, BTreeSet<Vec<u8>>>,
}

impl ReplayCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache holding `entries` (as [`ReplayCache::entries`] listed them).
    pub fn from_entries(entries: impl IntoIterator<Item = (Vec<u8>, u64)>) -> Self {
        let mut cache = Self::new();
        for (msg_id, id) in entries {
            cache.insert(&msg_id, id);
        }
        cache
    }

    /// Whether a mail `msg_id` under prekey `id` was already opened.
    pub fn contains(&self, msg_id: &[u8], id: u64) -> bool {
        self.by_prekey
            .get(&id)
            .is_some_and(|seen| seen.contains(msg_id))
    }

    /// Records an opened mail; returns false if it was already recorded.
    pub fn insert(&mut self, msg_id: &[u8], id: u64) -> bool {
        self.by_prekey
            .entry(id)
            .or_default()
            .insert(msg_id.to_vec())
    }

    /// Drops every entry of prekey `id`, whose secret has been erased.
    pub fn forget_prekey(&mut self, id: u64) {
        self.by_prekey.remove(&id);
    }

    /// How many mails are recorded.
    pub fn len(&self) -> usize {
        self.by_prekey.values().map(BTreeSet::len).sum()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.by_prekey.is_empty()
    }

    /// Every `(msg_id, prekey id)`, in order.
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.by_prekey
            .iter()
            .flat_map(|(id, seen)| seen.iter().map(move |m| (m.as_slice(), *id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_recorded_once_and_forgotten_with_its_prekey() {
        let mut cache = ReplayCache::new();
        assert!(cache.insert(b"m1", 0));
        assert!(!cache.insert(b"m1", 0));
        assert!(cache.insert(b"m1", 5));
        assert!(cache.insert(b"m2", 0));
        assert!(cache.contains(b"m1", 0) && cache.contains(b"m1", 5));
        assert!(!cache.contains(b"m3", 0));
        assert_eq!(cache.len(), 3);
        let copy = ReplayCache::from_entries(cache.entries().map(|(m, i)| (m.to_vec(), i)));
        assert_eq!(copy, cache);
        cache.forget_prekey(0);
        assert!(!cache.contains(b"m1", 0));
        assert!(cache.contains(b"m1", 5));
        assert_eq!(cache.len(), 1);
    }
}
