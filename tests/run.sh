#!/usr/bin/env bash
# The README's test command: every test of the workspace, with every feature.
#
# The Redis store's tests start a real `redis-server` of their own on a free loopback port.
# Where the binary is missing, this installs it with the system package manager when it can
# (root, or passwordless sudo, on Debian or Ubuntu); where it cannot, the Redis tests fail and
# say the command that installs it. Arguments go on to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

have_redis() {
    command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || [ -x /usr/sbin/redis-server ]
}

if ! have_redis && command -v apt-get >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        as_root=(none)
    fi
    if [ "${as_root[0]:-}" != none ]; then
        echo "tests/run.sh: installing redis-server for the Redis store's tests" >&2
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    fi
fi
have_redis || echo "tests/run.sh: redis-server is missing; the Redis tests will fail (sudo apt-get install -y redis-server)" >&2

exec cargo test --workspace --all-features "$@"
