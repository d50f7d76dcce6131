//! The Go language version a go.mod declares, read the way `golang.org/x/mod/zip` reads it
//! (`modfile.ParseLax`, then `go/version.Lang`), because which files a module zip leaves out
//! depends on it (the go 1.24 vendor rule).
//!
//! x/mod uses the `go` line only when the whole file parses in lax mode: a syntax error, a
//! second `go` or `module` line, or a malformed `module`, `require` or `ignore` line makes it
//! count as declaring no version at all, which selects the pre-1.24 rules. So this is a
//! faithful copy of the lax parser's error cases, not just a search for the `go` line.

use super::path::split_major;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Eof,
    EolComment,
    Comment,
    Newline,
    LParen,
    RParen,
    Other,
}

impl Kind {
    fn is_eol(self) -> bool {
        matches!(self, Kind::Eof | Kind::EolComment | Kind::Newline)
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    text: String,
}

/// `modfile`'s lexer; `None` on any error it reports.
fn lex(text: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line_has_token = false;
    loop {
        while i < chars.len() && matches!(chars[i], ' ' | '\t' | '\r') {
            i += 1;
        }
        let at = |j: usize| chars.get(j).copied();
        if at(i) == Some('/') && at(i + 1) == Some('/') {
            // A comment runs to the end of the line and takes the newline with it.
            while i < chars.len() {
                i += 1;
                if chars[i - 1] == '\n' {
                    break;
                }
            }
            let kind = if line_has_token { Kind::EolComment } else { Kind::Comment };
            out.push(Token { kind, text: String::new() });
            line_has_token = false;
            continue;
        }
        if at(i) == Some('/') && at(i + 1) == Some('*') {
            return None;
        }
        let Some(c) = at(i) else {
            out.push(Token { kind: Kind::Eof, text: String::new() });
            return Some(out);
        };
        let start = i;
        let kind = match c {
            '\n' => {
                i += 1;
                line_has_token = false;
                out.push(Token { kind: Kind::Newline, text: "\n".into() });
                continue;
            }
            '(' => {
                i += 1;
                Kind::LParen
            }
            ')' => {
                i += 1;
                Kind::RParen
            }
            '[' | ']' | '{' | '}' | ',' => {
                i += 1;
                Kind::Other
            }
            '"' | '`' => {
                i += 1;
                loop {
                    let d = at(i)?;
                    if d == '\n' {
                        return None;
                    }
                    i += 1;
                    if d == c {
                        break;
                    }
                    if d == '\\' && c != '`' {
                        at(i)?;
                        i += 1;
                    }
                }
                Kind::Other
            }
            _ if is_ident(c) => {
                while i < chars.len() && is_ident(chars[i]) {
                    if chars[i] == '/' && at(i + 1) == Some('/') {
                        break;
                    }
                    if chars[i] == '/' && at(i + 1) == Some('*') {
                        return None;
                    }
                    i += 1;
                }
                Kind::Other
            }
            _ => return None,
        };
        line_has_token = true;
        out.push(Token { kind, text: chars[start..i].iter().collect() });
    }
}

/// `isIdent`: printable, not space, not punctuation the lexer splits on.
fn is_ident(c: char) -> bool {
    !matches!(c, ' ' | '(' | ')' | '[' | ']' | '{' | '}' | ',') && !c.is_whitespace() && is_print(c)
}

/// Go's `unicode.IsPrint` for characters that are not white space: everything but control,
/// format and private-use characters. (Unassigned code points, which Go also refuses, are
/// treated as printable here; they do not occur in real go.mod files.)
fn is_print(c: char) -> bool {
    if c.is_control() {
        return false;
    }
    let u = c as u32;
    const FORMAT: &[(u32, u32)] = &[
        (0xAD, 0xAD),
        (0x600, 0x605),
        (0x61C, 0x61C),
        (0x6DD, 0x6DD),
        (0x70F, 0x70F),
        (0x890, 0x891),
        (0x8E2, 0x8E2),
        (0x180E, 0x180E),
        (0x200B, 0x200F),
        (0x202A, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xE000, 0xF8FF),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
        (0xE0020, 0xE007F),
        (0xF0000, 0x10FFFF),
    ];
    !FORMAT.iter().any(|&(lo, hi)| (lo..=hi).contains(&u))
}

enum Stmt {
    Line(Vec<String>),
    Block(Vec<String>, Vec<Vec<String>>),
}

/// `parseFile`: statements, and `(`…`)` blocks; `None` on a syntax error.
fn parse(tokens: &[Token]) -> Option<Vec<Stmt>> {
    let mut i = 0;
    let mut stmts = Vec::new();
    let next = |i: &mut usize| {
        let t = tokens[*i].clone();
        if t.kind != Kind::Eof {
            *i += 1;
        }
        t
    };
    loop {
        match tokens[i].kind {
            Kind::Newline | Kind::Comment => i += 1,
            Kind::Eof => return Some(stmts),
            _ => {
                let mut words = vec![next(&mut i).text];
                loop {
                    let t = next(&mut i);
                    if t.kind.is_eol() {
                        stmts.push(Stmt::Line(words));
                        break;
                    }
                    if t.kind == Kind::LParen {
                        let peek = tokens[i].kind;
                        if peek.is_eol() {
                            stmts.push(Stmt::Block(words, block(tokens, &mut i)?));
                            break;
                        }
                        if peek == Kind::RParen {
                            let close = next(&mut i);
                            if tokens[i].kind.is_eol() {
                                next(&mut i);
                                stmts.push(Stmt::Block(words, Vec::new()));
                                break;
                            }
                            words.push(t.text);
                            words.push(close.text);
                            continue;
                        }
                    }
                    words.push(t.text);
                }
            }
        }
    }
}

/// `parseLineBlock`, from just after the `(`.
fn block(tokens: &[Token], i: &mut usize) -> Option<Vec<Vec<String>>> {
    let mut lines = Vec::new();
    loop {
        match tokens[*i].kind {
            Kind::EolComment | Kind::Newline | Kind::Comment => *i += 1,
            Kind::Eof => return None,
            Kind::RParen => {
                *i += 1;
                let k = tokens[*i].kind;
                if !k.is_eol() {
                    return None;
                }
                if k != Kind::Eof {
                    *i += 1;
                }
                return Some(lines);
            }
            _ => {
                let mut words = Vec::new();
                while !tokens[*i].kind.is_eol() {
                    words.push(tokens[*i].text.clone());
                    *i += 1;
                }
                if tokens[*i].kind != Kind::Eof {
                    *i += 1;
                }
                lines.push(words);
            }
        }
    }
}

/// The version of the go.mod's `go` line (lax-fixed, as `1.24` for `1.24-foo`), or `None`
/// when there is none or `ParseLax` would report any error.
pub fn go_version(go_mod: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(go_mod);
    let stmts = parse(&lex(&text)?)?;
    let mut state = Lax::default();
    for stmt in &stmts {
        match stmt {
            Stmt::Line(words) => state.add(&words[0], &words[1..])?,
            Stmt::Block(head, lines) => {
                if head.len() != 1 {
                    continue;
                }
                if matches!(
                    head[0].as_str(),
                    "module" | "godebug" | "require" | "exclude" | "replace" | "retract" | "tool" | "ignore"
                ) {
                    for line in lines {
                        state.add(&head[0], line)?;
                    }
                }
            }
        }
    }
    state.go
}

#[derive(Default)]
struct Lax {
    go: Option<String>,
    module: bool,
}

impl Lax {
    /// `File.add` with `strict = false`: `Some(())` when the line is fine or ignored.
    fn add(&mut self, verb: &str, args: &[String]) -> Option<()> {
        match verb {
            "go" => {
                if self.go.is_some() || args.len() != 1 {
                    return None;
                }
                let v = &args[0];
                self.go = Some(if go_version_re(v) { v.clone() } else { lax_go_version(v)? });
            }
            "module" => {
                if self.module {
                    return None;
                }
                self.module = true;
                if args.len() != 1 {
                    return None;
                }
                parse_string(&args[0])?;
            }
            "require" => {
                if args.len() != 2 {
                    return None;
                }
                let path = parse_string(&args[0])?;
                let version = canonical_version(&parse_string(&args[1])?)?;
                let (_, suffix) = split_major(&path)?;
                check_path_major(&version, suffix)?;
            }
            "ignore" => {
                if args.len() != 1 {
                    return None;
                }
                parse_string(&args[0])?;
            }
            // Lax mode skips retract errors and every other directive.
            _ => {}
        }
        Some(())
    }
}

/// `^([1-9][0-9]*)\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?([a-z]+[0-9]+)?$`
fn go_version_re(v: &str) -> bool {
    fn num(s: &str, first_nonzero: bool) -> Option<&str> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        let d = &s[..n];
        let ok = !d.is_empty()
            && (if first_nonzero { !d.starts_with('0') } else { d == "0" || !d.starts_with('0') });
        ok.then(|| &s[n..])
    }
    let Some(rest) = num(v, true).and_then(|r| r.strip_prefix('.')).and_then(|r| num(r, false)) else {
        return false;
    };
    let rest = match rest.strip_prefix('.') {
        Some(r) => match num(r, false) {
            Some(r) => r,
            None => return false,
        },
        None => rest,
    };
    if rest.is_empty() {
        return true;
    }
    let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
    let digits = &rest[letters..];
    letters > 0 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `^v?(([1-9][0-9]*)\.(0|[1-9][0-9]*))([^0-9].*)$`, returning the first group.
fn lax_go_version(v: &str) -> Option<String> {
    let s = v.strip_prefix('v').unwrap_or(v);
    let major = s.bytes().take_while(u8::is_ascii_digit).count();
    if major == 0 || s.starts_with('0') || s.as_bytes().get(major) != Some(&b'.') {
        return None;
    }
    let r = &s[major + 1..];
    let minor = r.bytes().take_while(u8::is_ascii_digit).count();
    if minor == 0 || (minor > 1 && r.starts_with('0')) || minor == r.len() {
        return None;
    }
    Some(s[..major + 1 + minor].to_string())
}

/// `parseString`: a Go-quoted string, or a bare word without quote characters.
fn parse_string(s: &str) -> Option<String> {
    if s.starts_with('"') {
        return unquote(s);
    }
    (!s.contains(['"', '\'', '`'])).then(|| s.to_string())
}

/// `strconv.Unquote` of a double-quoted token (the lexer guarantees the quotes).
fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        match c {
            '"' | '\n' => return None,
            '\\' => {
                let e = it.next()?;
                let mut hex = |n: usize| -> Option<u32> {
                    let digits: String = it.by_ref().take(n).collect();
                    (digits.len() == n).then_some(())?;
                    u32::from_str_radix(&digits, 16).ok()
                };
                match e {
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    'x' => out.push(char::from_u32(hex(2)?).unwrap_or('\u{FFFD}')),
                    'u' => out.push(char::from_u32(hex(4)?)?),
                    'U' => out.push(char::from_u32(hex(8)?)?),
                    '0'..='7' => {
                        let rest: String = it.by_ref().take(2).collect();
                        let digits = format!("{e}{rest}");
                        if digits.len() != 3 || !digits.chars().all(|d| ('0'..='7').contains(&d)) {
                            return None;
                        }
                        let v = u32::from_str_radix(&digits, 8).ok()?;
                        (v <= 255).then_some(())?;
                        out.push(char::from_u32(v).unwrap_or('\u{FFFD}'));
                    }
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// `module.CanonicalVersion`: the canonical form of a valid semantic version (`v1.2` is
/// `v1.2.0`, build metadata dropped except `+incompatible`), `None` for an invalid one.
fn canonical_version(v: &str) -> Option<String> {
    fn int(s: &str) -> Option<(&str, &str)> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        (n > 0 && (n == 1 || !s.starts_with('0'))).then(|| s.split_at(n))
    }
    fn idents(s: &str, numeric_no_zero: bool) -> bool {
        s.split('.').all(|id| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !(numeric_no_zero
                    && id.len() > 1
                    && id.starts_with('0')
                    && id.bytes().all(|b| b.is_ascii_digit()))
        })
    }
    let (major, rest) = int(v.strip_prefix('v')?)?;
    if rest.is_empty() {
        return Some(format!("v{major}.0.0"));
    }
    let (minor, rest) = int(rest.strip_prefix('.')?)?;
    if rest.is_empty() {
        return Some(format!("v{major}.{minor}.0"));
    }
    let (patch, rest) = int(rest.strip_prefix('.')?)?;
    let (pre, build) = match rest.split_once('+') {
        Some((p, b)) => (p, Some(b)),
        None => (rest, None),
    };
    if !pre.is_empty() && !pre.strip_prefix('-').is_some_and(|p| idents(p, true)) {
        return None;
    }
    if build.is_some_and(|b| !idents(b, false)) {
        return None;
    }
    let incompatible = if build == Some("incompatible") { "+incompatible" } else { "" };
    Some(format!("v{major}.{minor}.{patch}{pre}{incompatible}"))
}

/// `module.CheckPathMajor` for a canonical version.
fn check_path_major(version: &str, suffix: &str) -> Option<()> {
    let suffix =
        if suffix.starts_with(".v") { suffix.strip_suffix("-unstable").unwrap_or(suffix) } else { suffix };
    if version.starts_with("v0.0.0-") && suffix == ".v1" {
        return Some(());
    }
    let major = &version[..version.find('.').unwrap_or(version.len())];
    let ok = if suffix.is_empty() {
        major == "v0" || major == "v1" || version.ends_with("+incompatible")
    } else {
        major == &suffix[1..]
    };
    ok.then_some(())
}

/// Whether a go.mod selects the go 1.24 zip rules: `version.Compare(version.Lang("go" + v),
/// "go1.24") >= 0` for its `go` version `v`.
pub fn go_1_24_rules(go_mod: &[u8]) -> bool {
    go_version(go_mod).and_then(|v| lang(&v)).is_some_and(|(major, minor)| {
        let cmp = |a: &str, b: &str| a.len().cmp(&b.len()).then_with(|| a.cmp(b));
        cmp(&major, "1").then_with(|| cmp(&minor, "24")).is_ge()
    })
}

/// `go/version.Lang` as (major, minor); `None` for an invalid version or one without a
/// minor number past `1.0`.
fn lang(v: &str) -> Option<(String, String)> {
    fn int(s: &str) -> Option<(&str, &str)> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        (n > 0 && (n == 1 || !s.starts_with('0'))).then(|| s.split_at(n))
    }
    let (major, rest) = int(v)?;
    let (minor, rest) = int(rest.strip_prefix('.')?)?;
    if let Some(patch) = rest.strip_prefix('.') {
        // A patch release takes no pre-release suffix.
        let (_, rest) = int(patch)?;
        rest.is_empty().then_some(())?;
    } else if !rest.is_empty() {
        let kind = rest.bytes().take_while(u8::is_ascii_lowercase).count();
        if kind == 0 {
            return None;
        }
        let pre = &rest[kind..];
        if !pre.is_empty() {
            let (_, tail) = int(pre)?;
            tail.is_empty().then_some(())?;
        }
    }
    if major == "1" && minor == "0" {
        return None;
    }
    Some((major.to_string(), minor.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_go_line_is_read_when_the_file_parses() {
        let cases: &[(&str, Option<&str>)] = &[
            ("module example.com/m\n\ngo 1.24\n", Some("1.24")),
            ("go 1.24.1 // patch\nmodule example.com/m\n", Some("1.24.1")),
            ("// c\ngo 1.23rc1\n", Some("1.23rc1")),
            ("go 1.24-custom\n", Some("1.24")),
            ("go v1.25.x\n", Some("1.25")),
            ("go 1.24\nmodules.txt is excluded in 1.24+. See golang.org/issue/63395\n", Some("1.24")),
            ("go 1.24\ntoolchain go1.25.0\nreplace a => b v1\nexclude x bad\n", Some("1.24")),
            (
                "go 1.24\nrequire (\n\texample.com/x v1.2\n\texample.com/y/v2 v2.0.0 // indirect\n)\n",
                Some("1.24"),
            ),
            ("go 1.24\nrequire example.com/x v2.0.0+incompatible\nretract [v1.0.0, x]\n", Some("1.24")),
            ("go (\n\t1.24\n)\n", None),
            ("module example.com/m\n", None),
            // ParseLax errors: the go line does not count.
            ("go 1.24\ngo 1.25\n", None),
            ("go 1.24 1.25\n", None),
            ("go 1.024\n", None),
            ("go \"1.24\"\n", None),
            ("go v1.24\n", None),
            ("go 1.24\nmodule a\nmodule b\n", None),
            ("go 1.24\nmodule `example.com/m`\n", None),
            ("go 1.24\nmodule \"example.com/\\q\"\n", None),
            ("go 1.24\nrequire example.com/x v1.2.3.4\n", None),
            ("go 1.24\nrequire example.com/x v2.0.0\n", None),
            ("go 1.24\nrequire example.com/x/v1 v1.0.0\n", None),
            ("go 1.24\nrequire (\n\texample.com/x\n)\n", None),
            ("go 1.24\nignore a b\n", None),
            ("go 1.24\n/* c */\n", None),
            ("go 1.24\nmodule \"unterminated\n", None),
            ("go 1.24\nrequire (\n", None),
            ("go 1.24\nrequire (\n) x\n", None),
            ("\u{FEFF}go 1.24\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(go_version(text.as_bytes()).as_deref(), *want, "{text:?}");
        }
    }

    /// x/mod's `TestIsVendoredPackage` version lists, as go.mod files.
    #[test]
    fn the_go_1_24_rules_start_at_language_version_1_24() {
        for v in [
            "1.14",
            "1.21.0",
            "1.22.4",
            "1.23",
            "1.23.1",
            "1.2",
            "1.7",
            "1.9",
            "1.0",
            "1.24.0rc1",
            "1.24rc01",
        ] {
            assert!(!go_1_24_rules(format!("go {v}\n").as_bytes()), "{v}");
        }
        for v in ["1.24.0", "1.24", "1.99.0", "1.24rc1", "2.0", "1.100"] {
            assert!(go_1_24_rules(format!("go {v}\n").as_bytes()), "{v}");
        }
        assert!(!go_1_24_rules(b"module example.com/m\n"));
        assert!(!go_1_24_rules(b""));
    }
}
