#!/bin/sh
# Demo choreography, not something a real agent does: `sh meet.sh ME OTHER`
# records that step ME has started and waits (up to 30 s) until step OTHER
# has started too. The demo's two parallel workers (mul and div) meet here
# before they edit, so both are sure to work from the same commit and the
# second merge is sure to conflict, however the machine schedules them.
dir="${ENKI_DIR:?ENKI_DIR is not set}/demo-meet"
mkdir -p "$dir" || exit 1
: > "$dir/$1"
tries=0
while [ ! -f "$dir/$2" ]; do
    tries=$((tries + 1))
    if [ "$tries" -gt 600 ]; then
        echo "step $2 did not start within 30 s" >&2
        exit 1
    fi
    sleep 0.05
done
echo "$1 and $2 have both started"
