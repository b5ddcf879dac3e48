#!/usr/bin/env python3
"""Turns one `cargo bench --all-features` run into BENCHMARKS.md's tables.

Reads Criterion's estimates (median and median absolute deviation) from the target directory
and the ALLOCS/HERD lines the benches print, from the log given as the first argument.
"""
import json
import os
import re
import subprocess
import sys

log = open(sys.argv[1], encoding="utf-8", errors="replace").read() if len(sys.argv) > 1 else ""

if "--refresh-ahead" in sys.argv:
    # Table 7, from the AHEAD lines of benches/refresh_ahead.rs.
    rows = [line.split("\t")[1:] for line in log.splitlines() if line.startswith("AHEAD\t")]
    print("### 7. Refresh ahead: `send()` latency across token refreshes (blocking client, 4 threads)\n")
    print("| case | calls | token requests | p50 | p99 | vs no refresh (p99) | slowest | calls that waited for a token |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    base = None
    for name, calls, requests, p50, p99, slowest, waited in rows:
        base = base or int(p99)
        ms = lambda ns: f"{int(ns) / 1e6:.3f} ms"
        print(f"| {name} | {calls} | {requests} | {ms(p50)} | {ms(p99)} | {int(p99) / base:.2f}× | {ms(slowest)} | {waited} |")
    sys.exit(0)
if "--custody" in sys.argv:
    # Table 8, from the CUSTODY lines of benches/shared_custody.rs.
    lines = [line.split("\t")[1:] for line in log.splitlines() if line.startswith("CUSTODY\t")]
    print("### 8. Shared custody: token requests per expiry across processes (blocking client, ureq)\n")
    print("| store | processes × threads | expiries | logins | refreshes | refused refreshes | refreshes per expiry | failed calls |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for fields in lines:
        if fields[0] == "fleet":
            _, store, processes, threads, expiries, logins, refreshes, refused, errors = fields
            per = int(refreshes) / int(expiries)
            print(f"| {store} | {processes} × {threads} | {expiries} | {logins} | {refreshes} | {refused} | {per:.2f} | {errors} |")
    print("\nA forced refresh (one refresh grant to the emulator on loopback), median of interleaved batches:\n")
    print("| store | per refresh | vs no store |")
    print("|---|---:|---:|")
    for fields in lines:
        if fields[0] == "latency":
            _, store, micros, ratio = fields
            print(f"| {store} | {float(micros):.0f} µs | {float(ratio):.2f}× |")
    sys.exit(0)
target = json.loads(
    subprocess.check_output(["cargo", "metadata", "--format-version", "1", "--no-deps"])
)["target_directory"]
root = os.path.join(target, "criterion")

allocs = {}
for line in log.splitlines():
    parts = line.split("\t")
    if parts[0] == "ALLOCS" and len(parts) == 4:
        allocs[parts[1]] = (float(parts[2]), float(parts[3]))


def estimate(bench_id):
    """(median ns, MAD ns) of a Criterion benchmark id like 'hot_path/warm/session_authorize'."""
    group, _, function = bench_id.partition("/")
    path = os.path.join(root, group, function.replace("/", "_"), "new", "estimates.json")
    if not os.path.exists(path):  # a BenchmarkId with a parameter: group/function/parameter
        path = os.path.join(root, *bench_id.split("/"), "new", "estimates.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    return data["median"]["point_estimate"], data["median_abs_dev"]["point_estimate"]


def fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def fmt_allocs(bench_id):
    if bench_id not in allocs:
        return "—"
    count, size = allocs[bench_id]
    return f"{count:g} ({size:.0f} B)"


def row(label, bench_id, baseline_id=None):
    median, mad = estimate(bench_id)
    ratio = "1.00×" if baseline_id is None else f"{median / estimate(baseline_id)[0]:.2f}×"
    return f"| {label} | {fmt_time(median)} | ± {fmt_time(mad)} | {ratio} | {fmt_allocs(bench_id)} |"


HEAD = "| case | median | spread (MAD) | vs baseline | allocations per call (bytes) |\n|---|---:|---:|---:|---:|"

print("### 1. Hot path (token valid)\n")
print(HEAD)
base = "hot_path/warm/baseline_header_insert"
print(row("baseline: `HeaderMap::insert` of a prebuilt value (request already has the headers)", base))
print(row("`Authorization::apply` (request already has the defaults)", "hot_path/warm/authorization_apply", base))
print(row("`Session::authorize`", "hot_path/warm/session_authorize", base))
print(row("blocking `Client::authorize` (lock-free path, 1 clock read)", "hot_path/warm/blocking_client_authorize", base))
print(row("blocking `Client::access_token` (lock-free path)", "hot_path/warm/blocking_client_access_token", base))
bare = "hot_path/bare/baseline_header_insert"
print(row("baseline: `insert` into a fresh, pre-sized `HeaderMap`", bare))
print(row("`Authorization::apply` on a fresh request (adds the 3 defaults too)", "hot_path/bare/authorization_apply", bare))
four = "hot_path/bare/baseline_four_inserts"
print(row("baseline: the same 4 headers inserted by hand into a fresh map", four))
print(row("`Authorization::apply` on a fresh request, vs 4 inserts", "hot_path/bare/authorization_apply", four))

print("\n### 2. One token exchange without IO (vs `oauth2` 5)\n")
print(HEAD.replace("vs baseline", "vs oauth2").replace("per call", "per exchange"))
for case, label in [("password", "password grant + success"), ("refresh", "refresh grant + success"), ("error", "password grant + `invalid_grant` error")]:
    print(row(f"oauth2: {label}", f"exchange/{case}/oauth2"))
    print(row(f"keliweb: {label}", f"exchange/{case}/keliweb", f"exchange/{case}/oauth2"))

print("\n### 3. Concurrent readers (valid token, one shared client)\n")
print("| loop | threads | median time per round | spread (MAD) | throughput (calls/s) | 2 threads vs 1 | allocations per call |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, label in [("clock_only", "calibration: `SystemClock::now()` only (shares nothing)"), ("access_token", "blocking `Client::access_token()` (lock-free)"), ("mutex_session_poll", "`Mutex<Session>` + `poll`")]:
    one = estimate(f"concurrent/{name}/1_threads")[0]
    for threads in (1, 2):
        median, mad = estimate(f"concurrent/{name}/{threads}_threads")
        throughput = threads / (median * 1e-9)
        scaling = "—" if threads == 1 else f"{2 * one / median:.2f}×"
        alloc = fmt_allocs(f"concurrent/{name}/1_threads") if threads == 1 and name != "clock_only" else ""
        print(f"| {label} | {threads} | {fmt_time(median)} | ± {fmt_time(mad)} | {throughput / 1e6:.1f} M | {scaling} | {alloc} |")

print("\n### 4. Thundering herd (async client, emulator on loopback)\n")
print("| waiters N | token requests per round | median latency of the last waiter | spread (MAD) | vs one lone refresh |")
print("|---:|---:|---:|---:|---:|")
lone = estimate("herd/last_waiter/1")[0]
rounds = {m.group(1): m.group(2) for m in re.finditer(r"^HERD_ROUNDS\t(\d+)\t(\d+)\t1$", log, re.M)}
for n in (1, 10, 100, 1000):
    median, mad = estimate(f"herd/last_waiter/{n}")
    label = f"{n} (lone refresh)" if n == 1 else f"{n:,}"
    checked = f"1 (asserted in each of {rounds[str(n)]} rounds)" if str(n) in rounds else "1 (asserted)"
    print(f"| {label} | {checked} | {fmt_time(median)} | ± {fmt_time(mad)} | {median / lone:.2f}× |")
herd = re.search(r"^HERD\t(.*)$", log, re.M)
if herd:
    print(f"\nEmulator counters at the end of the run: `{herd.group(1)}` (one password login, then one refresh per round).")

print("\n### 5. End to end: authorized `GET /api/user` on loopback\n")
print(HEAD.replace("vs baseline", "vs raw client"))
# Only sides with the same settings are compared: `UreqClient` (timeouts, so a resolver
# thread) against the raw agent without timeouts would credit the crate with a setup
# difference.
print(row("raw ureq 3 without timeouts (no resolver thread)", "end_to_end/ureq/raw_no_timeouts"))
print(row("blocking `Client::send` over the same no-timeout agent (custom `HttpClient`)", "end_to_end/ureq/keliweb_send_no_timeouts", "end_to_end/ureq/raw_no_timeouts"))
print(row("raw reqwest 0.13, fixed headers", "end_to_end/reqwest/raw"))
print(row("async `Client<ReqwestClient>::send`", "end_to_end/reqwest/keliweb_send", "end_to_end/reqwest/raw"))
