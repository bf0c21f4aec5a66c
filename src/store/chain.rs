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
