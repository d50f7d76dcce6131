#!/usr/bin/env bash
# Regenerates the man page and shell completions under packaging/ from the clap definitions,
# through the hidden `depot generate` command. Run it after changing the command line:
#     bash packaging/generate.sh
# The integration test `packaging::generated_files_are_current` fails until you do.
# Builds the binary first unless DEPOT_BIN names one.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DEPOT_BIN:-}" ]; then
    cargo build --quiet --bin depot
    DEPOT_BIN=target/debug/depot
fi

mkdir -p packaging/man packaging/completions
"$DEPOT_BIN" generate man >packaging/man/depot.1
"$DEPOT_BIN" generate complete-bash >packaging/completions/depot.bash
"$DEPOT_BIN" generate complete-zsh >packaging/completions/_depot
"$DEPOT_BIN" generate complete-fish >packaging/completions/depot.fish
git status --short packaging/man packaging/completions 2>/dev/null || true
