//! Checks an uploaded module zip the way the go command checks one before it trusts it
//! (`golang.org/x/mod/zip.CheckZip` plus the go.mod rules of `cmd/go`), and finds the module
//! path, version and go.mod it carries.
//!
//! The zip is read through `Read + Seek` (the upload's staged chunks), never held in memory
//! whole; every entry is decompressed once to check its size and CRC against its header.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use zip::CompressionMethod;

use super::path::{check_file_path, check_major, check_module_path, fold};
use super::semver;

/// Largest module zip, compressed or (summed over its files) uncompressed: 500 MiB.
pub const MAX_ZIP: u64 = 500 << 20;
/// Largest go.mod and LICENSE: 16 MiB.
pub const MAX_GO_MOD: u64 = 16 << 20;
pub const MAX_LICENSE: u64 = 16 << 20;
/// Most entries one module zip may hold, and the largest central directory. The go command
/// sets no such limit; these keep the memory a hostile zip costs bounded (the biggest public
/// modules hold a few tens of thousands of files).
pub const MAX_ENTRIES: u64 = 200_000;
const MAX_CENTRAL_DIRECTORY: u64 = 64 << 20;

/// A module zip that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    pub version: String,
    /// The go.mod to serve: the zip's own, or `module <path>\n` when it has none.
    pub go_mod: Vec<u8>,
    /// Whether the zip had a go.mod.
    pub has_go_mod: bool,
}

/// Why a zip is not a valid module zip: a one-line reason naming the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(why: impl Into<String>) -> Invalid {
    Invalid(why.into())
}

