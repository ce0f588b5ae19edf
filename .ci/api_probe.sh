#!/usr/bin/env bash
# The black-box API probe: `medicare serve` with an API token on a scratch workspace (a
# synthetic population, a form, a campaign), then schemathesis with every check against
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
m campaign create --form probe_form --filter 'age >= 65' --channels email >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
# Started directly (not through `m`), so that $! is the server itself.
env -u MEDICARE_DATABASE_URL MEDICARE_LOG=warn MEDICARE_API_TOKEN="$token" \
    "$bin" --dir "$work" serve --bind "127.0.0.1:$port" 2>"$work/serve.log" &
server=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 60); do
    if curl -sf "$url/api/openapi.json" >/dev/null; then break; fi
    sleep 0.5
done
curl -sf "$url/api/openapi.json" >/dev/null

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
