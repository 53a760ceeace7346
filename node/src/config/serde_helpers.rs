//! Serde forms of the configuration's non-serde types.

/// `HashAlgorithm` as its name ("blake3", "sha256"); the proto crate has no serde.
pub(super) mod hash_serde {
    use herald_proto::merkle::HashAlgorithm;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn serialize<S: Serializer>(h: &HashAlgorithm, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(h.as_str())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<HashAlgorithm, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .map_err(|_| D::Error::custom(format!("unknown hash {name:?}: use blake3 or sha256")))
    }
}

/// Multiaddrs as their text form.
pub(super) mod multiaddrs_serde {
    use libp2p::Multiaddr;
    use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};

    pub(crate) fn serialize<S: Serializer>(addrs: &[Multiaddr], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(addrs.len()))?;
        for a in addrs {
            seq.serialize_element(&a.to_string())?;
        }
        seq.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Multiaddr>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e| D::Error::custom(format!("bad multiaddr {s:?}: {e}")))
            })
            .collect()
    }
}
