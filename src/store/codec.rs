//! Versioned record encoding: the only file that knows bincode.
//!
//! Every stored record is one format byte followed by the bincode (1.3, fixed-width integers)
//! encoding of its struct. A future release that changes a record bumps [`FORMAT`] and keeps a
//! decoder for each older byte here, so old databases keep opening. Decoding is bounded by
//! the input length and rejects trailing bytes, so a damaged record is an error, never a huge
//! allocation or a panic; and a record whose values cannot be true ([`Record::invalid`]) is
//! an error too, never a value that code downstream could panic on.

use bincode::Options;
use serde::Serialize;

use super::records::Record;

/// The record format written by this release. Format 2 added the listing fields of
/// `PackageRec`, `VersionRec` and `FileRec`; every other record reads the same in 1 and 2.
pub const FORMAT: u8 = 2;

/// A record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Zero bytes where a record should be.
    Empty,
    /// The format byte belongs to no release this build knows.
    UnknownFormat(u8),
    /// The bytes after the format byte are not a valid record.
    Malformed(String),
    /// The bytes decode, but to values no release writes (a chunk size of 0, …).
    Impossible(&'static str),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Empty => f.write_str("empty record"),
            Error::UnknownFormat(v) => write!(f, "record format {v} is not known to this build"),
            Error::Malformed(e) => write!(f, "malformed record: {e}"),
            Error::Impossible(why) => write!(f, "impossible record: {why}"),
        }
    }
}

impl std::error::Error for Error {}

fn options(limit: usize) -> impl Options {
    bincode::DefaultOptions::new().with_fixint_encoding().with_limit(limit as u64)
}

/// Encodes `value` with the current format byte in front.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Writing into a Vec cannot fail, and our records contain no types (maps with non-string
    // keys, unsized sequences) that bincode refuses to serialize. Sized first, so the buffer
    // is allocated once rather than grown (and copied) as bincode writes it.
    let size = options(usize::MAX).serialized_size(value).expect("records always serialize");
    let mut out = Vec::with_capacity(1 + usize::try_from(size).unwrap_or(0));
    out.push(FORMAT);
    options(usize::MAX).serialize_into(&mut out, value).expect("records always serialize");
    out
}

/// Decodes the bincode bytes of one record (after its format byte), all of them.
///
/// # Errors
/// [`Error::Malformed`] when they are not a valid `T`.
pub fn bincode<T: serde::de::DeserializeOwned>(rest: &[u8]) -> Result<T, Error> {
    options(rest.len()).deserialize(rest).map_err(|e| Error::Malformed(e.to_string()))
}

/// Decodes a record written by [`encode`] (of this or an older format) and checks that its
/// values can be true.
///
/// # Errors
/// [`Error`] when the bytes are empty, of an unknown format, not a valid record, or a record
/// no release writes.
pub fn decode<T: Record>(bytes: &[u8]) -> Result<T, Error> {
    let rec: T = match bytes.split_first() {
        None => return Err(Error::Empty),
        Some((&FORMAT, rest)) => bincode(rest)?,
        Some((&1, rest)) => T::format_1(rest)?,
        Some((&other, _)) => return Err(Error::UnknownFormat(other)),
    };
    match rec.invalid() {
        Some(why) => Err(Error::Impossible(why)),
        None => Ok(rec),
    }
}

