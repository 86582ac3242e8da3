#!/usr/bin/env python3
"""How much a static-PTQ result on EfficientNet-Lite0 depends on which 10 of the 20
reference photos calibrate it.

Usage: ptq_splits.py --lowbit PATH/TO/lowbit [--assets DIR] [--splits 12] [--seed 20261127]
                     [--recipe R.toml] [--augment] [--tune "CRITERION OPTIONS"]

Draws `--splits` seeded random 10-of-20 subsets of the reference inputs, quantizes the
model on each with `lowbit quantize --approach static --preset x86 [--recipe R]`, and
scores every file on all 20 photos with `lowbit compare` (logits SQNR against FP32,
top-1 agreement, top-1 against the labels). `--augment` calibrates on each subset plus
its horizontal flips and four 8-pixel shifts (60 samples), to test whether more samples
per photo help. `--tune "--min-sqnr 25 --min-agreement 1.0 --max-latency-ratio 0.33"`
runs `lowbit tune` with those options on each split instead (evaluating on all 20 photos,
as the tuner must), and reports the trial it chose and whether it met the criterion.
Prints one line per split and a summary; `--json` prints one object.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

import numpy as np


def augmented(x):
    flipped = x[..., ::-1]

    def shift(a, dy, dx):
        return np.roll(np.roll(a, dy, axis=2), dx, axis=3)

    parts = [x, flipped, shift(x, 8, 8), shift(x, -8, -8), shift(flipped, 8, -8), shift(flipped, -8, 8)]
    return np.ascontiguousarray(np.concatenate(parts))


def quantize_and_compare(args, model, calib, data, out):
    cmd = [args.lowbit, "quantize", "--model", model, "--approach", "static", "--preset", "x86",
           "--calib", calib, "--output", out, "--json"]
    if args.recipe:
        cmd += ["--recipe", args.recipe]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cmp = subprocess.run([args.lowbit, "compare", "--model", model, "--against", out, "--data", data,
                          "--json"], check=True, capture_output=True, text=True)
    d = json.loads(cmp.stdout)
    return {"sqnr_db": d["sqnr_db"], "top1_agree": d["top1_agree"], "top1": round(d["test_top1"] * d["n"])}


def tune(args, model, calib, data, out, n):
    cmd = [args.lowbit, "tune", "--model", model, "--calib", calib, "--eval", data, "--output", out,
           "--json", *args.tune.split()]
    if args.recipe:
        cmd += ["--recipe", args.recipe]
    run = subprocess.run(cmd, check=True, capture_output=True, text=True)
    d = json.loads(run.stdout)
    trial = d["trials"][d["chosen"]]
    score = trial["score"]
    latency = ""
    if score["latency_ms"] is not None:
        latency = f" at {score['latency_ms'] / score['fp32_latency_ms']:.2f}× FP32's latency"
    outcome = (f"trial {d['chosen'] + 1} of {len(d['trials'])} ({trial['change']}){latency}, "
               f"FP32 nodes {trial['fp32_nodes'] or 'none'}, criterion {'met' if d['met'] else 'missed'}")
    return {"sqnr_db": score["sqnr_db"], "top1_agree": round(score["top1_agreement"] * n),
            "top1": round(score["top1"] * n), "criterion_met": d["met"], "outcome": outcome}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--lowbit", required=True)
    p.add_argument("--assets", default=os.environ.get("LOWBIT_ASSETS", "../shared/assets"))
    p.add_argument("--splits", type=int, default=12)
    p.add_argument("--seed", type=int, default=20261127)
    p.add_argument("--recipe")
    p.add_argument("--augment", action="store_true")
    p.add_argument("--tune", help="run `lowbit tune` with these options instead of quantize")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    model_dir = os.path.join(args.assets, "efficientnet-lite0")
    model = os.path.join(model_dir, "model.onnx")
    inputs = os.path.join(model_dir, "inputs.npy")
    labels = os.path.join(model_dir, "labels.npy")
    x = np.load(inputs)
    rng = np.random.default_rng(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in range(args.splits):
            idx = np.sort(rng.choice(len(x), 10, replace=False))
            calib = x[idx]
            if args.augment:
                calib = augmented(calib)
            calib_path = os.path.join(tmp, "calib.npy")
            np.save(calib_path, np.ascontiguousarray(calib))
            out = os.path.join(tmp, f"q{s}.onnx")
            data = (model, f"npy:{calib_path}", f"npy:{inputs}:{labels}", out)
            row = tune(args, *data, len(x)) if args.tune else quantize_and_compare(args, *data)
            rows.append({"split": s, "calibration": idx.tolist(), **row})
            if not args.json:
                r = rows[-1]
                tuned = f", {r['outcome']}" if args.tune else ""
                print(f"split {s:2d} {r['calibration']}: {r['sqnr_db']:.2f} dB, agreement "
                      f"{r['top1_agree']}/20, top-1 {r['top1']}/20{tuned}", flush=True)
    sqnr = [r["sqnr_db"] for r in rows]
    summary = {
        "splits": len(rows),
        "sqnr_db_mean": statistics.mean(sqnr),
        "sqnr_db_min": min(sqnr),
        "sqnr_db_max": max(sqnr),
        "splits_at_25_db": sum(v >= 25.0 for v in sqnr),
        "splits_agreeing_20_of_20": sum(r["top1_agree"] == 20 for r in rows),
        "splits_meeting_all": sum(r["sqnr_db"] >= 25.0 and r["top1_agree"] == 20 and r["top1"] >= 18 for r in rows),
    }
    if args.tune:
        summary["splits_meeting_tune_criterion"] = sum(r["criterion_met"] for r in rows)
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=1))
    else:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
