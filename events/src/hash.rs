//! The tamper-evident hash chain over the log.
//!
//! For every event, `hash = SHA-256(prev_hash || canonical(event))` and
//! `prev_hash` is the `hash` of the event at the previous position (32 zero
//! bytes for position 1). An auditor recomputes the chain from the columns
//! alone with this encoding of `canonical(event)`, all integers big-endian:
//!
//! | field | encoding |
//! |---|---|
//! | position | 8 bytes, signed |
//! | event_id | 16 bytes, the UUID's bytes |
//! | stream_id | 4-byte length, then UTF-8 |
//! | stream_version | 8 bytes, signed |
//! | event_type | 4-byte length, then UTF-8 |
//! | schema_version | 2 bytes, signed |
//! | data | 4-byte length, then canonical JSON |
//! | metadata | 4-byte length, then canonical JSON |
//! | recorded_at | 8 bytes: microseconds since the Unix epoch, signed |
//!
//! Canonical JSON is the compact form (no insignificant whitespace) with the
//! keys of every object sorted by their UTF-8 bytes, strings escaped as
//! serde_json escapes them, integers in plain decimal. PostgreSQL's JSONB
//! reorders keys, so the canonical form is what survives a round trip.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// `prev_hash` of the first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// The columns that the hash covers.
pub struct HashInput<'a> {
    pub position: i64,
    pub event_id: Uuid,
    pub stream_id: &'a str,
    pub stream_version: i64,
    pub event_type: &'a str,
    pub schema_version: i16,
    /// Canonical JSON ([`canonical_json`]).
    pub data: &'a [u8],
    /// Canonical JSON ([`canonical_json`]).
    pub metadata: &'a [u8],
    pub recorded_at: DateTime<Utc>,
}

