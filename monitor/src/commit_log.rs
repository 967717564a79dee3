//! Decoding the records of `__consumer_offsets`, the log in which the group coordinator writes
//! every offset commit.
//!
//! The monitor reads this log (as Burrow does) rather than asking for committed offsets,
//! because only the log says *when* each commit happened and that a commit happened at all,
//! even one that repeats the offset before it: which is what tells a consumer that is stuck on
//! a record (STALLED: it keeps committing the same offset) from one that is gone (STOPPED: it
//! commits nothing). Asking the broker (`OffsetFetch`) gives only the latest offset.
//!
//! The format is Kafka's internal one (`OffsetCommitKey` and `OffsetCommitValue` in the group
//! coordinator's message definitions). The key starts with its record type: 0 and 1 are offset
//! commits, everything else (group metadata, the new consumer protocol's records, share groups)
//! is not ours and is skipped. Values exist in versions 0 to 4; version 4 is the first flexible
//! one (compact strings and tagged fields). A record without a value deletes the offset.

/// The name of the topic, which no prefix changes.
pub const TOPIC: &str = "__consumer_offsets";

/// Which group, topic and partition an offset belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitKey {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

/// One record of the log, as far as the monitor cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitRecord {
    /// `key`'s group committed `offset` at `commit_time_ms` (broker time, epoch millis).
    Commit {
        key: CommitKey,
        offset: i64,
        commit_time_ms: i64,
    },
    /// `key`'s offset was deleted (the group expired, or an admin deleted it).
    Deleted { key: CommitKey },
    /// Not an offset commit.
    Other,
}

/// A record of `__consumer_offsets` that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the record has no key")]
    NoKey,
    #[error("the {part} ends before its {field}")]
    Truncated {
        part: &'static str,
        field: &'static str,
    },
    #[error("the {part}'s {field} is not UTF-8")]
    NotUtf8 {
        part: &'static str,
        field: &'static str,
    },
    #[error("offset commit value version {0} is unknown (this monitor reads 0 to 4)")]
    UnknownValueVersion(i16),
}

/// Decodes one record from its key and value bytes.
///
/// # Errors
/// [`DecodeError`] when an offset-commit record is malformed or of a newer value version.
pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<CommitRecord, DecodeError> {
    let key = key.ok_or(DecodeError::NoKey)?;
    let mut reader = Reader::new(key, "key");
    let record_type = reader.i16("record type")?;
    if !matches!(record_type, 0 | 1) {
        return Ok(CommitRecord::Other);
    }
    let key = CommitKey {
        group: reader.string("group")?,
        topic: reader.string("topic")?,
        partition: reader.i32("partition")?,
    };
    let Some(value) = value else {
        return Ok(CommitRecord::Deleted { key });
    };
    let mut reader = Reader::new(value, "value");
    let version = reader.i16("version")?;
    if !(0..=4).contains(&version) {
        return Err(DecodeError::UnknownValueVersion(version));
    }
    let offset = reader.i64("offset")?;
    if version >= 3 {
        reader.i32("leader epoch")?;
    }
    match version {
        0..=3 => reader.string("metadata")?,
        _ => reader.compact_string("metadata")?,
    };
    let commit_time_ms = reader.i64("commit timestamp")?;
    // Version 1's expire timestamp and version 4's tagged fields follow; nothing we need.
    Ok(CommitRecord::Commit {
        key,
        offset,
        commit_time_ms,
    })
}

