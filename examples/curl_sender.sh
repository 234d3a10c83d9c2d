#!/bin/sh
# A sender that is not Python: only curl (and jq to read JSON) against the /v1 API.
#
#   PREFCENTER_BASE_URL=https://prefs.example.com PREFCENTER_API_KEY=... \
#     examples/curl_sender.sh recipients.txt offers
#
# 1. POST /v1/check/batch with the whole list: the sidecar answers which recipients
#    may be sent this topic now (suppressed, invalid, duplicate and capped ones are out);
# 2. POST /v1/links for each sendable recipient: the List-Unsubscribe headers (RFC 8058
#    one-click) and the VERP return path that message must carry;
# 3. "send" it (here: print it; put your mailer's command there);
# 4. POST /v1/sends for each one actually sent, so frequency caps and the violation
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
    links=$(api /v1/links "$(jq -n -c --arg r "$recipient" --arg t "$topic" \
        '{recipient: $r, topic: $t}')")
    # Your mailer goes here: these headers as they are, MAIL FROM the return path.
    headers=$(printf '%s' "$links" | jq -r '.headers | to_entries[] | "\(.key): \(.value)"')
    return_path=$(printf '%s' "$links" | jq -r '.return_path')
    echo "send $recipient"
    printf '%s\n' "$headers" | sed 's/^/  /'
    echo "  (MAIL FROM:<$return_path>)"
    body=$(jq -n -c --arg r "$recipient" --arg t "$topic" --arg m "$message_id" \
        '{recipient: $r, topic: $t, sender: "curl-sender", message_id: $m}')
    api /v1/sends "$body" >/dev/null
    sent=$((sent + 1))
done
summary='"sent \($sent); refused: \(.refused | map(.reason) | group_by(.)
    | map("\(.[0])=\(length)") | join(" "))"'
printf '%s' "$answer" | jq -r --argjson sent "$sent" "$summary"
