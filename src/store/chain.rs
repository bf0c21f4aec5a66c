//! The per-case hash chain of the event log: each entry's hash covers its content and the
//! previous entry's hash, so changing or removing any entry breaks every later link.

use sha2::{Digest, Sha256};

use super::NewEvent;

/// The "previous hash" of a case's first entry.
pub const GENESIS: &str = "genesis";

/// The hash of entry `seq` of case `reference`, chained to `prev_hash`.
pub fn entry_hash(prev_hash: &str, reference: &str, seq: i64, event: &NewEvent) -> String {
    // serde_json writes struct fields in declaration order and BTreeMap keys sorted: canonical.
    let content = serde_json::json!({
        "reference": reference,
        "seq": seq,
        "at": event.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "actor": event.actor,
        "event": event.event,
        "from": event.from_state,
        "to": event.to_state,
        "fields": event.fields,
    });
    let mut hash = Sha256::new();
    hash.update(prev_hash.as_bytes());
    hash.update(b"\n");
    hash.update(content.to_string().as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a write's entry goes in its case's chain.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    /// The case.
    pub reference: String,
    /// The entry's number.
    pub seq: i64,
    /// The entry it links to.
    pub prev_hash: String,
    /// Its own hash.
    pub hash: String,
}

impl Link {
    /// The opening entry of a new case.
    pub fn opening(reference: String, event: &NewEvent) -> Self {
        let hash = entry_hash(GENESIS, &reference, 1, event);
        Link {
            reference,
            seq: 1,
            prev_hash: GENESIS.to_string(),
            hash,
        }
    }

    /// The entry after `seq`, whose hash is `prev_hash`.
    pub fn after(reference: &str, seq: i64, prev_hash: &str, event: &NewEvent) -> Self {
        Link {
            reference: reference.to_string(),
            seq: seq + 1,
            prev_hash: prev_hash.to_string(),
            hash: entry_hash(prev_hash, reference, seq + 1, event),
        }
    }
}
