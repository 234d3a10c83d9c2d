#!/bin/sh
# A sender that is not Python: only curl (and jq to read JSON) against the /v1 API.
#
#   PREFCENTER_BASE_URL=https://prefs.example.com PREFCENTER_API_KEY=... \
#     examples/curl_sender.sh recipients.txt offers
#
# 1. POST /v1/check/batch with the whole list: the sidecar answers which recipients
#    may be sent this topic now (suppressed, invalid, duplicate and capped ones are out);
# 2. "send" to each sendable recipient (here: print it; put your mailer's command there);
# 3. POST /v1/sends for each one actually sent, so frequency caps and the violation
#    report see it.
# Any HTTP error stops the run (curl --fail): never send when the answer is unknown.
set -eu

list=${1:?usage: curl_sender.sh RECIPIENTS.txt [TOPIC]}
topic=${2:-offers}
url=${PREFCENTER_BASE_URL:-http://127.0.0.1:8080}
key=${PREFCENTER_API_KEY:?set PREFCENTER_API_KEY to one of the sidecar API_KEYS}

api() {  # api PATH JSON -> response body on stdout
    curl --silent --show-error --fail --max-time 30 \
        -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
        --data-binary "$2" "$url$1"
}

batch=$(jq -R -s -c --arg topic "$topic" \
    '{topic: $topic, recipients: [split("\n")[] | select(length > 0)]}' "$list")
answer=$(api /v1/check/batch "$batch")

sent=0
for recipient in $(printf '%s' "$answer" | jq -r '.sendable[]'); do
    message_id="<$(date +%s).$sent.$$@example.com>"
    echo "send $recipient"                 # your mailer goes here
    body=$(jq -n -c --arg r "$recipient" --arg t "$topic" --arg m "$message_id" \
        '{recipient: $r, topic: $t, sender: "curl-sender", message_id: $m}')
    api /v1/sends "$body" >/dev/null
    sent=$((sent + 1))
done
summary='"sent \($sent); refused: \(.refused | map(.reason) | group_by(.)
    | map("\(.[0])=\(length)") | join(" "))"'
printf '%s' "$answer" | jq -r --argjson sent "$sent" "$summary"
