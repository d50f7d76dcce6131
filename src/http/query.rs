//! `application/x-www-form-urlencoded` pairs: query strings and web form bodies.

/// Decoded (name, value) pairs of `text` in order; `+` is a space and a malformed escape is
/// kept as written (a value that is not valid UTF-8 gets U+FFFD).
pub fn pairs(text: &str) -> Vec<(String, String)> {
    let decode =
        |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The first value of `name` among `pairs`.
pub fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Percent-encodes `s` for one path segment or query value (everything but unreserved
/// characters), so `/` in a Go module path becomes `%2F`.
pub fn encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_decode_plus_and_escapes() {
        let p = pairs("q=a+b%2Fc&empty=&flag&x=%ff");
        assert_eq!(get(&p, "q"), Some("a b/c"));
        assert_eq!(get(&p, "empty"), Some(""));
        assert_eq!(get(&p, "flag"), Some(""));
        assert_eq!(get(&p, "x"), Some("\u{fffd}"));
        assert_eq!(get(&p, "none"), None);
        assert_eq!(encode("example.com/m v"), "example.com%2Fm%20v");
    }
}
