#!/usr/bin/env python3
"""onnxruntime (CPU, Python wheel) on the exported MiniLM, with the same work per batch as the
candle example: tokenize with the model's tokenizer.json (the `tokenizers` wheel, truncation 256,
padded to the batch's longest), run the graph (encoder + mean pooling + L2 norm).

    bench_ort.py MODEL_DIR MODEL.onnx SENTENCES_FILE BATCH THREADS [PASSES]

Prints one TSV row like embed_bench: engine, batch, threads, batches, median and p99 batch
latency (ms), sentences per second.
"""

import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer


def main() -> None:
    model_dir, onnx_path, sentences_file = sys.argv[1:4]
    batch, threads = int(sys.argv[4]), int(sys.argv[5])
    passes = int(sys.argv[6]) if len(sys.argv) > 6 else 5
    sentences = [l for l in open(sentences_file).read().splitlines() if l]

    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.enable_truncation(256)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])

    def run_pass(times):
        for i in range(0, len(sentences), batch):
            chunk = sentences[i : i + batch]
            start = time.perf_counter()
            encs = tok.encode_batch(chunk)
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            out = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
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
        f"onnxruntime-{ort.__version__}\t{batch}\t{threads}\t{len(times)}\t{pct(0.5):.2f}\t{pct(0.99):.2f}"
        f"\t{len(sentences) * passes / total:.1f}"
    )


if __name__ == "__main__":
    main()
