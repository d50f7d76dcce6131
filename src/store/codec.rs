//! Versioned record encoding: the only file that knows bincode.
//!
//! Every stored record is one format byte followed by the bincode (1.3, fixed-width integers)
//! encoding of its struct. A release that changes a record gives its type the next format
//! byte ([`Record::FORMAT`]) and keeps decoding each older one ([`Record::decode_older`]), so
//! old databases keep opening: blob records are format 2 (format 1 had no inline content),
//! every other record is format 1. Decoding is bounded by
//! the input length and rejects trailing bytes, so a damaged record is an error, never a huge
//! allocation or a panic; and a record whose values cannot be true ([`Record::invalid`]) is
//! an error too, never a value that code downstream could panic on.

use super::records::Record;
use bincode::Options;

/// The record format written by this release for every record type that does not say
/// otherwise ([`Record::FORMAT`]).
pub const FORMAT: u8 = 1;

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

/// Encodes `value` with its type's current format byte in front.
pub fn encode<T: Record>(value: &T) -> Vec<u8> {
    let mut out = vec![T::FORMAT];
    // Writing into a Vec cannot fail, and our records contain no types (maps with non-string
    // keys, unsized sequences) that bincode refuses to serialize.
    options(usize::MAX).serialize_into(&mut out, value).expect("records always serialize");
    out
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
        Some((&format, rest)) if format == T::FORMAT => decode_body(rest)?,
        Some((&format, rest)) if format < T::FORMAT => T::decode_older(format, rest)?,
        Some((&other, _)) => return Err(Error::UnknownFormat(other)),
    };
    match rec.invalid() {
        Some(why) => Err(Error::Impossible(why)),
        None => Ok(rec),
    }
}

