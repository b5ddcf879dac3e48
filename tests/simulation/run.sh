#!/usr/bin/env bash
# Ten million schedules of the fleet simulation (or as many as the first argument says), from
# seed 0 (or the second argument), in release and over every core: the test binary splits the
# schedules between one thread per core. It prints the one summary line, and the seed and
# trace of any violation (replay one with `SIMULATION_SEED=<seed> cargo test --test simulation
# -- --nocapture`). About a quarter of an hour on two cores.
set -euo pipefail
cd "$(dirname "$0")/../.."

export SIMULATION_SCHEDULES="${1:-10000000}"
export SIMULATION_FIRST="${2:-0}"
exec cargo test --release --test simulation -- --nocapture
