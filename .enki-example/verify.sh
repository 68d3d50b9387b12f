#!/bin/sh
# enki's verify hook. Copy it to .enki/verify.sh: enki then runs it on the
# merged result of every merge request, before your branch moves. A non-zero
# exit (or running longer than [merge] verify_timeout_secs) fails the merge:
# nothing lands, the task's branch is kept, and the output is in
# .enki/logs/verify/<merge request>.log (kept for every run, passed or not).
#
# It runs in a scratch checkout of the merged result (not in your working
# tree), with ENKI_DIR set to the project's .enki/ and ENKI_PROJECT to the
# project root. `[merge] verify = "..."` in .enki/enki.toml runs a command
# instead of this file.
#
# This one runs the project's usual tests, whichever kind it finds.
set -u

if [ -f Cargo.toml ]; then
    command="cargo test --quiet"
elif [ -f package.json ]; then
    command="npm test --silent"
elif [ -f go.mod ]; then
    command="go test ./..."
elif [ -f Makefile ] && grep -q '^test:' Makefile; then
    command="make test"
elif [ -f test.sh ]; then
    command="sh test.sh"
else
    echo "verify: no tests found in $(pwd); nothing to check"
    exit 0
fi

echo "verify: $command"
sh -c "$command"
