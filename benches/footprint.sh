#!/usr/bin/env bash
# 6. Footprint: crates in the normal (non-dev, non-build) dependency tree, deduplicated, not
# counting the crate itself: keliweb-oauth with each feature set, against oauth2 5 with default
# features off and with its `ureq` feature (resolved in a throwaway crate; needs crates.io).
#
#   bash benches/footprint.sh          # prints a markdown table
set -euo pipefail
cd "$(dirname "$0")/.."

# Unique "name vX.Y.Z" lines of `cargo tree`, markers dropped, the root excluded.
count() {
  cargo tree -e normal --prefix none "$@" 2>/dev/null |
    sed -E 's/ \(\*\)$//; s/ \(proc-macro\)$//; s/ \([^)]*\)$//' |
    sort -u | wc -l | awk '{print $1 - 1}'
}

declare -A ours
ours[core]=$(count -p keliweb-oauth)
for feature in blocking nonblocking ureq reqwest; do
  ours[$feature]=$(count -p keliweb-oauth --features "$feature")
done

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/src"
touch "$scratch/src/lib.rs"
cat >"$scratch/Cargo.toml" <<'TOML'
[package]
name = "oauth2-footprint"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
oauth2 = { version = "5", default-features = false }

[features]
ureq = ["oauth2/ureq"]

[workspace]
TOML
oauth2_version=$(cd "$scratch" && cargo tree -e normal --prefix none --depth 1 2>/dev/null | awk '$1 == "oauth2" {print $2; exit}')
theirs_core=$(cd "$scratch" && count)
theirs_ureq=$(cd "$scratch" && count --features ureq)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "| configuration | crates | vs oauth2 $oauth2_version (same transport) |"
echo "|---|---:|---:|"
echo "| keliweb-oauth, default features (sans-IO core) | ${ours[core]} | $(ratio "${ours[core]}" "$theirs_core")× |"
echo "| keliweb-oauth \`--features blocking\` (driver, no HTTP client) | ${ours[blocking]} | $(ratio "${ours[blocking]}" "$theirs_core")× |"
echo "| keliweb-oauth \`--features nonblocking\` (driver, no HTTP client) | ${ours[nonblocking]} | $(ratio "${ours[nonblocking]}" "$theirs_core")× |"
echo "| keliweb-oauth \`--features ureq\` (ureq 3 + rustls) | ${ours[ureq]} | $(ratio "${ours[ureq]}" "$theirs_ureq")× |"
echo "| keliweb-oauth \`--features reqwest\` (reqwest 0.13 + rustls) | ${ours[reqwest]} | — |"
echo "| oauth2 $oauth2_version, \`default-features = false\` | $theirs_core | 1.00× |"
echo "| oauth2 $oauth2_version, \`features = [\"ureq\"]\` (ureq 2 + rustls) | $theirs_ureq | 1.00× |"
