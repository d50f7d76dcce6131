//! Builds a module zip from a source directory the way the go command does
//! (`golang.org/x/mod/zip.CreateFromDir`): every regular file under the directory, leaving
//! out version-control directories, nested modules (directories with their own go.mod),
//! files inside `vendor/` subdirectories, and symbolic links and other irregular files.
//! `depot go zip` then puts the written zip through [`super::zipcheck::check`] before it
//! renames it into place, so what it writes is exactly what the server accepts.

use std::fs;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

use super::path::{check_file_path, check_major, check_module_path};
use super::semver;
use super::zipcheck::{self, MAX_GO_MOD, MAX_LICENSE, MAX_ZIP};

/// What went into a zip and what was left out.
#[derive(Debug, Default)]
pub struct Report {
    pub files: Vec<String>,
    /// Paths left out, with the reason.
    pub omitted: Vec<(String, &'static str)>,
}

/// Writes the module zip of `dir` for `module@version` to `out`.
///
/// # Errors
/// A one-line reason: an invalid module path or version, a file path the go command would
/// refuse, a size limit, a go.mod declaring another module, or an I/O error.
pub fn create<W: Write + Seek>(dir: &Path, module: &str, version: &str, out: W) -> Result<Report, String> {
    check_module_path(module)?;
    let v = semver::parse(version).map_err(|e| format!("version {version:?} is not canonical: {e}"))?;
    check_major(module, version, &v)?;
    let mut report = Report::default();
    let mut files = Vec::new();
    walk(dir, dir, &mut files, &mut report)?;
    files.sort();
    let mut total = 0u64;
    for (rel, full) in &files {
        check_file_path(rel)?;
        let size = fs::metadata(full).map_err(|e| format!("{}: {e}", full.display()))?.len();
        total += size;
        if total > MAX_ZIP {
            return Err(format!("the module's files add up to more than {MAX_ZIP} bytes"));
        }
        if rel == "go.mod" && size > MAX_GO_MOD {
            return Err(format!("go.mod is larger than {MAX_GO_MOD} bytes"));
        }
        if rel == "LICENSE" && size > MAX_LICENSE {
            return Err(format!("LICENSE is larger than {MAX_LICENSE} bytes"));
        }
        if rel == "go.mod" {
            let text = fs::read(full).map_err(|e| format!("{}: {e}", full.display()))?;
            match zipcheck::module_directive(&text) {
                Some(m) if m == module => {}
                Some(m) => return Err(format!("go.mod declares module {m:?}, not {module:?}")),
                None => return Err("go.mod has no module directive".into()),
            }
        }
    }
    let mut zip = zip::ZipWriter::new(out);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(false)
        .last_modified_time(zip::DateTime::default());
    for (rel, full) in &files {
        let name = format!("{module}@{version}/{rel}");
        zip.start_file(name.as_str(), options).map_err(|e| format!("writing the zip: {e}"))?;
        let mut f = fs::File::open(full).map_err(|e| format!("{}: {e}", full.display()))?;
        std::io::copy(&mut f, &mut zip).map_err(|e| format!("{}: {e}", full.display()))?;
        report.files.push(rel.clone());
    }
    let mut out = zip.finish().map_err(|e| format!("writing the zip: {e}"))?;
    out.flush().map_err(|e| format!("writing the zip: {e}"))?;
    Ok(report)
}

/// `isVendoredPackage` of x/mod/zip, bug for bug: files directly in a `vendor/` directory
/// (such as `vendor/modules.txt`) stay, files in its subdirectories go.
fn is_vendored(rel: &str) -> bool {
    let i = if rel.starts_with("vendor/") {
        "vendor/".len()
    } else if let Some(j) = rel.find("/vendor/") {
        // x/mod keeps this offset (not j + len) so that existing checksums stay valid.
        let _ = j;
        "/vendor/".len()
    } else {
        return false;
    };
    rel[i..].contains('/')
}

fn walk(
    root: &Path,
    dir: &Path,
    files: &mut Vec<(String, PathBuf)>,
    report: &mut Report,
) -> Result<(), String> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let full = entry.path();
        let rel = full
            .strip_prefix(root)
            .map_err(|_| format!("{} is outside {}", full.display(), root.display()))?
            .to_str()
            .ok_or_else(|| format!("{} is not a UTF-8 path", full.display()))?
            .replace(std::path::MAIN_SEPARATOR, "/");
        let kind = entry.file_type().map_err(|e| format!("{}: {e}", full.display()))?;
        if is_vendored(&rel) {
            report.omitted.push((rel, "file in a vendor/ subdirectory"));
            continue;
        }
        if kind.is_dir() {
            let name = entry.file_name();
            if [".bzr", ".git", ".hg", ".svn"].iter().any(|v| name == *v) {
                report.omitted.push((rel, "version-control directory"));
                continue;
            }
            if fs::symlink_metadata(full.join("go.mod")).is_ok_and(|m| !m.is_dir()) {
                report.omitted.push((rel, "nested module (has its own go.mod)"));
                continue;
            }
            walk(root, &full, files, report)?;
        } else if kind.is_file() {
            files.push((rel, full));
        } else {
            report.omitted.push((rel, "symbolic link or other irregular file"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn vendored_rule_matches_x_mod() {
        assert!(!is_vendored("vendor/modules.txt"));
        assert!(is_vendored("vendor/example.com/x/x.go"));
        assert!(!is_vendored("a.go"));
        assert!(is_vendored("sub/vendor/x/y.go"));
    }

    #[test]
    fn builds_a_zip_that_the_checker_accepts_and_leaves_out_what_go_leaves_out() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        fs::write(p.join("go.mod"), "module example.com/Hello\n\ngo 1.19\n").unwrap();
        fs::write(p.join("hello.go"), "package hello\n").unwrap();
        fs::create_dir_all(p.join(".git")).unwrap();
        fs::write(p.join(".git/HEAD"), "ref").unwrap();
        fs::create_dir_all(p.join("vendor/example.com/dep")).unwrap();
        fs::write(p.join("vendor/modules.txt"), "# none\n").unwrap();
        fs::write(p.join("vendor/example.com/dep/dep.go"), "package dep\n").unwrap();
        fs::create_dir_all(p.join("nested")).unwrap();
        fs::write(p.join("nested/go.mod"), "module example.com/Hello/nested\n").unwrap();
        fs::create_dir_all(p.join("inner")).unwrap();
        fs::write(p.join("inner/in.go"), "package inner\n").unwrap();
        std::os::unix::fs::symlink(p.join("hello.go"), p.join("link.go")).unwrap();
        let mut out = Cursor::new(Vec::new());
        let report = create(p, "example.com/Hello", "v1.0.0", &mut out).unwrap();
        assert_eq!(report.files, ["go.mod", "hello.go", "inner/in.go", "vendor/modules.txt"]);
        assert_eq!(report.omitted.len(), 4, "{:?}", report.omitted);
        let bytes = out.into_inner();
        let m = zipcheck::check(Cursor::new(&bytes), bytes.len() as u64).unwrap();
        assert_eq!(m.path, "example.com/Hello");
    }

    #[test]
    fn refuses_a_go_mod_for_another_module_and_a_bad_version() {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("go.mod"), "module example.com/other\n").unwrap();
        let err = create(d.path(), "example.com/m", "v1.0.0", Cursor::new(Vec::new())).unwrap_err();
        assert!(err.contains("declares module"), "{err}");
        let err = create(d.path(), "example.com/m", "1.0", Cursor::new(Vec::new())).unwrap_err();
        assert!(err.contains("canonical"), "{err}");
    }
}