/// Big-endian reads over a byte slice, naming what is missing when it ends early.
struct Reader<'a> {
    bytes: &'a [u8],
    part: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], part: &'static str) -> Self {
        Self { bytes, part }
    }

    fn take(&mut self, count: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < count {
            return Err(DecodeError::Truncated {
                part: self.part,
                field,
            });
        }
        let (head, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N, field)?);
        Ok(array)
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, DecodeError> {
        self.array(field).map(i16::from_be_bytes)
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        self.array(field).map(i32::from_be_bytes)
    }

    fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        self.array(field).map(i64::from_be_bytes)
    }

    /// An int16 length (-1 for null, read as empty) and that many UTF-8 bytes.
    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let length = self.i16(field)?;
        let length = usize::try_from(length).unwrap_or(0);
        self.utf8(length, field)
    }

    /// An unsigned varint of length + 1 (0 for null) and that many UTF-8 bytes.
    fn compact_string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let length_plus_one = self.unsigned_varint(field)?;
        let length = usize::try_from(length_plus_one.saturating_sub(1)).map_err(|_| {
            DecodeError::Truncated {
                part: self.part,
                field,
            }
        })?;
        self.utf8(length, field)
    }

    fn utf8(&mut self, length: usize, field: &'static str) -> Result<String, DecodeError> {
        let bytes = self.take(length, field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::NotUtf8 {
            part: self.part,
            field,
        })
    }

    fn unsigned_varint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let mut value = 0_u64;
        for shift in (0..64).step_by(7) {
            let [byte] = self.array::<1>(field)?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Truncated {
            part: self.part,
            field,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(record_type: i16, group: &str, topic: &str, partition: i32) -> Vec<u8> {
        let mut bytes = record_type.to_be_bytes().to_vec();
        for text in [group, topic] {
            bytes.extend(i16::try_from(text.len()).unwrap().to_be_bytes());
            bytes.extend(text.as_bytes());
        }
        bytes.extend(partition.to_be_bytes());
        bytes
    }

    fn value(version: i16, offset: i64, metadata: &str, commit_time: i64) -> Vec<u8> {
        let mut bytes = version.to_be_bytes().to_vec();
        bytes.extend(offset.to_be_bytes());
        if version >= 3 {
            bytes.extend(7_i32.to_be_bytes());
        }
        if version == 4 {
            bytes.push(u8::try_from(metadata.len() + 1).unwrap());
        } else {
            bytes.extend(i16::try_from(metadata.len()).unwrap().to_be_bytes());
        }
        bytes.extend(metadata.as_bytes());
        bytes.extend(commit_time.to_be_bytes());
        if version == 1 {
            bytes.extend((-1_i64).to_be_bytes());
        }
        if version == 4 {
            bytes.push(0); // no tagged fields
        }
        bytes
    }

    fn commit_key() -> CommitKey {
        CommitKey {
            group: "shop-orders".into(),
            topic: "orders.events".into(),
            partition: 2,
        }
    }

    #[test]
    fn every_value_version_gives_offset_and_commit_time() {
        for version in 0..=4 {
            for record_type in [0, 1] {
                let decoded = decode(
                    Some(&key(record_type, "shop-orders", "orders.events", 2)),
                    Some(&value(version, 41, "meta", 1_700_000_000_123)),
                );
                assert_eq!(
                    decoded,
                    Ok(CommitRecord::Commit {
                        key: commit_key(),
                        offset: 41,
                        commit_time_ms: 1_700_000_000_123,
                    }),
                    "value version {version}, key type {record_type}"
                );
            }
        }
    }

    #[test]
    fn a_missing_value_deletes_the_offset() {
        let decoded = decode(Some(&key(1, "shop-orders", "orders.events", 2)), None);
        assert_eq!(decoded, Ok(CommitRecord::Deleted { key: commit_key() }));
    }

    #[test]
    fn group_metadata_and_newer_record_types_are_skipped() {
        for record_type in [2_i16, 3, 11, 1000] {
            let mut bytes = record_type.to_be_bytes().to_vec();
            bytes.extend(b"anything");
            assert_eq!(decode(Some(&bytes), Some(b"x")), Ok(CommitRecord::Other));
        }
    }

    #[test]
    fn malformed_records_say_what_is_missing() {
        assert_eq!(decode(None, None), Err(DecodeError::NoKey));
        let mut short = key(1, "g", "t", 0);
        short.truncate(short.len() - 2);
        assert_eq!(
            decode(Some(&short), None),
            Err(DecodeError::Truncated {
                part: "key",
                field: "partition"
            })
        );
        let mut value = value(3, 1, "", 5);
        value.truncate(value.len() - 1);
        assert_eq!(
            decode(Some(&key(1, "g", "t", 0)), Some(&value)),
            Err(DecodeError::Truncated {
                part: "value",
                field: "commit timestamp"
            })
        );
        let future = 9_i16
            .to_be_bytes()
            .iter()
            .chain(&[0; 8])
            .copied()
            .collect::<Vec<_>>();
        assert_eq!(
            decode(Some(&key(1, "g", "t", 0)), Some(&future)),
            Err(DecodeError::UnknownValueVersion(9))
        );
        let mut bad = vec![0, 1, 0, 2, 0xff, 0xfe];
        bad.extend([0, 1, b't', 0, 0, 0, 0]);
        assert_eq!(
            decode(Some(&bad), None),
            Err(DecodeError::NotUtf8 {
                part: "key",
                field: "group"
            })
        );
    }

    #[test]
    fn long_compact_strings_use_multi_byte_varints() {
        let metadata = "m".repeat(300);
        let mut bytes = 4_i16.to_be_bytes().to_vec();
        bytes.extend(9_i64.to_be_bytes());
        bytes.extend((-1_i32).to_be_bytes());
        // 301 = 0b1_0010_1101: low seven bits with the continuation bit, then 2.
        bytes.extend([0xad, 0x02]);
        bytes.extend(metadata.as_bytes());
        bytes.extend(77_i64.to_be_bytes());
        bytes.push(0);
        let decoded = decode(Some(&key(1, "g", "t", 0)), Some(&bytes));
        assert!(
            matches!(
                decoded,
                Ok(CommitRecord::Commit {
                    offset: 9,
                    commit_time_ms: 77,
                    ..
                })
            ),
            "{decoded:?}"
        );
    }
}
