#!/usr/bin/env bash
# The agent's two modes against the emulator on loopback, no Keliweb account needed:
#
#   bash cli/examples/agent.sh serve    # `keliweb-token serve`: /health, /token, /header, /metrics
#   bash cli/examples/agent.sh proxy    # `keliweb-token proxy`: the API called with no OAuth code
#
# It builds both binaries, starts `keliweb-emulator` with its example credentials (or uses the
# one at KELIWEB_EMULATOR_URL), starts the agent on a Unix socket in a temporary directory,
# asks it with curl, and stops both with SIGTERM. KELIWEB_TOKEN_BIN and KELIWEB_EMULATOR_BIN
# name binaries to use instead of building them.
set -euo pipefail
mode=${1:-}
if [ "$mode" != serve ] && [ "$mode" != proxy ]; then
    echo "usage: bash cli/examples/agent.sh serve|proxy" >&2
    exit 2
fi
cd "$(dirname "$0")/../.."

if [ -z "${KELIWEB_TOKEN_BIN:-}" ] || { [ -z "${KELIWEB_EMULATOR_URL:-}" ] && [ -z "${KELIWEB_EMULATOR_BIN:-}" ]; }; then
    cargo build -q -p keliweb-token -p keliweb-emulator
    target=$(cargo metadata --format-version 1 --no-deps | sed 's/.*"target_directory":"\([^"]*\)".*/\1/')
    KELIWEB_TOKEN_BIN=${KELIWEB_TOKEN_BIN:-$target/debug/keliweb-token}
    KELIWEB_EMULATOR_BIN=${KELIWEB_EMULATOR_BIN:-$target/debug/keliweb-emulator}
fi

work=$(mktemp -d)
emulator=
agent=
cleanup() {
    for pid in $agent $emulator; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${KELIWEB_EMULATOR_URL:-}" ]; then
    # Port 0: a free one, which the emulator prints on its first line.
    "$KELIWEB_EMULATOR_BIN" --port 0 >"$work/emulator.log" &
    emulator=$!
    for _ in $(seq 100); do
        KELIWEB_EMULATOR_URL=$(sed -n 's/^keliweb-emulator listening on //p' "$work/emulator.log")
        [ -n "$KELIWEB_EMULATOR_URL" ] && break
        sleep 0.1
    done
fi

# The emulator's example credentials (docs/passport.md#example-values).
export KELIWEB_TOKEN_URL=$KELIWEB_EMULATOR_URL/oauth/token
export KELIWEB_API_URL=$KELIWEB_EMULATOR_URL
export KELIWEB_CLIENT_ID=ea9ea94e-a0c2-4b87-9834-26b218ed26a0
export KELIWEB_CLIENT_SECRET=MoQSElJG5MoLkVhRJCJ7jdQZVwfbrtwKKepwOsXO
export KELIWEB_USERNAME=test@example.com
export KELIWEB_PASSWORD=xxxxxxx
export KELIWEB_TOKEN_STORE=$work/tokens.json
export XDG_RUNTIME_DIR=$work

"$KELIWEB_TOKEN_BIN" "$mode" 2>"$work/agent.log" &
agent=$!
socket=$work/keliweb-token/agent.sock
[ "$mode" = proxy ] && socket=$work/keliweb-token/proxy.sock
for _ in $(seq 300); do
    [ "$(curl -s --unix-socket "$socket" http://agent/health)" = '{"status":"ready"}' ] && break
    sleep 0.1
done

echo "\$ curl --unix-socket $socket http://agent/health"
curl -sS --unix-socket "$socket" http://agent/health; echo
if [ "$mode" = serve ]; then
    echo "\$ curl --unix-socket $socket http://agent/token"
    curl -sS --unix-socket "$socket" http://agent/token | sed 's/"access_token":"\([^"]\{12\}\)[^"]*"/"access_token":"\1…"/'; echo
    echo "\$ curl -H \"Authorization: \$(curl --unix-socket $socket http://agent/header)\" $KELIWEB_API_URL/api/user"
    curl -sS -H "Authorization: $(curl -sS --unix-socket "$socket" http://agent/header)" "$KELIWEB_API_URL/api/user"; echo
else
    echo "\$ curl --unix-socket $socket http://keliweb/api/user"
    curl -sS --unix-socket "$socket" http://keliweb/api/user; echo
fi
echo "\$ curl --unix-socket $socket http://agent/metrics | grep token_requests_total"
curl -sS --unix-socket "$socket" http://agent/metrics | grep token_requests_total

kill -TERM "$agent"
wait "$agent"
echo "the agent stopped on SIGTERM with exit code $?"
agent=
