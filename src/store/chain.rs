//! The per-case hash chain of the event log: each entry's hash covers every column recorded for
//! it and the previous entry's hash, so changing or removing any entry breaks every later link.
//! The opening entry also covers the case row's fixed columns (workflow and version, division,
//! agency) and the opening data through a salted digest: the data itself can later be erased
//! (retention) with its salt while the chain still verifies, and the digest alone does not give
//! a child's details away.
//!
//! Version 2 is today's scheme. Version 1 (entries written before migration 0005) covered only
//! time, actor, event, states and fields; it is still checked as it was, never rehashed.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{CaseWrite, NewEvent, Target};
use crate::text::hex;

/// The "previous hash" of a case's first entry.
pub const GENESIS: &str = "genesis";

/// The hashing scheme new entries are written with.
pub const HASH_VERSION: i64 = 2;

/// What the opening entry commits to besides the event: the case row's fixed columns.
#[derive(Debug, Clone, Copy)]
pub struct Opening<'a> {
    /// Workflow id.
    pub workflow: &'a str,
    /// Workflow version the case runs on.
    pub workflow_hash: &'a str,
    /// Division whose holidays apply.
    pub division: &'a str,
    /// The raising agency.
    pub agency: Option<&'a str>,
    /// [`data_digest`] of the opening data.
    pub data_digest: &'a str,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A fresh random salt for a case's data digest.
pub fn new_salt() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// JSON with object keys sorted at every level, whatever map type serde_json was built with:
/// the one serialisation digests are taken over.
pub fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(&map[key], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            // The same number whichever way a backend gives it back (PostgreSQL's jsonb
            // turns 1e2 into 100): integral values as integers, others in shortest form.
            Value::Number(n) if n.is_f64() => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    out.push_str(&(f as i64).to_string())
                }
                Some(f) => out.push_str(&f.to_string()),
                None => out.push_str(&n.to_string()),
            },
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// The salted digest of a case's opening data.
pub fn data_digest(salt: &str, data: &Value) -> String {
    let mut hash = Sha256::new();
    hash.update(salt.as_bytes());
    hash.update(b"\n");
    hash.update(canonical_json(data).as_bytes());
    format!("sha256:{}", hex(&hash.finalize()))
}

/// The hash of entry `seq` of case `reference`, chained to `prev_hash` (scheme 2): every
/// recorded column, and for the opening entry the case's fixed columns and data digest.
pub fn entry_hash(
    prev_hash: &str,
    reference: &str,
    seq: i64,
    event: &NewEvent,
    opening: Option<&Opening<'_>>,
) -> String {
    let content = serde_json::json!({
        "v": HASH_VERSION,
        "reference": reference,
        "seq": seq,
        "at": time(event.at),
        "recorded_at": time(event.recorded_at),
        "actor": event.actor,
        "event": event.event,
        "from": event.from_state,
        "to": event.to_state,
        "fields": event.fields,
        "reason": event.reason,
        "opening": opening.map(|o| serde_json::json!({
            "workflow": o.workflow,
            "workflow_hash": o.workflow_hash,
            "division": o.division,
            "agency": o.agency,
            "data_digest": o.data_digest,
        })),
    });
    chained(prev_hash, &canonical_json(&content))
}

/// The hash of an entry written before migration 0005 (scheme 1).
pub fn entry_hash_v1(prev_hash: &str, reference: &str, seq: i64, event: &NewEvent) -> String {
    // Exactly as it was written then: serde_json's struct-field and BTreeMap order.
    let content = serde_json::json!({
        "reference": reference,
        "seq": seq,
        "at": time(event.at),
        "actor": event.actor,
        "event": event.event,
        "from": event.from_state,
        "to": event.to_state,
        "fields": event.fields,
    });
    chained(prev_hash, &content.to_string())
}

fn chained(prev_hash: &str, content: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(prev_hash.as_bytes());
    hash.update(b"\n");
    hash.update(content.as_bytes());
    hex(&hash.finalize())
}

/// The root hash of an audit checkpoint: every case's head (reference, entry number, hash) in
/// reference order, the number of cases, the time, chained to the previous checkpoint's root.
pub fn checkpoint_root<'a>(
    prev_root: &str,
    created_at: DateTime<Utc>,
    heads: impl IntoIterator<Item = (&'a str, i64, &'a str)>,
) -> String {
    let mut hash = Sha256::new();
    hash.update(prev_root.as_bytes());
    hash.update(b"\n");
    hash.update(time(created_at).as_bytes());
    hash.update(b"\n");
    let mut count = 0u64;
    for (reference, seq, head) in heads {
        hash.update(format!("{reference} {seq} {head}\n").as_bytes());
        count += 1;
    }
    hash.update(format!("{count} cases").as_bytes());
    format!("sha256:{}", hex(&hash.finalize()))
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
    /// For an opening entry, the digest of the opening data.
    pub data_digest: Option<String>,
}

impl Link {
    /// The opening entry of `write`'s new case; `None` if its target is an existing case.
    pub fn opening(reference: String, write: &CaseWrite) -> Option<Self> {
        let Target::New {
            workflow,
            workflow_hash,
            data,
            division,
            agency,
            data_salt,
            ..
        } = &write.target
        else {
            return None;
        };
        let digest = data_digest(data_salt, data);
        let opening = Opening {
            workflow,
            workflow_hash,
            division,
            agency: agency.as_deref(),
            data_digest: &digest,
        };
        let hash = entry_hash(GENESIS, &reference, 1, &write.event, Some(&opening));
        Some(Link {
            reference,
            seq: 1,
            prev_hash: GENESIS.to_string(),
            hash,
            data_digest: Some(digest),
        })
    }

    /// The entry after `seq`, whose hash is `prev_hash`.
    pub fn after(reference: &str, seq: i64, prev_hash: &str, event: &NewEvent) -> Self {
        Link {
            reference: reference.to_string(),
            seq: seq + 1,
            prev_hash: prev_hash.to_string(),
            hash: entry_hash(prev_hash, reference, seq + 1, event, None),
            data_digest: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[{"z":1,"y":2}],"c":"\n"}}"#).expect("valid");
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"\n","d":[{"y":2,"z":1}]},"b":1}"#
        );
        let a: Value = serde_json::from_str(r#"{"n":1e2,"m":1.5}"#).expect("valid");
        let b: Value = serde_json::from_str(r#"{"m":1.5,"n":100}"#).expect("valid");
        assert_eq!(canonical_json(&a), canonical_json(&b));
    }

    #[test]
    fn the_digest_depends_on_salt_and_data() {
        let data = serde_json::json!({"child": {"name": "Sam"}});
        let a = data_digest("s1", &data);
        assert_eq!(a, data_digest("s1", &data));
        assert_ne!(a, data_digest("s2", &data));
        assert_ne!(
            a,
            data_digest("s1", &serde_json::json!({"child": {"name": "Sal"}}))
        );
    }
}