/// Checks the module zip read from `src` (`len` bytes).
///
/// # Errors
/// [`Invalid`] with the first rule the zip breaks. I/O errors of `src` are reported as
/// `Err(Ok(io))` so the caller can tell storage trouble from a bad upload.
pub fn check<R: Read + Seek>(mut src: R, len: u64) -> Result<Module, Result<std::io::Error, Invalid>> {
    if len > MAX_ZIP {
        return Err(Err(bad(format!("module zip is larger than {MAX_ZIP} bytes"))));
    }
    let (entries, cd_size) = directory_size(&mut src, len)
        .map_err(Ok)?
        .ok_or_else(|| Err(bad("not a zip file (no end-of-central-directory record)")))?;
    if entries > MAX_ENTRIES || cd_size > MAX_CENTRAL_DIRECTORY {
        return Err(Err(bad(format!("module zip has more than {MAX_ENTRIES} entries"))));
    }
    src.seek(SeekFrom::Start(0)).map_err(Ok)?;
    let mut zip = zip::ZipArchive::new(src).map_err(|e| zip_error(e, "not a valid zip file"))?;
    if zip.is_empty() {
        return Err(Err(bad("module zip is empty")));
    }
    if zip.len() as u64 != entries {
        // The zip library keeps one entry per name; the directory counted them all.
        return Err(Err(bad("multiple entries for one file name (or a damaged central directory)")));
    }
    let (path, version) = {
        let first = zip.by_index_raw(0).map_err(|e| zip_error(e, "unreadable zip entry"))?;
        prefix_of(first.name_raw()).map_err(Err)?
    };
    let prefix = format!("{path}@{version}/");
    let mut seen: HashMap<String, (String, bool)> = HashMap::new();
    let mut total: u64 = 0;
    let mut go_mod_index = None;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| zip_error(e, "unreadable zip entry"))?;
        let name = std::str::from_utf8(entry.name_raw())
            .map_err(|_| Err(bad("a zip entry name is not valid UTF-8")))?
            .to_string();
        let Some(rel) = name.strip_prefix(&prefix) else {
            return Err(Err(bad(format!("zip entry {name:?} is not under {prefix:?}"))));
        };
        if rel.is_empty() {
            continue;
        }
        let (rel, is_dir) = match rel.strip_suffix('/') {
            Some(d) => (d, true),
            None => (rel, false),
        };
        let e = |why: String| Err(bad(format!("zip entry {name:?}: {why}")));
        if !is_clean(rel) {
            return Err(e("path is not clean (no '.', '..' or empty elements)".into()));
        }
        check_file_path(rel).map_err(e)?;
        collide(&mut seen, rel, is_dir).map_err(e)?;
        if is_dir {
            continue;
        }
        if entry.encrypted() {
            return Err(e("encrypted entries are not allowed".into()));
        }
        if !matches!(entry.compression(), CompressionMethod::Stored | CompressionMethod::Deflated) {
            return Err(e("compression method must be store or deflate (all the go command reads)".into()));
        }
        let base = rel.rsplit('/').next().unwrap_or(rel);
        if base.eq_ignore_ascii_case("go.mod") {
            if base != rel {
                return Err(e("go.mod file not in module root directory".into()));
            }
            if rel != "go.mod" {
                return Err(e("go.mod must be spelled in lower case".into()));
            }
        }
        let size = entry.size();
        total = total.saturating_add(size);
        if total > MAX_ZIP {
            return Err(Err(bad(format!(
                "total uncompressed size of module contents is larger than {MAX_ZIP} bytes"
            ))));
        }
        if rel == "go.mod" && size > MAX_GO_MOD {
            return Err(e(format!("go.mod file is larger than {MAX_GO_MOD} bytes")));
        }
        if rel == "LICENSE" && size > MAX_LICENSE {
            return Err(e(format!("LICENSE file is larger than {MAX_LICENSE} bytes")));
        }
        if rel == "go.mod" {
            go_mod_index = Some(i);
        }
    }
    // Decompress every file once: its size and CRC must match its header.
    let mut go_mod = None;
    let mut buf = vec![0u8; 64 << 10];
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| zip_error(e, "unreadable zip entry"))?;
        if entry.is_dir() || entry.name_raw().ends_with(b"/") {
            continue;
        }
        let declared = entry.size();
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let mut keep = (Some(i) == go_mod_index).then(|| Vec::with_capacity(declared as usize));
        let mut got: u64 = 0;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) => {
                    return Err(Err(bad(format!("zip entry {name:?} is corrupt: {err}"))));
                }
            };
            got += n as u64;
            if got > declared {
                break;
            }
            if let Some(k) = keep.as_mut() {
                k.extend_from_slice(&buf[..n]);
            }
        }
        if got != declared {
            return Err(Err(bad(format!(
                "zip entry {name:?} holds a different number of bytes than its header declares"
            ))));
        }
        if let Some(k) = keep {
            go_mod = Some(k);
        }
    }
    let parsed = semver::parse(&version)
        .map_err(|e| Err(bad(format!("version {version:?} is not canonical: {e}"))))?;
    let has_go_mod = go_mod.is_some();
    if parsed.incompatible && has_go_mod {
        return Err(Err(bad(format!(
            "version {version} is +incompatible, which the go command accepts only for a module without go.mod"
        ))));
    }
    let go_mod = match go_mod {
        Some(bytes) => {
            let declared =
                module_directive(&bytes).ok_or_else(|| Err(bad("go.mod has no module directive")))?;
            if declared != path {
                return Err(Err(bad(format!(
                    "go.mod declares module {declared:?} but the zip holds module {path:?}"
                ))));
            }
            bytes
        }
        None => format!("module {path}\n").into_bytes(),
    };
    Ok(Module { path, version, go_mod, has_go_mod })
}

fn zip_error(e: zip::result::ZipError, what: &str) -> Result<std::io::Error, Invalid> {
    match e {
        zip::result::ZipError::Io(io) if io.kind() != std::io::ErrorKind::UnexpectedEof => Ok(io),
        other => Err(bad(format!("{what}: {other}"))),
    }
}

/// Splits the first entry's `module@version/…` into the module path and version, and checks
/// both.
fn prefix_of(name: &[u8]) -> Result<(String, String), Invalid> {
    let name = std::str::from_utf8(name).map_err(|_| bad("a zip entry name is not valid UTF-8"))?;
    let (path, rest) = name
        .split_once('@')
        .ok_or_else(|| bad(format!("zip entry {name:?} is not under module@version/")))?;
    let (version, _) = rest
        .split_once('/')
        .ok_or_else(|| bad(format!("zip entry {name:?} is not under module@version/")))?;
    check_module_path(path).map_err(bad)?;
    let v = semver::parse(version).map_err(|e| bad(format!("version {version:?} is not canonical: {e}")))?;
    check_major(path, version, &v).map_err(bad)?;
    Ok((path.to_string(), version.to_string()))
}

