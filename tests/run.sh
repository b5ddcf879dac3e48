#!/usr/bin/env bash
# The README's test command: every test of the workspace, with every feature.
#
# The Redis store's tests start a real `redis-server` of their own on a free loopback port.
# Where the binary is missing, this installs it with the system package manager when it can
# (root, or passwordless sudo, on Debian or Ubuntu); where it cannot, the Redis tests fail and
# say the command that installs it. The same goes for the tools the examples of docs/agent.md
# run (curl, and PHP with its curl extension). Arguments, if any, go on to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

have_redis() {
    command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || [ -x /usr/sbin/redis-server ]
}
have_php_curl() {
    command -v php >/dev/null && php -r 'exit(function_exists("curl_init") ? 0 : 1);'
}
missing=()
have_redis || missing+=(redis-server)
command -v curl >/dev/null || missing+=(curl)
have_php_curl || missing+=(php-cli php-curl)

if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        as_root=(none)
    fi
    if [ "${as_root[0]:-}" != none ]; then
        echo "tests/run.sh: installing ${missing[*]} for the Redis store's tests and the agent's examples" >&2
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi
have_redis || echo "tests/run.sh: redis-server is missing; the Redis tests will fail (sudo apt-get install -y redis-server)" >&2
have_php_curl || echo "tests/run.sh: PHP with curl is missing; the agent's PHP examples will fail (sudo apt-get install -y php-cli php-curl)" >&2

# With arguments, it is plain `cargo test` with them.
if [ $# -gt 0 ]; then
    exec cargo test --workspace --all-features "$@"
fi

# A run builds the workspace's crates once (or once after an edit), and nobody reads their debug
# info here: incremental compilation's bookkeeping and the line tables of the dev profile cost
# about a third of their build (24 s of CPU instead of 38 s on 2 cores) for nothing. Set either
# variable to keep cargo's behaviour; `cargo test` itself keeps both.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
export CARGO_PROFILE_DEV_DEBUG=${CARGO_PROFILE_DEV_DEBUG:-false}

# Without: build every test binary once, and start each one as soon as cargo has linked it,
# side by side with the rest of the build and with each other. `cargo test` runs them one after
# another, and the longest rooms mostly wait on real time (the stores' leases and expiries, the
# CLI's processes), so they fill the cores the build leaves idle. Every test is written to pass
# with every core busy (docs/testing.md, "The crate's own tests, side by side and under load").
# The examples are not built here: `.ci/run` builds and runs each of them.
work=$(mktemp -d)
names=()
pids=()
# On the way out, an interrupt included, the test binaries still running are stopped: the
# background jobs of a script ignore Ctrl-C, so they would run on without it.
stop_all() {
    if [ "${#pids[@]}" -gt 0 ]; then
        kill "${pids[@]}" 2>/dev/null || true
        wait "${pids[@]}" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# Four tests per core at once instead of libtest's one: the real-time tests spend most of their
# time waiting for tokens to age, and the heaviest of them take turns anyway.
threads=$(( $(nproc) * 4 ))
# Starts one test binary in its package's directory, as `cargo test` would.
start() {
    local manifest=$1 executable=$2 name
    name=$(basename "$executable")
    (cd "$(dirname "$manifest")" && exec "$executable" --test-threads "$threads") >"$work/$name.log" 2>&1 &
    names+=("$name")
    pids+=("$!")
}

# A package's tests may run its binaries (`CARGO_BIN_EXE_<name>`), which cargo may link after
# them: a package's test binaries wait until all of its binaries are built. `binaries_left`
# counts them per manifest, from each binary target's source path up to its Cargo.toml.
declare -A binaries_left=() waiting=()
manifest_of() {
    local dir
    dir=$(dirname "$1")
    while [ ! -f "$dir/Cargo.toml" ] && [ "$dir" != / ]; do dir=$(dirname "$dir"); done
    echo "$dir/Cargo.toml"
}
while IFS= read -r source; do
    manifest=$(manifest_of "$source")
    binaries_left[$manifest]=$(( ${binaries_left[$manifest]:-0} + 1 ))
done < <(cargo metadata --format-version 1 --no-deps |
    grep -o '{[^{}]*"kind":\["bin"\][^{}]*}' |
    sed 's/.*"src_path":"\([^"]*\)".*/\1/')
# Starts the test binaries of the package at `$1` that wait for its binaries.
start_waiting() {
    local manifest=$1 executable
    while IFS= read -r executable; do
        [ -z "$executable" ] || start "$manifest" "$executable"
    done <<<"${waiting[$manifest]:-}"
    unset "waiting[$manifest]"
}

# Each artifact's message names the package's manifest, the profile (`"test":true` for a test
# binary) and the executable, if any.
test_binary='"manifest_path":"([^"]*)".*"profile":\{[^}]*"test":true[^}]*\}.*"executable":"([^"]*)"'
binary='"manifest_path":"([^"]*)","target":\{"kind":\["bin"\].*"profile":\{[^}]*"test":false[^}]*\}.*"executable":"([^"]*)"'
while IFS= read -r message; do
    if [[ $message =~ $test_binary ]]; then
        manifest=${BASH_REMATCH[1]}
        if [ "${binaries_left[$manifest]:-0}" -gt 0 ]; then
            waiting[$manifest]+="${BASH_REMATCH[2]}"$'\n'
        else
            start "$manifest" "${BASH_REMATCH[2]}"
        fi
    elif [[ $message =~ $binary ]]; then
        manifest=${BASH_REMATCH[1]}
        binaries_left[$manifest]=$(( ${binaries_left[$manifest]:-1} - 1 ))
        if [ "${binaries_left[$manifest]}" -le 0 ]; then
            start_waiting "$manifest"
        fi
    fi
done < <(
    cargo test --workspace --all-features --lib --bins --tests --no-run \
        --message-format=json-render-diagnostics
    echo "$?" >"$work/build-status"
)
if [ "$(cat "$work/build-status")" != 0 ]; then
    echo "tests/run.sh: the build failed" >&2
    exit 1
fi
# Whatever still waits (a binary not built, which cargo would have said) runs now.
for manifest in "${!waiting[@]}"; do
    start_waiting "$manifest"
done
# None found means this script no longer reads cargo's messages right: that is a failure, not a
# pass.
if [ "${#names[@]}" = 0 ]; then
    echo "tests/run.sh: no test binary found in cargo's build messages" >&2
    exit 1
fi
# The doc tests wait for the build: cargo holds the target directory while it builds.
cargo test --workspace --all-features --doc >"$work/doc-tests.log" 2>&1 &
names+=("doc-tests")
pids+=("$!")

failed=()
for i in "${!pids[@]}"; do
    status=0
    wait "${pids[$i]}" || status=$?
    printf '\n==> %s\n' "${names[$i]}"
    cat "$work/${names[$i]}.log"
    [ "$status" = 0 ] || failed+=("${names[$i]}")
done
# All reaped: nothing is left for `stop_all` to stop (their ids may belong to others by now).
pids=()
if [ "${#failed[@]}" -gt 0 ]; then
    echo "tests/run.sh: ${#failed[@]} of ${#names[@]} test runs failed: ${failed[*]}" >&2
    exit 1
fi
echo "tests/run.sh: all $(( ${#names[@]} - 1 )) test binaries and the doc tests passed"
