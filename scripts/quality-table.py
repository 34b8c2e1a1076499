#!/usr/bin/env python3
"""Summarise scripts/quality-experiments.sh output as Markdown table rows (docs/results/quality.md).

Usage: python3 scripts/quality-table.py OUTDIR [NAME ...]   (default: every OUTDIR/json/*.json, sorted)
"""
import json
import pathlib
import re
import sys

FORMATS = {"dashq-packed-linear": "dashq", "gptq": "gptq", "compressed-tensors": "compressed-tensors"}


def row(name, d):
    args = d.get("args", "")
    method = d["method"]
    inner = re.search(r"--inner (\w+)", args)
    if method == "heroq" and inner:
        method = f"heroq({inner.group(1)})"
    if "--act-order" in args:
        method += " +act-order"
        if "--static-groups" in args:
            method += " +static-groups"
    if "--one-pass" in args:
        method += " one-pass"
    fmt = d.get("format") or "none"
    fmt = FORMATS.get(fmt, fmt)
    if fmt in (None, "", "none"):
        fmt = "none (in memory)"
    e = d["evaluation"]
    dnll = e["quantized_mean_nll"] - e["mean_nll"]
    excluded = d.get("excluded") or []
    excl = f"{len(excluded)}" if excluded else "0"
    reload = e.get("reload_matches_in_memory")
    reload = "n/a" if reload is None else str(reload).lower()
    g = d["group_size"]
    return (f"| {name} | {method} | {d['bits']} | {g} | {d['samples']}×{d['sequence_length']} | {fmt} | {excl} | "
            f"{d['total_proxy_loss']:.2f} | {e['perplexity']:.2f} | {e['quantized_perplexity']:.2f} | {dnll:+.4f} | "
            f"{e['mean_kl_divergence']:.4f} | {100 * e['top1_agreement']:.1f} % | "
            f"{d['timings']['total_seconds']:.1f} / {d.get('wall_seconds', float('nan')):.1f} | {reload} |")


def main():
    out = pathlib.Path(sys.argv[1])
    names = sys.argv[2:] or sorted(p.stem for p in (out / "json").glob("*.json"))
    print("| run | method | bits | group | calib N×L | format | excluded | proxy loss | FP ppl | quant ppl | Δ NLL (nats) "
          "| mean KL | top-1 agree | s (quantize / wall) | reload = in-memory |")
    print("|---|---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for n in names:
        print(row(n, json.loads((out / "json" / f"{n}.json").read_text())))


if __name__ == "__main__":
    main()
