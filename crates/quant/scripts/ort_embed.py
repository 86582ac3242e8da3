"""Runs a text encoder in ONNX Runtime and writes mean-pooled, L2-normalised sentence
embeddings, to cross-check lowbit's run of the same file.

usage: ort_embed.py MODEL INPUT_IDS.npy ATTENTION_MASK.npy TOKEN_TYPE_IDS.npy OUT.npy
"""
import sys

import numpy as np
import onnxruntime as ort


def main():
    model, ids_path, mask_path, types_path, out_path = sys.argv[1:6]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    feeds = {"input_ids": np.load(ids_path), "attention_mask": np.load(mask_path), "token_type_ids": np.load(types_path)}
    names = {i.name for i in session.get_inputs()}
    hidden = session.run(None, {k: v for k, v in feeds.items() if k in names})[0]
    mask = feeds["attention_mask"][..., None].astype(np.float64)
    pooled = (hidden.astype(np.float64) * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    np.save(out_path, pooled.astype(np.float32))


if __name__ == "__main__":
    main()
