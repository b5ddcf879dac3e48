#!/usr/bin/env bash
# Reruns every benchmark and prints BENCHMARKS.md's tables (about 5 minutes on 2 cores, after
# the first release build):
#
#   bash benches/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/bench-run.log
# The custody bench starts redis-server: install it where missing, as the tests do.
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || echo 'benches/run.sh: redis-server is missing (sudo apt-get install -y redis-server)' >&2
cargo bench --all-features 2>&1 | tee "$log" >&2
echo "## Machine"
echo
echo "- $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "- $(rustc --version)"
echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), load average before/after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 benches/report.py "$log"
echo
echo "### 6. Footprint (normal dependency tree, deduplicated, crate itself not counted)"
echo
bash benches/footprint.sh
echo
python3 benches/report.py "$log" --refresh-ahead
echo
python3 benches/report.py "$log" --custody
