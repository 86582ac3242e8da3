#!/usr/bin/env python3
"""Calibration cost of static quantization: ONNX Runtime's entropy calibration against
`lowbit quantize --approach static`, on the same model and inputs, in one run.

Usage: ort_calib_bench.py MODEL.onnx --lowbit PATH/TO/lowbit [--n 100] [--preset x86] [--recipe R.toml]

Both tools run as child processes under `/usr/bin/time -v`, which gives wall time and
peak resident memory the same way for each. The inputs are N samples uniform in
[-1, 1) (seed 0) of the model's input shape with batch 1, written once to a .npy file
that both read. ONNX Runtime runs `quantize_static` (QDQ, per-channel s8 weights, u8
activations, CalibrationMethod.Entropy); lowbit runs its histogram calibration (the
x86 preset, bias correction included). Prints one JSON object.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np


def ort_quantize(model, inputs, output):
    """The ONNX Runtime side, run in the child process."""
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    data = np.load(inputs, mmap_mode="r")
    name = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.index = 0

        def get_next(self):
            if self.index >= len(data):
                return None
            sample = np.ascontiguousarray(data[self.index : self.index + 1])
            self.index += 1
            return {name: sample}

    quantize_static(
        model,
        output,
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.Entropy,
    )


def timed(command):
    """Wall seconds and peak RSS (MB) of `command` under /usr/bin/time -v."""
    result = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{result.stderr}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", result.stderr).group(1)
    seconds = 0.0
    for part in wall.split(":"):
        seconds = seconds * 60 + float(part)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr).group(1))
    return seconds, rss_kb / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--lowbit", help="the lowbit binary")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--preset", default="x86")
    parser.add_argument("--recipe", help="a TOML recipe laid over the preset")
    parser.add_argument("--ort-child", nargs=2, metavar=("INPUTS", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ort_child:
        ort_quantize(args.model, *args.ort_child)
        return
    if not args.lowbit:
        sys.exit("--lowbit PATH is required")

    import onnx

    graph = onnx.load(args.model).graph
    dims = [d.dim_value or 1 for d in graph.input[0].type.tensor_type.shape.dim]
    shape = [args.n, *dims[1:]]
    with tempfile.TemporaryDirectory() as tmp:
        inputs = os.path.join(tmp, "inputs.npy")
        rng = np.random.default_rng(0)
        np.save(inputs, rng.uniform(-1.0, 1.0, size=shape).astype(np.float32))
        ort_s, ort_mb = timed(
            [sys.executable, __file__, args.model, "--ort-child", inputs, os.path.join(tmp, "ort.onnx")]
        )
        lowbit_s, lowbit_mb = timed(
            [
                args.lowbit,
                "quantize",
                "--model",
                args.model,
                "--approach",
                "static",
                "--preset",
                args.preset,
                "--calib",
                f"npy:{inputs}",
                "--output",
                os.path.join(tmp, "lowbit.onnx"),
                "--json",
                *(["--recipe", args.recipe] if args.recipe else []),
            ]
        )
    print(
        json.dumps(
            {
                "samples": args.n,
                "input_shape": shape[1:],
                "ort_entropy_s": round(ort_s, 2),
                "ort_peak_rss_mb": round(ort_mb),
                "lowbit_s": round(lowbit_s, 2),
                "lowbit_peak_rss_mb": round(lowbit_mb),
                "time_ratio": round(lowbit_s / ort_s, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