/// `path.Clean(p) == p` for a relative slash path.
fn is_clean(p: &str) -> bool {
    !p.is_empty() && p.split('/').all(|e| !e.is_empty() && e != "." && e != "..")
}

/// Records `p` (and its parent directories) and refuses a second path equal to it ignoring
/// case, a path that is both file and directory, and a repeated file.
pub(super) fn collide(
    seen: &mut HashMap<String, (String, bool)>,
    p: &str,
    is_dir: bool,
) -> Result<(), String> {
    let key = fold(p);
    if let Some((other, other_dir)) = seen.get(&key) {
        if other != p {
            return Err(format!("case-insensitive file name collision: {other:?} and {p:?}"));
        }
        if *other_dir != is_dir {
            return Err(format!("{p:?} is both a file and a directory"));
        }
        if !is_dir {
            return Err(format!("multiple entries for file {p:?}"));
        }
        return Ok(());
    }
    seen.insert(key, (p.to_string(), is_dir));
    match p.rsplit_once('/') {
        Some((parent, _)) => collide(seen, parent, true),
        None => Ok(()),
    }
}

/// The module path a go.mod declares (`module example.com/m`, quoted or not, or in a
/// one-line block); `None` without one.
pub fn module_directive(go_mod: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(go_mod).ok()?;
    let mut in_block = false;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        if in_block {
            if line == ")" {
                in_block = false;
                continue;
            }
            if !line.is_empty() {
                return unquote(line);
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("module") else { continue };
        if !rest.starts_with([' ', '\t', '(', '"', '`']) {
            continue;
        }
        let rest = rest.trim();
        if rest == "(" {
            in_block = true;
            continue;
        }
        return unquote(rest.trim_start_matches('(').trim_end_matches(')').trim());
    }
    None
}

fn unquote(s: &str) -> Option<String> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return Some(inner.replace("\\\"", "\"").replace("\\\\", "\\"));
    }
    if let Some(inner) = s.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
        return Some(inner.to_string());
    }
    (!s.is_empty() && !s.contains(char::is_whitespace)).then(|| s.to_string())
}

