#!/usr/bin/env python3
"""Prints the BENCHMARKS.md tables of the `pipeline` and `lexicon_scale`
criterion groups from criterion's saved estimates (the median of the last
run), with each measurement's ratio to its raw baselines.

Usage: cargo bench --bench pipeline -- --warm-up-time 1 --measurement-time 3
       python3 scripts/bench-table.py [target/criterion]
"""
import glob
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
med = {}
size = {}
for path in glob.glob(f"{root}/*/*/new/benchmark.json"):
    meta = json.load(open(path))
    est = json.load(open(os.path.join(os.path.dirname(path), "estimates.json")))
    med[meta["full_id"]] = est["median"]["point_estimate"]
    size[meta["full_id"]] = (meta.get("throughput") or {}).get("Bytes")


def t(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def mbs(key):
    b = size.get(key)
    return f"{b / (med[key] / 1e9) / 1e6:.1f} MB/s" if b else "—"


def ratio(key, base):
    return f"{med[key] / med[base]:.2f}" if key in med and base in med else "—"


print("| id | median | throughput | × `raw_nfkc` | × `raw_aho_corasick` |")
print("|---|---|---|---|---|")
for variant in ["", "_adversarial"]:
    for s in ["200B", "1KiB", "8KiB", "64KiB"]:
        k = f"pipeline/exchange{variant}/{s}"
        if k not in med:
            continue
        nf = f"pipeline/raw_nfkc{variant}/{s}"
        ac = f"pipeline/raw_aho_corasick{variant}/{s}"
        print(f"| `exchange{variant}/{s}` | {t(med[k])} | {mbs(k)} | {ratio(k, nf)} | {ratio(k, ac)} |")
print()
print("| baseline | median | throughput |")
print("|---|---|---|")
for variant in ["", "_adversarial"]:
    for name in ["raw_nfkc", "raw_aho_corasick"]:
        for s in ["200B", "1KiB", "8KiB", "64KiB"]:
            k = f"pipeline/{name}{variant}/{s}"
            if k in med:
                print(f"| `{name}{variant}/{s}` | {t(med[k])} | {mbs(k)} |")
print()
print("| phrases | `build/<n>` | `raw_aho_corasick_build/<n>` | ratio | `match/1KiB/<n>` | `raw_aho_corasick/1KiB/<n>` | ratio |")
print("|---|---|---|---|---|---|---|")
for n in [100, 1000, 10000, 100000]:
    b, rb = f"lexicon_scale/build/{n}", f"lexicon_scale/raw_aho_corasick_build/{n}"
    m, rm = f"lexicon_scale/match/1KiB/{n}", f"lexicon_scale/raw_aho_corasick/1KiB/{n}"
    if b in med:
        print(f"| {n:,} | {t(med[b])} | {t(med[rb])} | {ratio(b, rb)} | {t(med[m])} ({mbs(m)}) | {t(med[rm])} | {ratio(m, rm)} |")