/// `SHA-256(prev_hash || canonical(event))`.
pub fn chain(prev_hash: &[u8], event: &HashInput<'_>) -> [u8; 32] {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(&event.position.to_be_bytes());
    bytes.extend_from_slice(event.event_id.as_bytes());
    put_str(&mut bytes, event.stream_id.as_bytes());
    bytes.extend_from_slice(&event.stream_version.to_be_bytes());
    put_str(&mut bytes, event.event_type.as_bytes());
    bytes.extend_from_slice(&event.schema_version.to_be_bytes());
    put_str(&mut bytes, event.data);
    put_str(&mut bytes, event.metadata);
    bytes.extend_from_slice(&event.recorded_at.timestamp_micros().to_be_bytes());

    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(&bytes);
    hasher.finalize().into()
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    // Payloads are bounded far below 4 GiB by the API's validation.
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// Compact JSON with object keys sorted, independent of serde_json's
/// `preserve_order` feature.
pub fn canonical_json(value: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

/// Canonical JSON as text: what the log stores, so a payload read back
/// hashes exactly as it was written.
pub fn canonical_text(value: &serde_json::Value) -> String {
    String::from_utf8(canonical_json(value))
        .expect("canonical JSON is built from serde_json's UTF-8 output")
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write_canonical(value, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_scalar(value: &serde_json::Value, out: &mut Vec<u8>) {
    // Writing a scalar Value into a Vec cannot fail.
    let _ = serde_json::to_writer(out, value);
}

/// [`canonical_json`] of a JSON document given as text, written straight
/// from the text: the same bytes as parsing it into a `Value` first, at a
/// fraction of the cost (no tree, no copy of a string that needs no
/// escaping). This is what verifying the log spends its time on.
pub fn canonical_from_text(text: &str) -> Vec<u8> {
    Canonical::of(text).unwrap_or_else(|| {
        // Not JSON the reader follows: the slow, general way.
        canonical_json(&serde_json::from_str(text).unwrap_or(serde_json::Value::Null))
    })
}

/// A reader of JSON text writing its canonical form; `None` on anything
/// it does not follow.
struct Canonical<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Canonical<'a> {
    fn of(text: &'a str) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(text.len());
        let mut reader = Canonical {
            text: text.as_bytes(),
            at: 0,
        };
        reader.value(&mut out)?;
        (reader.skip_space() == text.len()).then_some(out)
    }

    fn skip_space(&mut self) -> usize {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.text.get(self.at) {
            self.at += 1;
        }
        self.at
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.text.get(self.at).copied()
    }

    fn value(&mut self, out: &mut Vec<u8>) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(out),
            b'[' => self.array(out),
            b'"' => {
                let key = self.string()?;
                write_string(&key, out);
                Some(())
            }
            b't' => self.literal(b"true", out),
            b'f' => self.literal(b"false", out),
            b'n' => self.literal(b"null", out),
            _ => self.number(out),
        }
    }

    fn literal(&mut self, word: &[u8], out: &mut Vec<u8>) -> Option<()> {
        let end = self.at + word.len();
        (self.text.get(self.at..end)? == word).then_some(())?;
        out.extend_from_slice(word);
        self.at = end;
        Some(())
    }

    /// A number as serde_json writes it back: a short plain integer is
    /// already in that form; anything else goes through serde_json.
    fn number(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let start = self.at;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.text.get(self.at) {
            self.at += 1;
        }
        let token = &self.text[start..self.at];
        // serde_json reads `-0` as a float and writes `-0.0`.
        let digits = token.strip_prefix(b"-").unwrap_or(token);
        let plain = !digits.is_empty()
            && digits.len() <= 18
            && digits.iter().all(u8::is_ascii_digit)
            && token != b"-0";
        if plain {
            out.extend_from_slice(token);
        } else {
            let number: serde_json::Number = serde_json::from_slice(token).ok()?;
            serde_json::to_writer(&mut *out, &number).ok()?;
        }
        Some(())
    }

    /// A string's content: borrowed when it has no escape, decoded when
    /// it has.
    fn string(&mut self) -> Option<std::borrow::Cow<'a, str>> {
        let start = self.at + 1;
        let mut end = start;
        let mut escaped = false;
        loop {
            match *self.text.get(end)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    end += 2;
                }
                _ => end += 1,
            }
        }
        self.at = end + 1;
        if escaped {
            serde_json::from_slice::<String>(&self.text[start - 1..=end])
                .ok()
                .map(std::borrow::Cow::Owned)
        } else {
            std::str::from_utf8(&self.text[start..end])
                .ok()
                .map(std::borrow::Cow::Borrowed)
        }
    }

    fn array(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.at += 1;
        out.push(b'[');
        if self.peek()? == b']' {
            self.at += 1;
            out.push(b']');
            return Some(());
        }
        loop {
            self.value(out)?;
            match self.peek()? {
                b',' => out.push(b','),
                b']' => break,
                _ => return None,
            }
            self.at += 1;
        }
        self.at += 1;
        out.push(b']');
        Some(())
    }

    /// An object's members sorted by key; a repeated key keeps its last
    /// value, as a parsed `Value` does.
    fn object(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.at += 1;
        if self.peek()? == b'}' {
            self.at += 1;
            out.extend_from_slice(b"{}");
            return Some(());
        }
        // Each member's value is written at the end of `out`, then the
        // members are copied back in key order.
        let start = out.len();
        let mut members = Vec::new();
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            if self.peek()? != b':' {
                return None;
            }
            self.at += 1;
            let from = out.len();
            self.value(out)?;
            members.push((key, from..out.len()));
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => break,
                _ => return None,
            }
        }
        self.at += 1;
        members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let written = out.split_off(start);
        out.push(b'{');
        let mut first = true;
        for (i, (key, range)) in members.iter().enumerate() {
            if members.get(i + 1).is_some_and(|next| next.0 == *key) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            write_string(key, out);
            out.push(b':');
            out.extend_from_slice(&written[range.start - start..range.end - start]);
        }
        out.push(b'}');
        Some(())
    }
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(out, text);
}

impl ChainError {
    /// The first position that does not verify.
    pub fn position(&self) -> i64 {
        match self {
            Self::Gap { previous, .. } => previous + 1,
            Self::BrokenLink(p) | Self::BadHash(p) => *p,
        }
    }
}

/// Where a chain stops verifying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("position {found} follows {previous}: the log has a gap")]
    Gap { previous: i64, found: i64 },
    #[error("event at position {0} does not link to its predecessor")]
    BrokenLink(i64),
    #[error("event at position {0} does not match its hash")]
    BadHash(i64),
}

/// Incremental verification of a chain read in position order.
#[derive(Debug, Clone)]
pub struct Verifier {
    position: i64,
    hash: Vec<u8>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            position: 0,
            hash: GENESIS.to_vec(),
        }
    }
}

impl Verifier {
    /// Verification that goes on after the event at `position` with
    /// `hash` (taken as given: what came before it is not checked).
    pub fn after(position: i64, hash: Vec<u8>) -> Self {
        Self { position, hash }
    }