/// Reads the entry count and central-directory size from the end-of-central-directory
/// record (zip64 when needed), before the zip library allocates for the directory.
/// `Ok(None)` when there is no usable record: none, more than one candidate in the tail (a
/// second record hidden in the comment could make the library read a different directory
/// than the one checked here), a comment that does not end at the end of the file, or a
/// directory that does not end where the record begins.
fn directory_size<R: Read + Seek>(src: &mut R, len: u64) -> std::io::Result<Option<(u64, u64)>> {
    const EOCD: [u8; 4] = *b"PK\x05\x06";
    const LOCATOR: [u8; 4] = *b"PK\x06\x07";
    const EOCD64: [u8; 4] = *b"PK\x06\x06";
    let tail_len = len.min(22 + 65535);
    let tail_start = len - tail_len;
    src.seek(SeekFrom::Start(tail_start))?;
    let mut tail = vec![0u8; tail_len as usize];
    src.read_exact(&mut tail)?;
    let candidates: Vec<usize> =
        (0..tail.len().saturating_sub(21)).filter(|&i| tail[i..i + 4] == EOCD).collect();
    let [at] = candidates[..] else { return Ok(None) };
    let u16_at = |b: &[u8], i: usize| u64::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let u32_at = |b: &[u8], i: usize| u64::from(u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]));
    let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let comment = u16_at(&tail, at + 20) as usize;
    if at + 22 + comment != tail.len() || u16_at(&tail, at + 4) != 0 || u16_at(&tail, at + 6) != 0 {
        return Ok(None);
    }
    let eocd_offset = tail_start + at as u64;
    let (entries, size, cd_offset) = (u16_at(&tail, at + 10), u32_at(&tail, at + 12), u32_at(&tail, at + 16));
    if entries != 0xFFFF && size != 0xFFFF_FFFF && cd_offset != 0xFFFF_FFFF {
        return Ok((cd_offset + size == eocd_offset).then_some((entries, size)));
    }
    // zip64: the locator sits just before the EOCD record and points at the zip64 record,
    // which the directory must end at.
    if at < 20 || tail[at - 20..at - 16] != LOCATOR {
        return Ok(None);
    }
    let offset = u64_at(&tail, at - 20 + 8);
    if offset.saturating_add(56) > eocd_offset {
        return Ok(None);
    }
    let mut rec = [0u8; 56];
    src.seek(SeekFrom::Start(offset))?;
    src.read_exact(&mut rec)?;
    if rec[..4] != EOCD64 {
        return Ok(None);
    }
    let (entries, size, cd_offset) = (u64_at(&rec, 32), u64_at(&rec, 40), u64_at(&rec, 48));
    Ok((cd_offset.checked_add(size) == Some(offset)).then_some((entries, size)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    fn make(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            if name.ends_with('/') {
                w.add_directory(*name, SimpleFileOptions::default()).unwrap();
            } else {
                w.start_file(*name, SimpleFileOptions::default()).unwrap();
                w.write_all(data).unwrap();
            }
        }
        w.finish().unwrap().into_inner()
    }

    fn run(bytes: &[u8]) -> Result<Module, String> {
        check(Cursor::new(bytes), bytes.len() as u64).map_err(|e| match e {
            Ok(io) => panic!("io error {io}"),
            Err(Invalid(why)) => why,
        })
    }

    #[test]
    fn a_valid_module_passes_and_reports_its_go_mod() {
        let z = make(&[
            ("example.com/m@v1.2.3/go.mod", b"module example.com/m\n\ngo 1.19\n"),
            ("example.com/m@v1.2.3/m.go", b"package m\n"),
            ("example.com/m@v1.2.3/sub/", b""),
            ("example.com/m@v1.2.3/sub/x.go", b"package sub\n"),
        ]);
        let m = run(&z).unwrap();
        assert_eq!((m.path.as_str(), m.version.as_str()), ("example.com/m", "v1.2.3"));
        assert_eq!(m.go_mod, b"module example.com/m\n\ngo 1.19\n");
        assert!(m.has_go_mod);
    }

    /// `CheckZip` leaves nothing out: what `CreateFromDir` would omit (vendored files,
    /// `.hg_archival.txt`, either go version's vendor rule) is accepted in an uploaded zip, as
    /// are the root directory entry and a directory named go.mod.
    #[test]
    fn the_upload_check_omits_nothing_and_accepts_what_create_would_leave_out() {
        let z = make(&[
            ("example.com/m@v1.0.0/", b""),
            ("example.com/m@v1.0.0/go.mod", b"module example.com/m\n\ngo 1.24\n"),
            ("example.com/m@v1.0.0/.hg_archival.txt", b"repo: x\n"),
            ("example.com/m@v1.0.0/vendor/modules.txt", b"# x\n"),
            ("example.com/m@v1.0.0/vendor/example.com/x/x.go", b"package x\n"),
            ("example.com/m@v1.0.0/pkg/vendor/vendor.go", b"package vendor\n"),
            ("example.com/m@v1.0.0/sub/go.mod/", b""),
            ("example.com/m@v1.0.0/sub/go.mod/a.go", b"package a\n"),
        ]);
        assert!(run(&z).is_ok(), "{:?}", run(&z));
    }

    #[test]
    fn a_module_without_go_mod_gets_the_one_line_file() {
        let z = make(&[("example.com/Old@v2.0.0+incompatible/a.go", b"package old\n")]);
        let m = run(&z).unwrap();
        assert_eq!(m.go_mod, b"module example.com/Old\n");
        assert!(!m.has_go_mod);
    }

    #[test]
    fn each_rule_is_refused_with_its_reason() {
        type Entries<'a> = &'a [(&'a str, &'a [u8])];
        let cases: &[(Entries, &str)] = &[
            (&[("example.com/m@v1.2.3/a.go", b""), ("other.com/m@v1.2.3/b.go", b"")], "is not under"),
            (&[("example.com/m@v1.2/a.go", b"")], "not canonical"),
            (&[("example.com/m@v2.0.0/a.go", b"")], "no /v2 suffix"),
            (&[("example.com/m/v2@v3.0.0/a.go", b"")], "does not match the major version"),
            (&[("example.com/m@v2.0.0+incompatible/go.mod", b"module example.com/m\n")], "+incompatible"),
            (&[("nodot/m@v1.0.0/a.go", b"")], "must contain a dot"),
            (&[("example.com/m@v1.0.0/A.go", b""), ("example.com/m@v1.0.0/a.go", b"")], "collision"),
            (
                &[("example.com/m@v1.0.0/\u{1E9E}.go", b""), ("example.com/m@v1.0.0/\u{DF}.go", b"")],
                "collision",
            ),
            (
                &[("example.com/m@v1.0.0/x", b""), ("example.com/m@v1.0.0/x/y", b"")],
                "both a file and a directory",
            ),
            (&[("example.com/m@v1.0.0/sub/go.mod", b"module example.com/m/sub\n")], "not in module root"),
            (&[("example.com/m@v1.0.0/GO.MOD", b"module example.com/m\n")], "lower case"),
            (&[("example.com/m@v1.0.0/go.mod", b"module example.com/other\n")], "declares module"),
            (&[("example.com/m@v1.0.0/go.mod", b"go 1.19\n")], "no module directive"),
            (&[("example.com/m@v1.0.0/a/../b.go", b"")], "not clean"),
            (&[("example.com/m@v1.0.0/con.go", b"")], "Windows reserves"),
            (&[("example.com/m@v1.0.0/trailing.", b"")], "trailing dot"),
        ];
        for (entries, want) in cases {
            let err = run(&make(entries)).unwrap_err();
            assert!(err.contains(want), "{entries:?}: {err:?} should mention {want:?}");
        }
    }

    /// The go command accepts names that differ only under full case folding (`ß` and `ss`).
    #[test]
    fn names_equal_only_under_full_case_folding_do_not_collide() {
        let z = make(&[
            ("example.com/m@v1.0.0/\u{DF}.go", b"package m\n"),
            ("example.com/m@v1.0.0/ss.go", b"package m\n"),
            ("example.com/m@v1.0.0/\u{149}.go", b"package m\n"),
            ("example.com/m@v1.0.0/\u{2BC}n.go", b"package m\n"),
        ]);
        assert!(run(&z).is_ok());
    }

    #[test]
    fn bodies_that_are_not_zips_are_invalid_not_errors() {
        for body in [&b""[..], b"hello", b"PK\x03\x04garbage", &[0u8; 100]] {
            assert!(run(body).is_err());
        }
        let mut truncated = make(&[("example.com/m@v1.0.0/a.go", b"package m\n")]);
        truncated.truncate(truncated.len() - 30);
        assert!(run(&truncated).is_err());
    }

    #[test]
    fn a_second_end_record_hidden_in_the_comment_is_refused() {
        let mut z = make(&[("example.com/m@v1.0.0/go.mod", b"module example.com/m\n")]);
        // Give the real end record a 22-byte comment holding a fake one (one entry).
        let n = z.len();
        z[n - 2..].copy_from_slice(&22u16.to_le_bytes());
        let mut fake = b"PK\x05\x06".to_vec();
        fake.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
        fake.extend_from_slice(&46u32.to_le_bytes());
        fake.extend_from_slice(&(n as u32).to_le_bytes());
        fake.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(&fake);
        assert!(run(&z).unwrap_err().contains("end-of-central-directory"));
    }

    #[test]
    fn a_corrupted_entry_is_caught_by_its_crc() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        w.start_file("example.com/m@v1.0.0/a.txt", stored).unwrap();
        w.write_all(b"hello hello hello hello").unwrap();
        let mut z = w.finish().unwrap().into_inner();
        let at = z.windows(5).position(|w| w == b"hello").unwrap();
        z[at] = b'j';
        assert!(run(&z).unwrap_err().contains("corrupt"));
    }

    #[test]
    fn module_directive_forms() {
        assert_eq!(module_directive(b"module example.com/m\n").as_deref(), Some("example.com/m"));
        assert_eq!(
            module_directive(b"// c\nmodule \"example.com/q\" // x\n").as_deref(),
            Some("example.com/q")
        );
        assert_eq!(module_directive(b"module (\n\texample.com/b\n)\n").as_deref(), Some("example.com/b"));
        assert_eq!(module_directive(b"modules x\n"), None);
        assert_eq!(module_directive(b"go 1.20\n"), None);
    }
}
