//! Builds a module zip from a source directory exactly as the go command does
//! (`golang.org/x/mod/zip.CreateFromDir`), in its two steps:
//!
//! 1. the walk (`listFilesInDir`) lists the regular files under the directory, leaving out
//!    version-control directories (`.bzr .git .hg .svn`), directories holding a non-directory
//!    named `go.mod` (nested modules), vendored files, and symbolic links and other irregular
//!    files;
//! 2. the check (`checkFiles`) then leaves out files in vendored packages, files below a
//!    directory holding a go.mod in any spelling (`GO.MOD` too), and a root
//!    `.hg_archival.txt`, and refuses bad file paths, a root go.mod not spelled `go.mod`,
//!    names equal under case folding, and the size limits.
//!
//! Which files count as vendored depends on the `go` version in the root go.mod (the go 1.24
//! rule, see [`is_vendored`]); both steps read it the way x/mod does ([`super::modfile`]).
//! `depot go zip` then puts the written zip through [`super::zipcheck::check`] before it
//! renames it into place, so what it writes is exactly what the server accepts.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

use super::modfile;
use super::path::{check_file_path, check_major, check_module_path};
use super::semver;
use super::zipcheck::{self, MAX_GO_MOD, MAX_LICENSE, MAX_ZIP};

/// What went into a zip and what was left out.
#[derive(Debug, Default)]
pub struct Report {
    /// The files in the zip, in the order they were written.
    pub files: Vec<String>,
    /// Paths left out, with the reason.
    pub omitted: Vec<(String, &'static str)>,
}

const VCS: &str = "directory is a version control repository";
const VENDORED: &str = "file is in vendor directory";
const SUBMODULE_DIR: &str = "directory is in another module";
const SUBMODULE_FILE: &str = "file is in another module";
const HG_ARCHIVAL: &str = "file is inserted by 'hg archive' and is always omitted";
const NOT_REGULAR: &str = "not a regular file";

/// A regular file the walk found: its slash path relative to the module root, where it is,
/// and its size when it was listed.
struct Listed {
    rel: String,
    full: PathBuf,
    size: u64,
}

/// Writes the module zip of `dir` for `module@version` to `out`.
///
/// # Errors
/// A one-line reason: an invalid module path or version, file paths the go command would
/// refuse (all of them), a size limit, a go.mod declaring another module, or an I/O error.
pub fn create<W: Write + Seek>(dir: &Path, module: &str, version: &str, out: W) -> Result<Report, String> {
    check_module_path(module)?;
    let v = semver::parse(version).map_err(|e| format!("version {version:?} is not canonical: {e}"))?;
    check_major(module, version, &v)?;
    let meta = fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if meta.file_type().is_symlink() {
        // The go command does not follow it and would zip nothing.
        return Err(format!("{} is a symbolic link; give the directory it points to", dir.display()));
    }
    let mut report = Report::default();
    // listFilesInDir reads the root go.mod by name, following a symbolic link.
    let walk_rules = fs::read(dir.join("go.mod")).is_ok_and(|b| modfile::go_1_24_rules(&b));
    let mut listed = Vec::new();
    walk(dir, dir, walk_rules, false, &mut listed, &mut report)?;
    // checkFiles reads it again only when the walk listed it (a regular file).
    let check_rules = walk_rules && listed.iter().any(|f| f.rel == "go.mod");
    let valid = check_files(&listed, check_rules, &mut report.omitted).into_result()?;
    if let Some(f) = valid.iter().find(|f| f.rel == "go.mod") {
        let text = fs::read(&f.full).map_err(|e| format!("{}: {e}", f.full.display()))?;
        match zipcheck::module_directive(&text) {
            Some(m) if m == module => {}
            Some(m) => return Err(format!("go.mod declares module {m:?}, not {module:?}")),
            None => return Err("go.mod has no module directive".into()),
        }
    }
    let mut zip = zip::ZipWriter::new(out);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(false)
        .last_modified_time(zip::DateTime::default());
    for f in valid {
        let name = format!("{module}@{version}/{}", f.rel);
        zip.start_file(name.as_str(), options).map_err(|e| format!("writing the zip: {e}"))?;
        let file = fs::File::open(&f.full).map_err(|e| format!("{}: {e}", f.full.display()))?;
        // The size was checked against the limits when listed; a file that grew since
        // would slip past them.
        let copied = std::io::copy(&mut file.take(f.size + 1), &mut zip)
            .map_err(|e| format!("{}: {e}", f.full.display()))?;
        if copied > f.size {
            return Err(format!("{} grew while it was being zipped", f.full.display()));
        }
        report.files.push(f.rel.clone());
    }
    let mut out = zip.finish().map_err(|e| format!("writing the zip: {e}"))?;
    out.flush().map_err(|e| format!("writing the zip: {e}"))?;
    Ok(report)
}

/// `isVendoredPackage` of x/mod/zip, bug for bug: whether `rel` lies in a package whose
/// import path contains (but does not end with) a `vendor` element. Files directly in the
/// root `vendor/` (such as `vendor/modules.txt`) stay; before go 1.24 an inner `/vendor/`
/// was measured from the wrong offset, so `pkg/vendor/vendor.go` went too. From go 1.24 on
/// (`go_1_24`), that offset is right and `vendor/modules.txt` goes.
pub fn is_vendored(rel: &str, go_1_24: bool) -> bool {
    if go_1_24 && rel == "vendor/modules.txt" {
        return true;
    }
    let i = if rel.starts_with("vendor/") {
        "vendor/".len()
    } else if let Some(j) = rel.find("/vendor/") {
        if go_1_24 {
            j + "/vendor/".len()
        } else {
            "/vendor/".len()
        }
    } else {
        return false;
    };
    rel.as_bytes()[i..].contains(&b'/')
}

/// `listFilesInDir`: appends the regular files under `dir` to `files`, in the order of
/// `filepath.Walk` (names sorted byte-wise within each directory). `quiet` walks a vendored
/// directory without reporting each path below it again.
fn walk(
    root: &Path,
    dir: &Path,
    go_1_24: bool,
    quiet: bool,
    files: &mut Vec<Listed>,
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
            .to_string_lossy()
            .replace(std::path::MAIN_SEPARATOR, "/");
        let kind = entry.file_type().map_err(|e| format!("{}: {e}", full.display()))?;
        if is_vendored(&rel, go_1_24) {
            if !quiet {
                report.omitted.push((rel, VENDORED));
            }
            // x/mod omits a vendored directory but still walks it (its files are vendored
            // too), so an unreadable one fails the same way.
            if kind.is_dir() {
                walk(root, &full, go_1_24, true, files, report)?;
            }
            continue;
        }
        if kind.is_dir() {
            let name = entry.file_name();
            if [".bzr", ".git", ".hg", ".svn"].iter().any(|v| name == *v) {
                report.omitted.push((rel, VCS));
                continue;
            }
            if fs::symlink_metadata(full.join("go.mod")).is_ok_and(|m| !m.is_dir()) {
                report.omitted.push((rel, SUBMODULE_DIR));
                continue;
            }
            walk(root, &full, go_1_24, quiet, files, report)?;
        } else if kind.is_file() {
            let size = entry.metadata().map_err(|e| format!("{}: {e}", full.display()))?.len();
            files.push(Listed { rel, full, size });
        } else if !quiet {
            report.omitted.push((rel, NOT_REGULAR));
        }
    }
    Ok(())
}

