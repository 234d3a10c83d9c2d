#!/bin/sh
# Import a purchased (or re-uploaded) list without re-adding anyone who opted out.
#
#   examples/import_list.sh bought.csv sendable.csv [TOPIC]
#
# `prefcenter filter` reads the CSV (the address column is found by its header name),
# drops everyone suppressed for the topic, hard-bounced, invalid or listed twice, and
# writes the remaining rows to sendable.csv byte for byte (same columns, same order).
# The counts per reason go to stdout as JSON; the list itself never enters the store.
# Settings come from PREFCENTER_* (PREFCENTER_DATABASE names the store).
set -eu

input=${1:?usage: import_list.sh LIST.csv OUTPUT.csv [TOPIC]}
output=${2:?usage: import_list.sh LIST.csv OUTPUT.csv [TOPIC]}
topic=${3:-offers}
prefcenter=${PREFCENTER_CLI:-prefcenter}
command -v "$prefcenter" >/dev/null 2>&1 || {
    echo "prefcenter not found: run '. .venv/bin/activate' or set PREFCENTER_CLI" >&2; exit 2; }

$prefcenter filter "$input" --topic "$topic" --output "$output" --json