/// Decodes the bytes after the format byte as `T`, for [`Record::decode_older`] too.
///
/// # Errors
/// [`Error::Malformed`] when they are not a valid `T`, trailing bytes included.
pub fn decode_body<T: serde::de::DeserializeOwned>(rest: &[u8]) -> Result<T, Error> {
    options(rest.len()).deserialize(rest).map_err(|e| Error::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let file = FileRec { name: "a".into(), blob: 1, sha256: [3; 32], size: 9, created: 1 };
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
            (BlobRec { size: 2, inline: vec![0; 3], ..blob.clone() }, "more inline bytes than its size"),
        ] {
            let err = decode::<BlobRec>(&encode(&bad)).unwrap_err();
            assert!(matches!(err, Error::Impossible(_)) && err.to_string().contains(why), "{bad:?}: {err}");
        }
        // The most chunks an index can number is still a blob, and so is all of it inline.
        let most = BlobRec { chunk_size: 1, size: u64::from(u32::MAX), ..blob.clone() };
        assert_eq!(decode::<BlobRec>(&encode(&most)), Ok(most));
        let most =
            BlobRec { chunk_size: 1, size: u64::from(u32::MAX) + 3, inline: vec![7; 3], ..blob.clone() };
        assert_eq!(decode::<BlobRec>(&encode(&most)), Ok(most));
        let all_inline = BlobRec { size: 3, inline: vec![7; 3], ..blob };
        assert_eq!(decode::<BlobRec>(&encode(&all_inline)), Ok(all_inline));
        let file = FileRec { name: String::new(), blob: 1, sha256: [3; 32], size: 9, created: 1 };
        assert!(matches!(decode::<FileRec>(&encode(&file)), Err(Error::Impossible(_))));
        let owner = OwnerRec { name: String::new(), kind: OwnerKind::Org, private: false, created: 0 };
        assert!(matches!(decode::<OwnerRec>(&encode(&owner)), Err(Error::Impossible(_))));
        let token =
            TokenRec { user: String::new(), label: "l".into(), write: true, created: 0, expires: None };
        assert!(matches!(decode::<TokenRec>(&encode(&token)), Err(Error::Impossible(_))));
        let package = PackageRec { name: String::new(), created: 0 };
        assert!(matches!(decode::<PackageRec>(&encode(&package)), Err(Error::Impossible(_))));
        let version = VersionRec { version: String::new(), created: 0, order: 0 };
        assert!(matches!(decode::<VersionRec>(&encode(&version)), Err(Error::Impossible(_))));
    }

    /// Every record type's format 1 bytes, written out by hand: a change of encoder, of
    /// encoder options or of a field's type or order fails here instead of changing the file.
    #[test]
    fn format_1_bytes_of_every_record_are_pinned() {
        use crate::store::records::{BlobRec, PackageRec, QuotaRec, TokenRec, UsageRec, VersionRec};
        fn pinned<T: Record + PartialEq + std::fmt::Debug>(rec: T, parts: &[&[u8]]) {
            let bytes = parts.concat();
            assert_eq!(encode(&rec), bytes, "{rec:?}");
            assert_eq!(decode::<T>(&bytes), Ok(rec));
        }
        let str = |s: &'static str| [&(s.len() as u64).to_le_bytes()[..], s.as_bytes()].concat();
        let u64 = |n: u64| n.to_le_bytes().to_vec();
        let f1: &[u8] = &[FORMAT];
        assert_eq!(FORMAT, 1);
        let user = OwnerKind::User { password_hash: "$argon2id$h".into(), admin: true };
        pinned(
            OwnerRec { name: "Alice".into(), kind: user, private: true, created: 7 },
            &[f1, &str("Alice"), &0u32.to_le_bytes(), &str("$argon2id$h"), &[1], &[1], &u64(7)],
        );
        pinned(
            OwnerRec { name: "Acme".into(), kind: OwnerKind::Org, private: false, created: 8 },
            &[f1, &str("Acme"), &1u32.to_le_bytes(), &[0], &u64(8)],
        );
        pinned(
            TokenRec { user: "alice".into(), label: "ci".into(), write: true, created: 9, expires: Some(10) },
            &[f1, &str("alice"), &str("ci"), &[1], &u64(9), &[1], &u64(10)],
        );
        pinned(
            TokenRec { user: "alice".into(), label: "ro".into(), write: false, created: 9, expires: None },
            &[f1, &str("alice"), &str("ro"), &[0], &u64(9), &[0]],
        );
        pinned(PackageRec { name: "My-App".into(), created: 11 }, &[f1, &str("My-App"), &u64(11)]);
        pinned(
            VersionRec { version: "v1.0.0".into(), created: 12, order: 1 << 60 },
            &[f1, &str("v1.0.0"), &u64(12), &u64(1 << 60)],
        );
        pinned(
            FileRec { name: "a.tgz".into(), blob: 13, sha256: [0xab; 32], size: 14, created: 15 },
            &[f1, &str("a.tgz"), &u64(13), &[0xab; 32], &u64(14), &u64(15)],
        );
        // Blob records are format 2 (inline content added).
        let f2: &[u8] = &[2];
        assert_eq!(<BlobRec as Record>::FORMAT, 2);
        pinned(
            BlobRec { sha256: [0xcd; 32], size: 16, chunk_size: 1_044_480, refs: 2, inline: vec![] },
            &[f2, &[0xcd; 32], &u64(16), &1_044_480u32.to_le_bytes(), &u64(2), &u64(0)],
        );
        pinned(
            BlobRec { sha256: [0xcd; 32], size: 4096, chunk_size: 4076, refs: 1, inline: vec![0xee; 20] },
            &[f2, &[0xcd; 32], &u64(4096), &4076u32.to_le_bytes(), &u64(1), &u64(20), &[0xee; 20]],
        );
        pinned(UsageRec { bytes: 17, versions: 18 }, &[f1, &u64(17), &u64(18)]);
        pinned(QuotaRec { max_bytes: Some(19), max_versions: None }, &[f1, &[1], &u64(19), &[0]]);
        pinned(QuotaRec { max_bytes: None, max_versions: Some(20) }, &[f1, &[0], &[1], &u64(20)]);
    }

    /// Blob records of format 1 (layouts 1 and 2) decode as blobs with all content in chunks;
    /// a format beyond the type's own is unknown; other types have no format 2.
    #[test]
    fn format_1_blob_record_still_decodes() {
        use crate::store::records::{BlobRec, TokenRec};
        let bytes: Vec<u8> =
            [&[1u8][..], &[0xcd; 32], &16u64.to_le_bytes(), &1_044_480u32.to_le_bytes(), &2u64.to_le_bytes()]
                .concat();
        let rec: BlobRec = decode(&bytes).unwrap();
        let want = BlobRec { sha256: [0xcd; 32], size: 16, chunk_size: 1_044_480, refs: 2, inline: vec![] };
        assert_eq!(rec, want);
        // Checked like any record: a format 1 blob with no reference is refused too.
        let zero_refs = [&bytes[..bytes.len() - 8], &0u64.to_le_bytes()].concat();
        assert!(matches!(decode::<BlobRec>(&zero_refs), Err(Error::Impossible(_))));
        assert!(matches!(decode::<BlobRec>(&bytes[..bytes.len() - 1]), Err(Error::Malformed(_))));
        assert_eq!(decode::<BlobRec>(&[3, 0]), Err(Error::UnknownFormat(3)));
        assert_eq!(decode::<BlobRec>(&[0, 0]), Err(Error::UnknownFormat(0)));
        assert_eq!(decode::<TokenRec>(&[2, 0]), Err(Error::UnknownFormat(2)));
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
        assert_eq!(rec, FileRec { name: "a".into(), blob: 5, sha256: [7; 32], size: 3, created: 11 });
    }
}
