#!/usr/bin/env python3
"""onnxruntime (CPU, Python wheel) on MODEL_DIR/model.onnx (scripts/make-minilm-onnx.py's graph:
output last_hidden_state), with the same work per batch as the `hf` backend: tokenize with the
model's tokenizer.json (the `tokenizers` wheel, truncation 256, padded to the batch's longest), run
the graph, mean-pool over the attention mask and L2-normalise (all-MiniLM-L6-v2's
sentence-transformers modules) in numpy.

    bench_ort.py MODEL_DIR SENTENCES_FILE BATCH THREADS [PASSES]

Session options as the Rust engine sets them: intra_op_num_threads=THREADS, inter_op_num_threads=1,
sequential execution, ORT_ENABLE_ALL. Prints one TSV row like embed_bench: engine, batch, threads,
batches, median and p99 batch latency (ms), sentences per second.
"""

import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def main() -> None:
    model_dir, sentences_file = sys.argv[1:3]
    batch, threads = int(sys.argv[3]), int(sys.argv[4])
    passes = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    sentences = [l for l in open(sentences_file).read().splitlines() if l]

    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.enable_truncation(256)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(f"{model_dir}/model.onnx", opts, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in sess.get_inputs()}

    def embed(chunk):
        encs = tok.encode_batch(chunk)
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in inputs:
            feeds["token_type_ids"] = np.array([e.type_ids for e in encs], dtype=np.int64)
        hidden = sess.run(["last_hidden_state"], feeds)[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def run_pass(times):
        for i in range(0, len(sentences), batch):
            chunk = sentences[i : i + batch]
            start = time.perf_counter()
            out = embed(chunk)
            times.append(time.perf_counter() - start)
            assert out.shape == (len(chunk), 384)

    run_pass([])
    times = []
    start = time.perf_counter()
    for _ in range(passes):
        run_pass(times)
    total = time.perf_counter() - start
    times.sort()
    pct = lambda p: times[round((len(times) - 1) * p)] * 1e3
    print(
        f"onnxruntime-{ort.__version__}-python\t{batch}\t{threads}\t{len(times)}\t{pct(0.5):.2f}\t{pct(0.99):.2f}"
        f"\t{len(sentences) * passes / total:.1f}"
    )


if __name__ == "__main__":
    main()
