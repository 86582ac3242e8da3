#!/usr/bin/env python3
"""ONNX Runtime's run of a QDQ model against reference logits: the peer figures of
docs/QUALITY.md's photo-19 analysis.

Usage: ort_fidelity.py Q.onnx --inputs inputs.npy --reference logits.npy
                       [--lowbit LOGITS.npy] [--row R --classes A,B] [--halves K]
                       [--divergence N]

Runs the model one input at a time twice: with ONNX Runtime's graph optimisations (its
integer kernels) and without them (DequantizeLinear → FP32 op → QuantizeLinear, the
exact float simulation of the QDQ semantics). Prints one JSON object with each run's
logits SQNR against the reference and top-1 agreement, and with `--lowbit` (the logits
`lowbit run` wrote) the same for lowbit plus its SQNR against both ONNX Runtime runs.
`--row R --classes A,B` adds each run's logits of classes A and B on input R.
`--halves K` adds each run's SQNR over the first K inputs and over the rest.
`--divergence N` exposes every QuantizeLinear output and reports, per point in graph
order, the percentage of u8 values that differ between the two ONNX Runtime runs on
the first N inputs.
"""
import argparse
import json
import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort


def sqnr_db(test, reference):
    return float(10 * np.log10((reference**2).sum() / ((test - reference) ** 2).sum()))


def session(path, optimize):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def run_all(s, x):
    name = s.get_inputs()[0].name
    return [dict(zip([o.name for o in s.get_outputs()], s.run(None, {name: x[i : i + 1]}))) for i in range(len(x))]


def divergence(path, x):
    model = onnx.load(path)
    points = [n.output[0] for n in model.graph.node if n.op_type == "QuantizeLinear"]
    outputs = {o.name for o in model.graph.output}
    for p in points:
        if p not in outputs:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(p))
    with tempfile.TemporaryDirectory() as tmp:
        exposed = os.path.join(tmp, "exposed.onnx")
        onnx.save(model, exposed)
        a = run_all(session(exposed, True), x)
        b = run_all(session(exposed, False), x)
    rows = []
    for p in points:
        d = np.concatenate([(ra[p].astype(int) - rb[p].astype(int)).ravel() for ra, rb in zip(a, b)])
        rows.append({"point": p, "values": int(d.size), "differ_pct": float(100 * np.mean(d != 0))})
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--inputs", required=True)
    p.add_argument("--reference", required=True)
    p.add_argument("--lowbit")
    p.add_argument("--row", type=int)
    p.add_argument("--classes")
    p.add_argument("--halves", type=int)
    p.add_argument("--divergence", type=int, default=0)
    args = p.parse_args()

    x = np.load(args.inputs)
    reference = np.load(args.reference)
    runs = {}
    for label, optimize in (("ort_integer", True), ("ort_float_simulation", False)):
        s = session(args.model, optimize)
        first = s.get_outputs()[0].name
        runs[label] = np.concatenate([r[first] for r in run_all(s, x)])
    if args.lowbit:
        runs["lowbit"] = np.load(args.lowbit)
    report = {}
    for label, y in runs.items():
        entry = {
            "sqnr_db": sqnr_db(y, reference),
            "top1_agree": int((y.argmax(1) == reference.argmax(1)).sum()),
        }
        if args.halves:
            k = args.halves
            entry["sqnr_db_first"] = sqnr_db(y[:k], reference[:k])
            entry["sqnr_db_rest"] = sqnr_db(y[k:], reference[k:])
        if args.row is not None and args.classes:
            entry["row_logits"] = {c: float(y[args.row, int(c)]) for c in args.classes.split(",")}
        report[label] = entry
    if args.lowbit:
        report["lowbit"]["sqnr_db_vs_ort_integer"] = sqnr_db(runs["lowbit"], runs["ort_integer"])
        report["lowbit"]["sqnr_db_vs_ort_float_simulation"] = sqnr_db(runs["lowbit"], runs["ort_float_simulation"])
    report["ort_integer"]["sqnr_db_vs_ort_float_simulation"] = sqnr_db(
        runs["ort_integer"], runs["ort_float_simulation"]
    )
    if args.divergence:
        report["divergence"] = divergence(args.model, x[: args.divergence])
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
