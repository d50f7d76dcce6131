//! Parsers for the request headers a download or upload honours — Range, the conditional
//! headers, checksum headers — and the Content-Disposition a download sends.
//!
//! Pure functions over header text: no I/O, so they are unit-tested here and fuzzed.

use base64::Engine;

/// The byte range a `Range` header asks for, resolved against the file size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// No usable range (absent, malformed, several ranges, or another unit): send it all.
    Full,
    /// Bytes `start..end` (end exclusive).
    Part { start: u64, end: u64 },
    /// A valid range that does not overlap the file: 416.
    Unsatisfiable,
}

/// Resolves a `Range` header value for a file of `size` bytes (RFC 9110 §14.2). Only one
/// range is served; a multi-range request gets the whole file, which the RFC allows.
pub fn range(value: &str, size: u64) -> Range {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Range::Full;
    };
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Range::Full;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if first.is_empty() {
        // Suffix: the last N bytes.
        if !digits(last) {
            return Range::Full;
        }
        return match last.parse::<u64>() {
            Ok(0) => Range::Unsatisfiable,
            Ok(n) if size > 0 => Range::Part { start: size.saturating_sub(n), end: size },
            Ok(_) => Range::Unsatisfiable,
            Err(_) if size > 0 => Range::Part { start: 0, end: size },
            Err(_) => Range::Unsatisfiable,
        };
    }
    if !digits(first) || !(last.is_empty() || digits(last)) {
        return Range::Full;
    }
    let Ok(start) = first.parse::<u64>() else {
        return Range::Unsatisfiable;
    };
    let end = if last.is_empty() {
        size
    } else {
        match last.parse::<u64>() {
            Ok(l) if l < start => return Range::Full,
            Ok(l) => l.saturating_add(1).min(size),
            Err(_) => size,
        }
    };
    if start >= size {
        return Range::Unsatisfiable;
    }
    Range::Part { start, end }
}

/// Whether an `If-Match` / `If-None-Match` list matches `etag` (quoted). `weak` comparison
/// (for If-None-Match) ignores a `W/` prefix.
pub fn etag_matches(list: &str, etag: &str, weak: bool) -> bool {
    list.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        match tag.strip_prefix("W/") {
            Some(t) => weak && t == etag,
            None => tag == etag,
        }
    })
}

/// The sha256 a request declares for its body: `X-Checksum-Sha256: <hex>` or
/// `Content-Digest: sha-256=:<base64>:` (other algorithms in the digest are ignored).
///
/// # Errors
/// A one-line reason when a header is present but malformed, or the two disagree.
pub fn declared_sha256(checksum: Option<&str>, digest: Option<&str>) -> Result<Option<[u8; 32]>, String> {
    let from_hex = match checksum {
        None => None,
        Some(v) => Some(parse_hex32(v.trim()).ok_or("X-Checksum-Sha256 must be 64 hex digits")?),
    };
    let from_digest = match digest {
        None => None,
        Some(v) => content_digest_sha256(v)?,
    };
    match (from_hex, from_digest) {
        (Some(a), Some(b)) if a != b => Err("X-Checksum-Sha256 and Content-Digest disagree".into()),
        (a, b) => Ok(a.or(b)),
    }
}

fn content_digest_sha256(value: &str) -> Result<Option<[u8; 32]>, String> {
    for member in value.split(',') {
        let Some((alg, val)) = member.trim().split_once('=') else {
            return Err("Content-Digest is not a list of algorithm=:base64: members".into());
        };
        if !alg.trim().eq_ignore_ascii_case("sha-256") {
            continue;
        }
        let b64 = val
            .trim()
            .strip_prefix(':')
            .and_then(|v| v.strip_suffix(':'))
            .ok_or("Content-Digest sha-256 must be a byte sequence :base64:")?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| "Content-Digest sha-256 is not valid base64")?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| "Content-Digest sha-256 must be 32 bytes")?;
        return Ok(Some(arr));
    }
    Ok(None)
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    push_hex(&mut out, bytes);
    out
}

