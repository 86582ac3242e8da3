#!/usr/bin/env python3
"""Checks that ONNX Runtime loads a model lowbit wrote, and optionally that it computes
the same outputs as a reference model.

usage: check_onnx_loads.py MODEL [REFERENCE]

The model is loaded and run once on random inputs (symbolic dimensions set to 2).
With REFERENCE, the reference runs on the same inputs and every output must match
within rtol=1e-4, atol=1e-5. Prints "OK" and exits 0, or prints the error and exits 1.
"""
import sys

import numpy as np
import onnxruntime as ort

NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def random_inputs(session, rng):
    feeds = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) else 2 for d in arg.shape]
        dtype = NUMPY_TYPES[arg.type]
        if dtype == np.float32:
            feeds[arg.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype == np.bool_:
            feeds[arg.name] = rng.integers(0, 2, shape).astype(dtype)
        else:
            # Small non-negative integers are valid ids, masks and indices.
            feeds[arg.name] = rng.integers(0, 2, shape).astype(dtype)
    return feeds


def main(argv):
    if len(argv) not in (2, 3):
        print(__doc__.strip())
        return 2
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(argv[1], options, providers=["CPUExecutionProvider"])
        feeds = random_inputs(session, np.random.default_rng(0))
        got = session.run(None, feeds)
        if len(argv) == 3:
            reference = ort.InferenceSession(argv[2], options, providers=["CPUExecutionProvider"])
            want = reference.run(None, feeds)
            for index, (g, w) in enumerate(zip(got, want)):
                if g.shape != w.shape or not np.allclose(g, w, rtol=1e-4, atol=1e-5):
                    diff = np.max(np.abs(g.astype(np.float64) - w)) if g.shape == w.shape else "shape"
                    print(f"output {index} differs from the reference: {g.shape} vs {w.shape}, max diff {diff}")
                    return 1
    except Exception as error:  # noqa: BLE001 - any failure is the answer
        print(f"{type(error).__name__}: {error}")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
