//! The man page and shell completions, rendered from the clap definitions in [`crate::cli`].
//!
//! `depot generate …` prints them and `packaging/generate.sh` stores them under `packaging/`
//! for the .deb; an integration test fails when a stored copy differs from what the binary
//! renders, so they cannot drift from the real command line. Rendering is pure: bytes out,
//! no I/O, no dates, so the same binary always renders the same files.

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::roff::{bold, roman, Roff};
use clap_mangen::Man;

use crate::cli::{Cli, GenerateKind};

/// The name the binary is installed under; completions are registered for it.
const BIN: &str = "depot";

/// Renders one `depot generate` output.
pub fn render(what: GenerateKind) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    match what {
        GenerateKind::Man => man_page(cmd, &mut out),
        GenerateKind::CompleteBash => clap_complete::generate(Shell::Bash, &mut cmd, BIN, &mut out),
        GenerateKind::CompleteZsh => clap_complete::generate(Shell::Zsh, &mut cmd, BIN, &mut out),
        GenerateKind::CompleteFish => clap_complete::generate(Shell::Fish, &mut cmd, BIN, &mut out),
    }
    out
}

/// One page for the whole program: clap_mangen alone renders one page per subcommand and
/// points at `depot-serve(1)` and the like, which would be separate files to install and keep
/// in step. Here the top-level sections come from clap_mangen, then each command (every leaf
/// of the tree, e.g. `depot user add`) gets a subsection with its synopsis, description and
/// options, rendered by clap_mangen as well and demoted from `.SH` to body text.
fn man_page(mut cmd: clap::Command, out: &mut Vec<u8>) {
    // Building sets every subcommand's full name ("depot user add") and copies the global
    // arguments down, as parsing would.
    cmd.build();
    let man = Man::new(cmd.clone()).title("DEPOT");
    // Writing into a Vec cannot fail, so neither can any render call below.
    let ok = "writing to a Vec<u8> cannot fail";
    man.render_title(out).expect(ok);
    man.render_name_section(out).expect(ok);
    man.render_synopsis_section(out).expect(ok);
    man.render_description_section(out).expect(ok);
    man.render_options_section(out).expect(ok);

    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    roff.text([roman(
        "Global options (--db) go before or after the command; every command takes -h/--help.",
    )]);
    roff.to_writer(out).expect(ok);
    for leaf in leaves(&cmd) {
        let name = leaf.get_bin_name().unwrap_or(leaf.get_name()).to_owned();
        let has_own_args = leaf.get_arguments().any(|a| !a.is_hide_set());
        let page = Man::new(leaf);
        let mut body = Vec::new();
        page.render_synopsis_section(&mut body).expect(ok);
        page.render_description_section(&mut body).expect(ok);
        if has_own_args {
            page.render_options_section(&mut body).expect(ok);
        }
        let mut heading = Roff::new();
        heading.control("SS", [name.as_str()]);
        heading.to_writer(out).expect(ok);
        out.extend(demote_headings(&body));
    }

    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    roff.text([roman(
        "0 on success; 1 on a failure, with a one-line reason on standard error; 2 on bad usage.",
    )]);
    roff.control("SH", ["FILES"]);
    for (file, what) in [
        (
            "/var/lib/depot/depot.redb",
            "The database of the packaged service: accounts, metadata and file contents.",
        ),
        (
            "/var/lib/depot/depot.redb.sock",
            "The running server's control socket, through which admin commands reach it.",
        ),
        (
            "/etc/depot/depot.toml",
            "The packaged service's settings: the long option names of depot serve, '-' as '_'.",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(file)]);
        roff.text([roman(what)]);
    }
    roff.to_writer(out).expect(ok);
    man.render_version_section(out).expect(ok);
    *out = single_preamble(out);
}

/// Keeps the first of the string definitions every separately rendered part starts with
/// (`.ie \n(.g .ds Aq …` / `.el .ds Aq …`): they are the same each time.
fn single_preamble(roff: &[u8]) -> Vec<u8> {
    let preamble = |line: &[u8]| line.starts_with(b".ie \\n(.g .ds Aq ") || line.starts_with(b".el .ds Aq ");
    let mut out = Vec::with_capacity(roff.len());
    let mut in_head = true;
    for line in roff.split_inclusive(|&b| b == b'\n') {
        if preamble(line) && !in_head {
            continue;
        }
        in_head &= preamble(line);
        out.extend_from_slice(line);
    }
    out
}

/// Every visible command that runs something (has no subcommands of its own), depth first,
/// with the global arguments and the help and version flags hidden: the top-level OPTIONS
/// section documents them once.
fn leaves(cmd: &clap::Command) -> Vec<clap::Command> {
    let mut found = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        if sub.has_subcommands() {
            found.extend(leaves(sub));
            continue;
        }
        let inherited: Vec<String> = sub
            .get_arguments()
            .filter(|a| {
                use clap::ArgAction as A;
                a.is_global_set()
                    || matches!(a.get_action(), A::Help | A::HelpShort | A::HelpLong | A::Version)
            })
            .map(|a| a.get_id().to_string())
            .collect();
        let mut leaf = sub.clone();
        for id in inherited {
            leaf = leaf.mut_arg(id, |a| a.hide(true));
        }
        found.push(leaf);
    }
    found
}

/// Drops the `.SH` lines of a command's rendered sections, so they read as the body of that
/// command's `.SS` subsection; a paragraph break keeps the parts apart.
fn demote_headings(roff: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(roff.len());
    for line in roff.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".SH ") {
            out.extend_from_slice(b".PP\n");
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_documents_every_command_and_option() {
        let page = String::from_utf8(render(GenerateKind::Man)).unwrap();
        for needle in [
            ".SS \"depot serve\"",
            ".SS \"depot user add\"",
            ".SS \"depot org member add\"",
            "max\\-file\\-size",
            "DEPOT_LISTEN",
            "\\fB\\-\\-version\\fR \\fI<VERSION>",
        ] {
            assert!(page.contains(needle), "{needle} missing from\n{page}");
        }
        // Hidden from the page: the generator itself.
        assert!(!page.contains("generate"), "{page}");
        assert_eq!(1, page.matches(".SH OPTIONS").count(), "{page}");
    }

    #[test]
    fn man_page_defines_its_strings_once() {
        let page = String::from_utf8(render(GenerateKind::Man)).unwrap();
        assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{page}");
        assert_eq!(2, page.matches(".ds Aq").count(), "{page}");
    }
}