/// The sha256 of an encoded blob record, read without decoding the rest (its inline content):
/// in every format the record's first field, 32 bytes right after the format byte (bincode
/// writes an array without a length). `None` for bytes no known format holds.
pub fn blob_sha256(bytes: &[u8]) -> Option<[u8; 32]> {
    match bytes.split_first() {
        Some((&(1 | FORMAT), rest)) => rest.get(..32)?.try_into().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_records_sha256_is_read_without_decoding_it_in_every_format() {
        use crate::store::records::BlobRec;
        let rec = BlobRec { sha256: [7; 32], size: 3, chunk_size: 1007, refs: 2, inline: b"abc".to_vec() };
        let now = encode(&rec);
        let old =
            [&[1u8][..], &[7; 32], &3u64.to_le_bytes(), &1007u32.to_le_bytes(), &2u64.to_le_bytes()].concat();
        for bytes in [now, old] {
            assert_eq!(blob_sha256(&bytes), Some(decode::<BlobRec>(&bytes).unwrap().sha256));
        }
        assert_eq!(blob_sha256(&[FORMAT, 1, 2]), None);
        assert_eq!(blob_sha256(&[9; 40]), None);
    }
    use crate::store::records::{FileRec, OwnerKind, OwnerRec};

    #[test]
    fn records_round_trip() {
        let owner = OwnerRec {
            name: "Alice".into(),
            kind: OwnerKind::User { password_hash: "$argon2id$x".into(), admin: true },
            private: false,
            created: 7,
        };
        assert_eq!(decode::<OwnerRec>(&encode(&owner)), Ok(owner));
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let file = FileRec { name: "a".into(), blob: 1, sha256: [3; 32], size: 9, created: 1, id: 2, seq: 3 };
        let bytes = encode(&file);
        assert_eq!(decode::<FileRec>(&[]), Err(Error::Empty));
        assert_eq!(decode::<FileRec>(&[9, 1, 2]), Err(Error::UnknownFormat(9)));
        for cut in 1..bytes.len() {
            assert!(decode::<FileRec>(&bytes[..cut]).is_err());
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode::<FileRec>(&long).is_err());
        // A length prefix claiming 2^63 bytes must not allocate.
        let mut huge = vec![FORMAT];
        huge.extend_from_slice(&(1u64 << 63).to_le_bytes());
        assert!(decode::<FileRec>(&huge).is_err());
    }

    /// Values no release writes are refused at decode, before any code can divide by them.
    #[test]
    fn a_record_that_cannot_be_true_is_an_error() {
        use crate::store::records::{BlobRec, PackageRec, TokenRec, VersionRec};
        let blob = BlobRec { sha256: [1; 32], size: 10, chunk_size: 4, refs: 1, inline: vec![] };
        assert_eq!(decode::<BlobRec>(&encode(&blob)), Ok(blob.clone()));
        for (bad, why) in [
            (BlobRec { chunk_size: 0, ..blob.clone() }, "blob with a chunk size of 0"),
            (BlobRec { chunk_size: 1, size: 1 << 32, ..blob.clone() }, "blob with more chunks than"),
            (BlobRec { refs: 0, ..blob.clone() }, "blob with no reference"),
            (
                BlobRec { size: 2, inline: vec![1; 3], ..blob.clone() },
                "blob with more inline bytes than its size",
            ),
        ] {
            let err = decode::<BlobRec>(&encode(&bad)).unwrap_err();
            assert!(matches!(err, Error::Impossible(_)) && err.to_string().contains(why), "{bad:?}: {err}");
        }
        // The most chunks an index can number is still a blob.
        // The most chunks an index can number is still a blob, and so is all of it inline.
        let most = BlobRec { chunk_size: 1, size: u64::from(u32::MAX), ..blob.clone() };
        assert_eq!(decode::<BlobRec>(&encode(&most)), Ok(most));
        let most =
            BlobRec { chunk_size: 1, size: u64::from(u32::MAX) + 3, inline: vec![7; 3], ..blob.clone() };
        assert_eq!(decode::<BlobRec>(&encode(&most)), Ok(most));
        let all_inline = BlobRec { size: 3, inline: vec![7; 3], ..blob };
        assert_eq!(decode::<BlobRec>(&encode(&all_inline)), Ok(all_inline));
        let file = FileRec { name: String::new(), ..FileRec::default() };
        assert!(matches!(decode::<FileRec>(&encode(&file)), Err(Error::Impossible(_))));
        let owner = OwnerRec { name: String::new(), kind: OwnerKind::Org, private: false, created: 0 };
        assert!(matches!(decode::<OwnerRec>(&encode(&owner)), Err(Error::Impossible(_))));
        let token =
            TokenRec { user: String::new(), label: "l".into(), write: true, created: 0, expires: None };
        assert!(matches!(decode::<TokenRec>(&encode(&token)), Err(Error::Impossible(_))));
        let package = PackageRec::default();
        assert!(matches!(decode::<PackageRec>(&encode(&package)), Err(Error::Impossible(_))));
        let version = VersionRec::default();
        assert!(matches!(decode::<VersionRec>(&encode(&version)), Err(Error::Impossible(_))));
    }

    /// Every record type's bytes, written out by hand: a change of encoder, of encoder
    /// options or of a field's type or order fails here instead of changing the file.
    #[test]
    fn format_2_bytes_of_every_record_are_pinned() {
        use crate::store::records::{
            BlobRec, Creator, PackageRec, QuotaRec, Seqs, TokenRec, UsageRec, VersionRec,
        };
        fn pinned<T: Record + PartialEq + std::fmt::Debug>(rec: T, parts: &[&[u8]]) {
            let bytes = parts.concat();
            assert_eq!(encode(&rec), bytes, "{rec:?}");
            assert_eq!(decode::<T>(&bytes), Ok(rec));
        }
        let str = |s: &'static str| [&(s.len() as u64).to_le_bytes()[..], s.as_bytes()].concat();
        let u64 = |n: u64| n.to_le_bytes().to_vec();
        let f2: &[u8] = &[FORMAT];
        assert_eq!(FORMAT, 2);
        let user = OwnerKind::User { password_hash: "$argon2id$h".into(), admin: true };
        pinned(
            OwnerRec { name: "Alice".into(), kind: user, private: true, created: 7 },
            &[f2, &str("Alice"), &0u32.to_le_bytes(), &str("$argon2id$h"), &[1], &[1], &u64(7)],
        );
        pinned(
            OwnerRec { name: "Acme".into(), kind: OwnerKind::Org, private: false, created: 8 },
            &[f2, &str("Acme"), &1u32.to_le_bytes(), &[0], &u64(8)],
        );
        pinned(
            TokenRec { user: "alice".into(), label: "ci".into(), write: true, created: 9, expires: Some(10) },
            &[f2, &str("alice"), &str("ci"), &[1], &u64(9), &[1], &u64(10)],
        );
        pinned(
            TokenRec { user: "alice".into(), label: "ro".into(), write: false, created: 9, expires: None },
            &[f2, &str("alice"), &str("ro"), &[0], &u64(9), &[0]],
        );
        pinned(
            PackageRec {
                name: "My-App".into(),
                created: 11,
                latest: Some("2.0".into()),
                versions: 2,
                files: 3,
                size: 40,
                updated: 12,
            },
            &[f2, &str("My-App"), &u64(11), &[1], &str("2.0"), &u64(2), &u64(3), &u64(40), &u64(12)],
        );
        pinned(
            VersionRec {
                version: "v1.0.0".into(),
                created: 12,
                order: 1 << 60,
                id: 5,
                creator: Some(Creator { id: 1, key: "bob".into() }),
                files: 2,
                size: 30,
                seqs: Seqs { owner: 6, kind: 7, package: 8 },
            },
            &[
                f2,
                &str("v1.0.0"),
                &u64(12),
                &u64(1 << 60),
                &u64(5),
                &[1],
                &u64(1),
                &str("bob"),
                &u64(2),
                &u64(30),
                &u64(6),
                &u64(7),
                &u64(8),
            ],
        );
        pinned(
            FileRec {
                name: "a.tgz".into(),
                blob: 13,
                sha256: [0xab; 32],
                size: 14,
                created: 15,
                id: 16,
                seq: 17,
            },
            &[f2, &str("a.tgz"), &u64(13), &[0xab; 32], &u64(14), &u64(15), &u64(16), &u64(17)],
        );
        pinned(
            BlobRec { sha256: [0xcd; 32], size: 16, chunk_size: 1_044_480, refs: 2, inline: vec![] },
            &[f2, &[0xcd; 32], &u64(16), &1_044_480u32.to_le_bytes(), &u64(2), &u64(0)],
        );
        pinned(
            BlobRec { sha256: [0xcd; 32], size: 4096, chunk_size: 1007, refs: 1, inline: vec![0xee; 20] },
            &[f2, &[0xcd; 32], &u64(4096), &1007u32.to_le_bytes(), &u64(1), &u64(20), &[0xee; 20]],
        );
        pinned(UsageRec { bytes: 17, versions: 18 }, &[f2, &u64(17), &u64(18)]);
        pinned(QuotaRec { max_bytes: Some(19), max_versions: None }, &[f2, &[1], &u64(19), &[0]]);
        pinned(QuotaRec { max_bytes: None, max_versions: Some(20) }, &[f2, &[0], &[1], &u64(20)]);
        pinned(
            crate::store::records::RuleRec {
                id: 21,
                enabled: true,
                kind: "go".into(),
                keep_count: 22,
                keep_pattern: "v1.*".into(),
                remove_days: 23,
                remove_pattern: "".into(),
                match_full_name: false,
                created: 24,
            },
            &[f2, &u64(21), &[1], &str("go"), &u64(22), &str("v1.*"), &u64(23), &str(""), &[0], &u64(24)],
        );
        let bad = crate::store::records::RuleRec { kind: "npm".into(), ..Default::default() };
        assert!(matches!(decode::<crate::store::records::RuleRec>(&encode(&bad)), Err(Error::Impossible(_))));
    }

    /// Format 1 bytes of the records whose shape changed in format 2 decode forever, with
    /// the new fields zero (the layout 2 → 3 upgrade fills them in); the records whose
    /// shape did not change read the same in both.
    #[test]
    fn format_1_records_still_decode() {
        use crate::store::records::{PackageRec, UsageRec, VersionRec};
        let str = |s: &'static str| [&(s.len() as u64).to_le_bytes()[..], s.as_bytes()].concat();
        let u64 = |n: u64| n.to_le_bytes().to_vec();
        let f1: &[u8] = &[1];
        let package = [f1, &str("My-App"), &u64(11)].concat();
        assert_eq!(
            decode::<PackageRec>(&package),
            Ok(PackageRec { name: "My-App".into(), created: 11, ..PackageRec::default() })
        );
        let version = [f1, &str("v1.0.0"), &u64(12), &u64(1 << 60)].concat();
        assert_eq!(
            decode::<VersionRec>(&version),
            Ok(VersionRec { version: "v1.0.0".into(), created: 12, order: 1 << 60, ..VersionRec::default() })
        );
        assert_eq!(
            decode::<UsageRec>(&[f1, &u64(17), &u64(18)].concat()),
            Ok(UsageRec { bytes: 17, versions: 18 })
        );
        // A format 1 blob has all its content in chunks.
        let blob = [f1, &[0xcd; 32], &u64(16), &1_044_480u32.to_le_bytes(), &u64(2)].concat();
        assert_eq!(
            decode::<crate::store::records::BlobRec>(&blob),
            Ok(crate::store::records::BlobRec {
                sha256: [0xcd; 32],
                size: 16,
                chunk_size: 1_044_480,
                refs: 2,
                inline: vec![]
            })
        );
        // A format 2 body behind a format 1 byte is not a format 1 record.
        let two = encode(&PackageRec { name: "x".into(), created: 1, ..PackageRec::default() });
        assert!(decode::<PackageRec>(&[f1, &two[1..]].concat()).is_err());
    }

    /// Format 1 bytes written by the first release; they must decode forever.
    #[test]
    fn format_1_file_record_still_decodes() {
        let bytes: Vec<u8> = [
            &[1u8][..],
            &1u64.to_le_bytes(),
            b"a",
            &5u64.to_le_bytes(),
            &[7u8; 32],
            &3u64.to_le_bytes(),
            &11u64.to_le_bytes(),
        ]
        .concat();
        let rec: FileRec = decode(&bytes).unwrap();
        assert_eq!(
            rec,
            FileRec {
                name: "a".into(),
                blob: 5,
                sha256: [7; 32],
                size: 3,
                created: 11,
                ..FileRec::default()
            }
        );
    }
}