/// What `checkFiles` decided about the listed files.
struct Checked<'a> {
    /// The files that go into the zip, in order.
    valid: Vec<&'a Listed>,
    /// Refused files: path and a one-line reason naming it.
    invalid: Vec<(String, String)>,
    /// The whole module is larger than the limit.
    size_error: Option<String>,
}

impl<'a> Checked<'a> {
    /// The size limit of the whole module, else every invalid file with its reason, on one
    /// line (as x/mod's `CheckedFiles.Err`).
    fn into_result(self) -> Result<Vec<&'a Listed>, String> {
        if let Some(e) = self.size_error {
            return Err(e);
        }
        if !self.invalid.is_empty() {
            return Err(self.invalid.into_iter().map(|(_, why)| why).collect::<Vec<_>>().join("; "));
        }
        Ok(self.valid)
    }
}

/// `checkFiles`: decides for each listed file whether it goes into the zip, is left out
/// (appended to `omitted`) or is refused.
fn check_files<'a>(
    files: &'a [Listed],
    go_1_24: bool,
    omitted: &mut Vec<(String, &'static str)>,
) -> Checked<'a> {
    // Directories (other than the root) holding a go.mod in any spelling are other modules.
    let go_mod_dirs: HashSet<&str> = files
        .iter()
        .filter_map(|f| f.rel.rsplit_once('/'))
        .filter(|(_, base)| base.eq_ignore_ascii_case("go.mod"))
        .map(|(dir, _)| dir)
        .collect();
    let in_submodule = |rel: &str| {
        let mut p = rel;
        while let Some((dir, _)) = p.rsplit_once('/') {
            if go_mod_dirs.contains(dir) {
                return true;
            }
            p = dir;
        }
        false
    };
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    let mut size_error = None;
    let mut room = MAX_ZIP;
    let mut seen = HashMap::new();
    for f in files {
        let p = f.rel.as_str();
        if is_vendored(p, go_1_24) {
            omitted.push((f.rel.clone(), VENDORED));
            continue;
        }
        if in_submodule(p) {
            omitted.push((f.rel.clone(), SUBMODULE_FILE));
            continue;
        }
        if p == ".hg_archival.txt" {
            omitted.push((f.rel.clone(), HG_ARCHIVAL));
            continue;
        }
        if let Err(e) = check_file_path(p) {
            invalid.push((f.rel.clone(), e));
            continue;
        }
        if p.eq_ignore_ascii_case("go.mod") && p != "go.mod" {
            invalid.push((f.rel.clone(), format!("{p}: go.mod files must have lowercase names")));
            continue;
        }
        if let Err(e) = zipcheck::collide(&mut seen, p, false) {
            invalid.push((f.rel.clone(), format!("{p}: {e}")));
            continue;
        }
        if f.size <= room {
            room -= f.size;
        } else if size_error.is_none() {
            size_error = Some(format!("the module's files add up to more than {MAX_ZIP} bytes"));
        }
        if p == "go.mod" && f.size > MAX_GO_MOD {
            invalid.push((f.rel.clone(), format!("go.mod is larger than {MAX_GO_MOD} bytes")));
            continue;
        }
        if p == "LICENSE" && f.size > MAX_LICENSE {
            invalid.push((f.rel.clone(), format!("LICENSE is larger than {MAX_LICENSE} bytes")));
            continue;
        }
        valid.push(f);
    }
    Checked { valid, invalid, size_error }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// Writes `files` (path, content) under a fresh directory.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (rel, data) in files {
            let p = d.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, data).unwrap();
        }
        d
    }

    /// Zips `dir` as example.com/m@v1.0.0; the files written (checked against the zip's
    /// entries, and the zip against the upload check) and the paths left out, sorted.
    fn zip_dir(dir: &Path) -> Result<(Vec<String>, Vec<String>), String> {
        let mut out = Cursor::new(Vec::new());
        let report = create(dir, "example.com/m", "v1.0.0", &mut out)?;
        let bytes = out.into_inner();
        let mut z = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        let names: Vec<String> = (0..z.len())
            .map(|i| {
                let name = String::from_utf8(z.by_index_raw(i).unwrap().name_raw().to_vec()).unwrap();
                name.strip_prefix("example.com/m@v1.0.0/").unwrap().to_string()
            })
            .collect();
        assert_eq!(names, report.files);
        zipcheck::check(Cursor::new(&bytes), bytes.len() as u64).map_err(|e| format!("{e:?}"))?;
        let mut omitted: Vec<String> = report.omitted.into_iter().map(|(p, _)| p).collect();
        omitted.sort();
        Ok((report.files, omitted))
    }

    #[track_caller]
    fn expect(files: &[(&str, &str)], want: &[&str], want_omitted: &[&str]) {
        let d = tree(files);
        let (got, omitted) = zip_dir(d.path()).unwrap();
        assert_eq!(got, want, "files of {files:?}");
        assert_eq!(omitted, want_omitted, "omitted of {files:?}");
    }

    const GO113: &str = "module example.com/m\n\ngo 1.13\n";
    const GO124: &str = "module example.com/m\n\ngo 1.24\n";

    /// x/mod's `TestIsVendoredPackage`, every path at every version it lists.
    #[test]
    fn vendored_rule_matches_x_mod_at_each_go_version() {
        for (path, before, after) in [
            ("vendor/foo/foo.go", true, true),
            ("pkg/vendor/foo/foo.go", true, true),
            ("longpackagename/vendor/foo/foo.go", true, true),
            ("vendor/vendor.go", false, false),
            ("vendor/foo/modules.txt", true, true),
            ("modules.txt", false, false),
            ("vendor/amodules.txt", false, false),
            ("vendor/modules.txt", false, true),
            ("pkg/vendor/vendor.go", true, false),
            ("longpackagename/vendor/vendor.go", true, false),
            ("a.go", false, false),
            // The old offset lands inside a multi-byte character: bytes, as in Go.
            ("aaaaaaa\u{e9}/vendor/x", true, false),
        ] {
            assert_eq!(is_vendored(path, false), before, "{path} before 1.24");
            assert_eq!(is_vendored(path, true), after, "{path} from 1.24");
        }
    }

    #[test]
    fn before_go_1_24_vendor_modules_txt_stays_and_inner_vendor_files_go() {
        let files = [
            ("go.mod", GO113),
            ("vendor/modules.txt", "x"),
            ("vendor/vendor.go", "x"),
            ("vendor/example.com/x/x.go", "x"),
            ("sub/vendor/sub.txt", "x"),
            ("pkg/vendor/vendor.go", "x"),
        ];
        expect(
            &files,
            &["go.mod", "vendor/modules.txt", "vendor/vendor.go"],
            &["pkg/vendor/vendor.go", "sub/vendor/sub.txt", "vendor/example.com/x"],
        );
        // No go line, or none x/mod can read, is the same as an old one.
        for go_mod in ["module example.com/m\n", "module example.com/m\ngo 1.24\ngo 1.24\n"] {
            let mut files = files;
            files[0].1 = go_mod;
            let d = tree(&files);
            let (got, _) = zip_dir(d.path()).unwrap();
            assert_eq!(got, ["go.mod", "vendor/modules.txt", "vendor/vendor.go"], "{go_mod:?}");
        }
    }

    #[test]
    fn from_go_1_24_vendor_modules_txt_goes_and_inner_vendor_directories_stay() {
        for go_line in ["go 1.24", "go 1.24.2", "go 1.25rc1", "go 1.24-custom // lax"] {
            let go_mod = format!("module example.com/m\n\n{go_line}\n");
            let d = tree(&[
                ("go.mod", &go_mod),
                ("vendor/modules.txt", "x"),
                ("vendor/vendor.go", "x"),
                ("vendor/example.com/x/x.go", "x"),
                ("sub/vendor/sub.txt", "x"),
                ("pkg/vendor/vendor.go", "x"),
                ("pkg/vendor/dep/dep.go", "x"),
            ]);
            let (got, omitted) = zip_dir(d.path()).unwrap();
            assert_eq!(
                got,
                ["go.mod", "pkg/vendor/vendor.go", "sub/vendor/sub.txt", "vendor/vendor.go"],
                "{go_line}"
            );
            assert_eq!(
                omitted,
                ["pkg/vendor/dep/dep.go", "vendor/example.com/x", "vendor/modules.txt"],
                "{go_line}"
            );
        }
    }

    /// A root go.mod that is a symbolic link: the walk reads the version through it, the
    /// check (which only sees regular files) does not, so both vendor rules apply; the link
    /// itself is left out like any other.
    #[test]
    fn a_linked_root_go_mod_applies_both_vendor_rules_and_is_left_out() {
        let files = [("vendor/modules.txt", "x"), ("pkg/vendor/vendor.go", "x"), ("a.go", "package m\n")];
        let target = tree(&[("go.mod", GO124)]);
        let d = tree(&files);
        std::os::unix::fs::symlink(target.path().join("go.mod"), d.path().join("go.mod")).unwrap();
        let (got, omitted) = zip_dir(d.path()).unwrap();
        assert_eq!(got, ["a.go"]);
        assert_eq!(omitted, ["go.mod", "pkg/vendor/vendor.go", "vendor/modules.txt"]);
        // Dangling: no version at all, the old rule alone.
        let d = tree(&files);
        std::os::unix::fs::symlink("missing/go.mod", d.path().join("go.mod")).unwrap();
        let (got, omitted) = zip_dir(d.path()).unwrap();
        assert_eq!(got, ["a.go", "vendor/modules.txt"]);
        assert_eq!(omitted, ["go.mod", "pkg/vendor/vendor.go"]);
    }

    #[test]
    fn version_control_directories_go_at_any_depth_but_a_git_file_stays() {
        expect(
            &[
                ("a.go", "x"),
                (".git/HEAD", "x"),
                (".hg/x", "x"),
                (".svn/x", "x"),
                (".bzr/x", "x"),
                ("sub/.git/x", "x"),
                ("sub/.gitignore", "x"),
                ("sub/b.go", "x"),
                ("GIT/x", "x"),
            ],
            &["GIT/x", "a.go", "sub/.gitignore", "sub/b.go"],
            &[".bzr", ".git", ".hg", ".svn", "sub/.git"],
        );
        // A git worktree or submodule has a .git file, which x/mod zips like any file.
        expect(&[("a.go", "x"), (".git", "gitdir: /x\n")], &[".git", "a.go"], &[]);
    }

    #[test]
    fn nested_modules_go_whatever_their_go_mod_is_spelled_or_made_of() {
        let d = tree(&[
            ("go.mod", GO113),
            ("a.go", "x"),
            ("sub/go.mod", "module example.com/m/sub\n"),
            ("sub/x.go'", "not read"),
            ("cap/GO.MOD", "MODULE EXAMPLE.COM/M/CAP\n"),
            ("cap/c.go", "x"),
            ("cap/deeper/d.go", "x"),
            ("mixed/inner/Go.Mod", "x"),
            ("mixed/m.go", "x"),
            ("dirmod/go.mod/a.go", "x"),
            ("target/t.go", "x"),
        ]);
        // A symbolic link named go.mod (even to a directory) marks a module too.
        fs::create_dir_all(d.path().join("linked")).unwrap();
        fs::write(d.path().join("linked/l.go"), "x").unwrap();
        std::os::unix::fs::symlink("../target", d.path().join("linked/go.mod")).unwrap();
        let (got, omitted) = zip_dir(d.path()).unwrap();
        assert_eq!(got, ["a.go", "dirmod/go.mod/a.go", "go.mod", "mixed/m.go", "target/t.go"]);
        assert_eq!(
            omitted,
            ["cap/GO.MOD", "cap/c.go", "cap/deeper/d.go", "linked", "mixed/inner/Go.Mod", "sub"]
        );
    }

    #[test]
    fn hg_archival_txt_goes_only_at_the_root() {
        expect(
            &[("a.go", "x"), (".hg_archival.txt", "repo: x\n"), ("sub/.hg_archival.txt", "x")],
            &["a.go", "sub/.hg_archival.txt"],
            &[".hg_archival.txt"],
        );
    }

    #[test]
    fn symbolic_links_and_other_irregular_files_go() {
        let d = tree(&[("a.go", "x"), ("dir/b.go", "x")]);
        let p = d.path();
        std::os::unix::fs::symlink(p.join("a.go"), p.join("link.go")).unwrap();
        std::os::unix::fs::symlink(p.join("dir"), p.join("linkdir")).unwrap();
        std::os::unix::fs::symlink("missing", p.join("dangling")).unwrap();
        let fifo = std::process::Command::new("mkfifo").arg(p.join("fifo")).status().unwrap();
        assert!(fifo.success());
        let (got, omitted) = zip_dir(p).unwrap();
        assert_eq!(got, ["a.go", "dir/b.go"]);
        assert_eq!(omitted, ["dangling", "fifo", "link.go", "linkdir"]);
    }

    #[test]
    fn a_linked_module_root_is_refused_rather_than_zipped_empty() {
        let d = tree(&[("m/go.mod", GO113)]);
        std::os::unix::fs::symlink(d.path().join("m"), d.path().join("link")).unwrap();
        let err = zip_dir(&d.path().join("link")).unwrap_err();
        assert!(err.contains("symbolic link"), "{err}");
    }

    /// Files are zipped in `filepath.Walk` order: each directory's names sorted byte-wise,
    /// a directory's files right where its name sorts (`a/b.go` before `a-c.go`, unlike a
    /// sort of whole paths).
    #[test]
    fn files_are_written_in_walk_order() {
        expect(
            &[("a.go", "x"), ("a/b.go", "x"), ("B.go", "x"), ("a-c.go", "x")],
            &["B.go", "a/b.go", "a-c.go", "a.go"],
            &[],
        );
        expect(&[("a.go", "x"), ("a/b.go", "x"), ("a0", "x")], &["a/b.go", "a.go", "a0"], &[]);
    }

    #[test]
    fn every_refused_file_is_named_in_one_line() {
        let d = tree(&[("ok.go", "x"), ("bad.go'", "x"), ("con.go", "x"), ("sub/trailing.", "x")]);
        let err = zip_dir(d.path()).unwrap_err();
        for name in ["bad.go'", "con.go", "trailing."] {
            assert!(err.contains(name), "{err}");
        }
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn a_root_go_mod_in_another_case_is_refused() {
        let err = zip_dir(tree(&[("GO.MOD", GO113), ("a.go", "x")]).path()).unwrap_err();
        assert!(err.contains("GO.MOD: go.mod files must have lowercase names"), "{err}");
    }

    #[test]
    fn names_equal_under_case_folding_are_refused() {
        let err = zip_dir(tree(&[("a.go", "x"), ("A.go", "x")]).path()).unwrap_err();
        assert!(err.contains("case-insensitive file name collision"), "{err}");
        let err = zip_dir(tree(&[("dir/a.go", "x"), ("DIR/b.go", "x")]).path()).unwrap_err();
        assert!(err.contains("collision"), "{err}");
        // Left-out files take no part: the vendored A.go does not clash with a.go.
        expect(&[("vendor/x/A.go", "x"), ("Vendor/x/a.go", "x")], &["Vendor/x/a.go"], &["vendor/x/A.go"]);
    }

    /// Sizes come from the directory listing; sparse files keep this cheap.
    #[test]
    fn size_limits_of_go_mod_license_and_the_whole_module() {
        let sparse = |d: &Path, rel: &str, len: u64| {
            fs::create_dir_all(d.join(rel).parent().unwrap()).unwrap();
            fs::File::create(d.join(rel)).unwrap().set_len(len).unwrap();
        };
        let d = tree(&[("a.go", "x")]);
        sparse(d.path(), "go.mod", MAX_GO_MOD + 1);
        assert!(zip_dir(d.path()).unwrap_err().contains("go.mod is larger"));
        let d = tree(&[("a.go", "x")]);
        sparse(d.path(), "LICENSE", MAX_LICENSE + 1);
        assert!(zip_dir(d.path()).unwrap_err().contains("LICENSE is larger"));
        // Exactly at the limit passes the check; one byte more does not.
        let d = tree(&[("a.go", "x")]);
        sparse(d.path(), "big1", MAX_ZIP / 2);
        sparse(d.path(), "big2", MAX_ZIP / 2 - 1);
        let (mut listed, mut report) = (Vec::new(), Report::default());
        walk(d.path(), d.path(), false, false, &mut listed, &mut report).unwrap();
        assert_eq!(check_files(&listed, false, &mut Vec::new()).into_result().unwrap().len(), 3);
        sparse(d.path(), "big2", MAX_ZIP / 2);
        let err = zip_dir(d.path()).unwrap_err();
        assert!(err.contains("add up to more than"), "{err}");
        // A LICENSE or go.mod below the root has no limit of its own.
        let d = tree(&[("a.go", "x")]);
        sparse(d.path(), "sub/LICENSE", MAX_LICENSE + 1);
        let report = create(d.path(), "example.com/m", "v1.0.0", Cursor::new(Vec::new())).unwrap();
        assert_eq!(report.files, ["a.go", "sub/LICENSE"]);
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

    /// A txtar archive: its comment and its files.
    fn txtar(data: &[u8]) -> (String, Vec<(String, Vec<u8>)>) {
        fn marker(line: &[u8]) -> Option<String> {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let name = line.strip_prefix(b"-- ")?.strip_suffix(b" --")?;
            Some(String::from_utf8_lossy(name).trim().to_string())
        }
        let mut comment = Vec::new();
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for line in data.split_inclusive(|&b| b == b'\n') {
            match (marker(line), files.last_mut()) {
                (Some(name), _) => files.push((name, Vec::new())),
                (None, Some((_, body))) => body.extend_from_slice(line),
                (None, None) => comment.extend_from_slice(line),
            }
        }
        (String::from_utf8_lossy(&comment).into_owned(), files)
    }

    /// x/mod's `TestCheckDir` cases: the same valid, omitted and invalid files.
    #[test]
    fn x_mod_check_dir_cases_agree() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/xmod/check_dir");
        let mut cases: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        cases.sort();
        assert_eq!(cases.len(), 4);
        for case in cases {
            let (_, files) = txtar(&fs::read(&case).unwrap());
            let want = String::from_utf8(files.iter().find(|(n, _)| n == "want").unwrap().1.clone()).unwrap();
            let d = tempfile::tempdir().unwrap();
            for (name, data) in files.iter().filter(|(n, _)| n != "want") {
                let p = d.path().join(name);
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, data).unwrap();
            }
            // CheckDir: the walk, then the check on what it listed.
            let rules = fs::read(d.path().join("go.mod")).is_ok_and(|b| modfile::go_1_24_rules(&b));
            let (mut listed, mut report) = (Vec::new(), Report::default());
            walk(d.path(), d.path(), rules, false, &mut listed, &mut report).unwrap();
            let check_rules = rules && listed.iter().any(|f| f.rel == "go.mod");
            let mut omitted = Vec::new();
            let checked = check_files(&listed, check_rules, &mut omitted);
            omitted.extend(report.omitted);
            // Sections of x/mod's report: "valid:", "omitted:", "invalid:", paths first.
            let section = |title: &str| -> Vec<String> {
                let mut out: Vec<String> = want
                    .split(&format!("{title}:\n"))
                    .nth(1)
                    .unwrap()
                    .lines()
                    .take_while(|l| !l.is_empty())
                    .map(|l| l.strip_prefix("$work/").unwrap().to_string())
                    .collect();
                out.sort();
                out
            };
            let mut valid: Vec<String> = checked.valid.iter().map(|f| f.rel.clone()).collect();
            valid.sort();
            assert_eq!(valid, section("valid"), "{case:?}");
            let mut got_omitted: Vec<String> = omitted.iter().map(|(p, why)| format!("{p}: {why}")).collect();
            got_omitted.sort();
            assert_eq!(got_omitted, section("omitted"), "{case:?}");
            let mut got_invalid: Vec<String> = checked.invalid.iter().map(|(p, _)| p.clone()).collect();
            got_invalid.sort();
            let want_invalid: Vec<String> =
                section("invalid").iter().map(|l| l.split(": ").next().unwrap().to_string()).collect();
            assert_eq!(got_invalid, want_invalid, "{case:?}");
        }
    }
}
