#!/usr/bin/env bash
# The black-box API probe: `medicare serve` on a scratch workspace (a
# synthetic population, a form, a campaign) with a campaign_manager operator enrolled
# through the sign-in pages and an API token made by the CLI, then schemathesis with every check against
# the served OpenAPI document. Any finding fails the run. Usage: .ci/api_probe.sh BIN
# (the `medicare` binary); needs python_tools from .ci/servers.sh (schemathesis).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: .ci/api_probe.sh path/to/medicare}
venv=${MEDICARE_CI_VENV:?source .ci/servers.sh first}
# Bounded: a few examples per operation, and a time budget for the whole run.
max_examples=${MEDICARE_PROBE_EXAMPLES:-25}
max_time=${MEDICARE_PROBE_SECONDS:-180}

work=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

m() { env -u MEDICARE_DATABASE_URL MEDICARE_LOG=warn "$bin" --dir "$work" "$@"; }
m patients generate --count 300 --seed 7 >/dev/null
cat >"$work/form.toml" <<'TOML'
name = "probe_form"
title = "Probe form"
[[fields]]
name = "attending"
label = "Will you attend?"
type = "yes_no"
required = true
TOML
m form create "$work/form.toml" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
printf '%s\n' "$password" | m operator add probe --role campaign_manager >/dev/null
# Started directly (not through `m`), so that $! is the server itself.
env -u MEDICARE_DATABASE_URL -u MEDICARE_API_TOKEN MEDICARE_LOG=warn \
    "$bin" --dir "$work" serve --bind "127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 60); do
    if curl -sf "$url/api/openapi.json" >/dev/null; then break; fi
    sleep 0.5
done
curl -sf "$url/api/openapi.json" >/dev/null

# Enrol as a person would: sign in, read the secret from the enrolment page, send the
# first code (RFC 6238, computed here), which makes the operator active.
jar="$work/cookies"
curl -sf -c "$jar" -o /dev/null --data-urlencode "username=probe" \
    --data-urlencode "password=$password" "$url/console/sign-in"
curl -sf -b "$jar" -o "$work/enrol.html" "$url/console/enrol"
code=$(python3 - "$work/enrol.html" <<'PY'
import base64, hashlib, hmac, re, struct, sys, time
page = open(sys.argv[1]).read()
secret = re.search(r'id="totp-secret">([A-Z2-7=]+)<', page).group(1)
key = base64.b32decode(secret + "=" * (-len(secret) % 8))
mac = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
o = mac[-1] & 15
print("%06d" % ((struct.unpack(">I", mac[o:o + 4])[0] & 0x7FFFFFFF) % 1000000))
PY
)
csrf=$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' "$work/enrol.html" | head -n1)
curl -sf -b "$jar" -o /dev/null --data-urlencode "code=$code" \
    --data-urlencode "csrf_token=$csrf" "$url/console/enrol"
token=$(m --json operator token create probe --name probe --days 1 \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')


"$venv/bin/schemathesis" --config-file .ci/schemathesis.toml run "$url/api/openapi.json" \
    --url "$url" \
    --checks all \
    --header "Authorization: Bearer $token" \
    --max-examples "$max_examples" \
    --max-time "$max_time" \
    --seed 2026 \
    --workers 1  # one: hypothesis reads lambda sources, which is not thread-safe
if grep -q "panicked" "$work/serve.log"; then
    echo "error: the server panicked during the probe:" >&2
    cat "$work/serve.log" >&2
    exit 1
fi
