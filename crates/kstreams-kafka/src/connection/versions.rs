//! ApiVersions negotiation: the highest version both the broker and this client support,
//! capped per API where Kafka reserves higher versions for brokers.

use kafka_protocol::messages::ApiKey;
use std::collections::HashMap;

/// Default per-API caps (API key → highest version the client will use).
///
/// - AddPartitionsToTxn v4+ is reserved for broker-to-broker use (KIP-890); tansu panics on it.
/// - Produce v13 and Fetch v13+ address topics by id instead of name; the client speaks names.
pub fn default_version_caps() -> HashMap<i16, i16> {
    HashMap::from([
        (ApiKey::AddPartitionsToTxn as i16, 3),
        (ApiKey::Produce as i16, 12),
        (ApiKey::Fetch as i16, 12),
    ])
}

/// A broker's advertised range for one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerApiRange {
    /// API key.
    pub api_key: i16,
    /// Lowest version the broker accepts.
    pub min: i16,
    /// Highest version the broker accepts.
    pub max: i16,
}

/// The versions negotiated with one broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionTable {
    negotiated: HashMap<i16, i16>,
}

impl VersionTable {
    /// Negotiates against the broker's advertised ranges: for each API the client implements,
    /// the highest version in the intersection of the broker's range, the client's range and
    /// the cap (if any). APIs without an intersection are left out.
    pub fn negotiate(broker: &[BrokerApiRange], caps: &HashMap<i16, i16>) -> VersionTable {
        let mut negotiated = HashMap::new();
        for range in broker {
            let Ok(key) = ApiKey::try_from(range.api_key) else {
                continue;
            };
            let ours = key.valid_versions();
            let mut max = range.max.min(ours.max);
            if let Some(cap) = caps.get(&range.api_key) {
                max = max.min(*cap);
            }
            let min = range.min.max(ours.min);
            if min <= max {
                negotiated.insert(range.api_key, max);
            }
        }
        VersionTable { negotiated }
    }

    /// A table with fixed versions (for tests).
    pub fn from_versions(versions: impl IntoIterator<Item = (i16, i16)>) -> VersionTable {
        VersionTable {
            negotiated: versions.into_iter().collect(),
        }
    }

    /// The negotiated version of an API, if the broker supports one the client does.
    pub fn version(&self, api_key: i16) -> Option<i16> {
        self.negotiated.get(&api_key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(api_key: ApiKey, min: i16, max: i16) -> BrokerApiRange {
        BrokerApiRange {
            api_key: api_key as i16,
            min,
            max,
        }
    }

    #[test]
    fn picks_highest_common_version() {
        let t = VersionTable::negotiate(&[r(ApiKey::Metadata, 0, 9)], &HashMap::new());
        assert_eq!(t.version(ApiKey::Metadata as i16), Some(9));
    }

    #[test]
    fn caps_at_client_max() {
        let t = VersionTable::negotiate(&[r(ApiKey::Metadata, 0, 999)], &HashMap::new());
        assert_eq!(
            t.version(ApiKey::Metadata as i16),
            Some(ApiKey::Metadata.valid_versions().max)
        );
    }

    #[test]
    fn add_partitions_to_txn_capped_at_3() {
        let t = VersionTable::negotiate(
            &[r(ApiKey::AddPartitionsToTxn, 0, 5)],
            &default_version_caps(),
        );
        assert_eq!(t.version(ApiKey::AddPartitionsToTxn as i16), Some(3));
    }

    #[test]
    fn no_overlap_means_unsupported() {
        // The client implements Produce from v3 only.
        let t = VersionTable::negotiate(&[r(ApiKey::Produce, 0, 2)], &HashMap::new());
        assert_eq!(t.version(ApiKey::Produce as i16), None);
        let t = VersionTable::negotiate(
            &[r(ApiKey::AddPartitionsToTxn, 4, 5)],
            &default_version_caps(),
        );
        assert_eq!(t.version(ApiKey::AddPartitionsToTxn as i16), None);
    }

    #[test]
    fn unknown_api_keys_ignored() {
        let t = VersionTable::negotiate(
            &[BrokerApiRange {
                api_key: 31000,
                min: 0,
                max: 3,
            }],
            &HashMap::new(),
        );
        assert_eq!(t.version(31000), None);
    }
}