/// The lower-case hex of a digest in double quotes: an entity tag. Built on every download,
/// so without `format!`.
pub fn quoted_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 * bytes.len() + 2);
    out.push('"');
    push_hex(&mut out, bytes);
    out.push('"');
    out
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
}

/// `attachment; filename="…"` (RFC 6266), plus `filename*` when the name has characters
/// some clients would mangle in the plain form.
pub fn content_disposition(name: &str) -> String {
    let plain = name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-+ ()[]~!@#$^&=:;{}".contains(&b));
    if plain {
        format!("attachment; filename=\"{name}\"")
    } else {
        let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        let ascii: String = name
            .chars()
            .map(|c| if c == '%' || c == '"' || c == '\\' || !c.is_ascii() { '_' } else { c })
            .collect();
        format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100), Range::Part { start: 0, end: 10 });
        assert_eq!(range("bytes=5-", 100), Range::Part { start: 5, end: 100 });
        assert_eq!(range("bytes=-3", 100), Range::Part { start: 97, end: 100 });
        assert_eq!(range("bytes=-300", 100), Range::Part { start: 0, end: 100 });
        assert_eq!(range("bytes=90-200", 100), Range::Part { start: 90, end: 100 });
        assert_eq!(range("bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(range("bytes=-0", 100), Range::Unsatisfiable);
        assert_eq!(range("bytes=-1", 0), Range::Unsatisfiable);
        assert_eq!(range("bytes=0-", 0), Range::Unsatisfiable);
        for ignored in ["", "items=0-1", "bytes=5-1", "bytes=0-1,3-4", "bytes=a-b", "bytes=-", "bytes=1"] {
            assert_eq!(range(ignored, 100), Range::Full, "{ignored}");
        }
        assert_eq!(range("bytes=99999999999999999999999-", 10), Range::Unsatisfiable);
    }

    #[test]
    fn etags() {
        assert!(etag_matches("\"a\"", "\"a\"", false));
        assert!(etag_matches("\"b\", \"a\"", "\"a\"", false));
        assert!(etag_matches("*", "\"a\"", false));
        assert!(etag_matches("W/\"a\"", "\"a\"", true));
        assert!(!etag_matches("W/\"a\"", "\"a\"", false));
        assert!(!etag_matches("\"b\"", "\"a\"", true));
    }

    #[test]
    fn checksums() {
        let hex64 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let sum = declared_sha256(Some(hex64), None).unwrap().unwrap();
        assert_eq!(hex(&sum), hex64);
        let b64 = base64::engine::general_purpose::STANDARD.encode(sum);
        let digest = format!("sha-512=:AAAA:, sha-256=:{b64}:");
        assert_eq!(declared_sha256(None, Some(&digest)), Ok(Some(sum)));
        assert_eq!(declared_sha256(Some(&hex64.to_uppercase()), Some(&digest)), Ok(Some(sum)));
        assert_eq!(declared_sha256(None, Some("md5=:AAAA:")), Ok(None));
        assert!(declared_sha256(Some("abc"), None).is_err());
        assert!(declared_sha256(None, Some("sha-256=abc")).is_err());
        assert!(declared_sha256(None, Some("sha-256=:AAAA:")).is_err());
        assert!(declared_sha256(Some(&"0".repeat(64)), Some(&digest)).is_err());
        assert_eq!(declared_sha256(None, None), Ok(None));
    }

    #[test]
    fn dispositions() {
        assert_eq!(content_disposition("app-1.0.tar.gz"), "attachment; filename=\"app-1.0.tar.gz\"");
        assert_eq!(
            content_disposition("100%.txt"),
            "attachment; filename=\"100_.txt\"; filename*=UTF-8''100%25%2Etxt"
        );
    }
}
