#!/usr/bin/env python3
"""Latency of ONNX Runtime on a model, for same-run comparisons with `lowbit bench`.

Usage: ort_bench.py MODEL.onnx [--threads T] [--iters N] [--batch B] [--dim NAME=V ...]
Prints one JSON object: {"p50_ms": ..., "p90_ms": ..., "threads": ..., "ort": version}.
Synthetic inputs follow `lowbit bench`: floats uniform in [-1, 1), integers all 1.
"""
import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--dim", action="append", default=[])
    args = parser.parse_args()
    dims = dict((k, int(v)) for k, v in (d.split("=", 1) for d in args.dim))

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {}
    for i in session.get_inputs():
        shape = []
        for axis, d in enumerate(i.shape):
            if isinstance(d, int):
                shape.append(d)
            elif d in dims:
                shape.append(dims[d])
            elif axis == 0:
                shape.append(args.batch)
            else:
                raise SystemExit(f"input {i.name}: set symbolic dimension {d} with --dim {d}=N")
        if "float" in i.type:
            feeds[i.name] = rng.uniform(-1, 1, shape).astype(np.float32)
        else:
            feeds[i.name] = np.ones(shape, dtype=np.int64)
    for _ in range(args.warmup):
        session.run(None, feeds)
    times = []
    for _ in range(args.iters):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    pick = lambda p: times[round((len(times) - 1) * p)]
    print(json.dumps({"p50_ms": pick(0.5), "p90_ms": pick(0.9), "min_ms": times[0],
                      "threads": args.threads, "ort": ort.__version__}))


if __name__ == "__main__":
    main()