    /// Checks the next event; call in position order from position 1.
    pub fn check(&mut self, event: &crate::RecordedEvent) -> Result<(), ChainError> {
        if event.position != self.position + 1 {
            return Err(ChainError::Gap {
                previous: self.position,
                found: event.position,
            });
        }
        if event.prev_hash != self.hash {
            return Err(ChainError::BrokenLink(event.position));
        }
        let expected = recorded_hash(event);
        if event.hash != expected {
            return Err(ChainError::BadHash(event.position));
        }
        self.position = event.position;
        self.hash = event.hash.clone();
        Ok(())
    }

    /// The last verified position.
    pub fn position(&self) -> i64 {
        self.position
    }
}

/// The hash a recorded event should carry, from its columns: the log keeps
/// JSON as it likes (JSONB reorders keys), so the payloads are brought back
/// to canonical form first.
pub fn recorded_hash(event: &crate::RecordedEvent) -> [u8; 32] {
    let data = canonical_from_text(event.data.get());
    let metadata = canonical_from_text(event.metadata.get());
    chain(
        &event.prev_hash,
        &HashInput {
            position: event.position,
            event_id: event.event_id.0,
            stream_id: &event.stream_id.0,
            stream_version: event.stream_version,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            data: &data,
            metadata: &metadata,
            recorded_at: event.recorded_at,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let value = json!({"b": 1, "a": {"d": [1, {"z": true, "y": null}], "c": "x\"y"}});
        assert_eq!(
            String::from_utf8(canonical_json(&value)).unwrap(),
            r#"{"a":{"c":"x\"y","d":[1,{"y":null,"z":true}]},"b":1}"#
        );
    }

    fn recorded(position: i64, prev: Vec<u8>) -> crate::RecordedEvent {
        let mut event = crate::RecordedEvent {
            position,
            event_id: crate::EventId::new(),
            stream_id: crate::StreamId("meeting-x".into()),
            stream_version: position,
            event_type: "meeting_started".into(),
            schema_version: 1,
            data: (&json!({"k": position})).into(),
            metadata: (&json!({})).into(),
            recorded_at: Utc::now(),
            prev_hash: prev,
            hash: vec![],
        };
        event.hash = recorded_hash(&event).to_vec();
        event
    }

    #[test]
    fn canonical_json_from_text_is_the_same_as_through_a_parsed_value() {
        let documents = [
            r#"{"b": 1, "a": {"d": [1, {"z": true, "y": null}], "c": "x\"y"}}"#,
            r#"{"title": "caf\u00e9 \ud83d\ude00 \/ \t", "n": -0, "m": 1.50, "e": 1e3}"#,
            r#"{"big": 123456789012345678901, "neg": -42, "zero": 0, "f": -0.0}"#,
            r#"{"k": 1, "k": 2, "aa": [], "a": {}, "ä": "ö", "Z": [ [ ], { } ]}"#,
            "{\"blocked_users\": [\"a\", \"b\"],\n\t\"x\" : \"\\u0001\"}",
            r#"[1, "two", null, false, true, {"b": [], "a": ""}]"#,
            r#""just a string""#,
            "17",
            r#"{"emoji": "😀", "rtl": "\u202e", "s": "a\\b"}"#,
        ];
        for text in documents {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            let fast = Canonical::of(text).expect("the reader follows the document");
            assert_eq!(
                String::from_utf8(fast).unwrap(),
                String::from_utf8(canonical_json(&value)).unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn a_chain_verifies_and_a_changed_payload_breaks_it() {
        let first = recorded(1, GENESIS.to_vec());
        let second = recorded(2, first.hash.clone());
        let mut verifier = Verifier::default();
        verifier.check(&first).unwrap();
        verifier.check(&second).unwrap();

        let mut tampered = second.clone();
        tampered.data = (&json!({"k": 99})).into();
        let mut verifier = Verifier::default();
        verifier.check(&first).unwrap();
        assert_eq!(verifier.check(&tampered), Err(ChainError::BadHash(2)));
    }

    #[test]
    fn a_missing_position_is_reported_as_a_gap() {
        let first = recorded(1, GENESIS.to_vec());
        let third = recorded(3, first.hash.clone());
        let mut verifier = Verifier::default();
        verifier.check(&first).unwrap();
        assert_eq!(
            verifier.check(&third),
            Err(ChainError::Gap {
                previous: 1,
                found: 3
            })
        );
    }
}
