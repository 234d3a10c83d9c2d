#!/bin/sh
# Before dialling, ask the store; after dialling, tell it. One line per number.
#
#   examples/call_centre.sh numbers.txt agent-17
#
# `prefcenter check --channel voice NUMBER` exits 0 (may call), 1 (may not: opted out,
# paused, or the store-wide frequency cap was reached by any agent), 2 (not a usable
# number, or a setting to fix: the line says which), 3 (store unavailable). Only 0
# dials. Anything unknown means no call: a call that should not have happened cannot
# be taken back. After a call,
# `prefcenter record-sent --channel voice` puts it in the contact ledger, so the next
# agent's check sees it ("five calls in one week" is answered by the store).
set -u

numbers=${1:?usage: call_centre.sh NUMBERS.txt [AGENT]}
agent=${2:-agent}
prefcenter=${PREFCENTER_CLI:-prefcenter}
command -v "$prefcenter" >/dev/null 2>&1 || {
    echo "prefcenter not found: run '. .venv/bin/activate' or set PREFCENTER_CLI" >&2; exit 2; }

while IFS= read -r number; do
    [ -n "$number" ] || continue
    error=$($prefcenter check --channel voice "$number" </dev/null 2>&1 >/dev/null)
    status=$?
    case $status in
        0)
            echo "DIAL $number"            # your dialler goes here
            call_id="call-$(date +%s)-$$-$number"
            $prefcenter record-sent "$number" --channel voice --sender "$agent" \
                --message-id "$call_id" </dev/null >/dev/null || { echo "RECORD FAILED $number"; exit 3; }
            ;;
        1) echo "SKIP $number" ;;
        2) echo "BAD $number: ${error#Error: }" ;;   # the number, or a setting: it says which
        3) echo "STOP store unavailable; no calls until it answers"; exit 3 ;;
        *) echo "STOP prefcenter failed (exit $status: $error); no calls"; exit 3 ;;
    esac
done < "$numbers"
