#!/usr/bin/env python3
"""Measures onnxruntime (CPU, 1 intra-op and 1 inter-op thread, all graph
optimisations) on the same models and inputs as the Rust `engine_bench`
example: per-call median / p99 latency in microseconds and throughput.

    bench_ort.py <case-name> <model-folder> <version> <batch> [<batch>...]

Inputs: element i of an FP32 tensor is (i % 97) / 97 - 0.5, of an INT32
tensor i % 100. The batch is the leading dimension (the same rule as the
Rust side for the models used here: simple batches with max_batch_size 8,
mlp_large has a dynamic leading dim).
Prints: engine case batch iterations median_us p99_us items_per_s
"""

import os
import sys
import time

import numpy as np
import onnxruntime as ort

TYPES = {"tensor(float)": np.float32, "tensor(int32)": np.int32}


def fill(shape, dtype):
    n = int(np.prod(shape))
    k = np.arange(n)
    if dtype == np.float32:
        v = (k % 97).astype(np.float32) / np.float32(97.0) - np.float32(0.5)
    else:
        v = (k % 100).astype(np.int32)
    return v.reshape(shape)


def main():
    case, folder, version = sys.argv[1], sys.argv[2], sys.argv[3]
    batches = [int(b) for b in sys.argv[4:]]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    t0 = time.perf_counter()
    sess = ort.InferenceSession(
        os.path.join(folder, version, "model.onnx"), opts, providers=["CPUExecutionProvider"]
    )
    print(f"{case}: onnxruntime {ort.__version__} session in {time.perf_counter() - t0:.3f}s", file=sys.stderr)
    outputs = [o.name for o in sess.get_outputs()]
    for batch in batches:
        feeds = {}
        for i in sess.get_inputs():
            shape = [batch if not isinstance(d, int) or d < 0 else d for d in i.shape]
            shape[0] = batch
            feeds[i.name] = fill(shape, TYPES[i.type])

        def call():
            s = time.perf_counter_ns()
            sess.run(outputs, feeds)
            return time.perf_counter_ns() - s

        warm = sum(call() for _ in range(10)) / 10
        iters = int(min(max(2e9 / max(warm, 1), 50), 20000))
        times = sorted(call() for _ in range(iters))
        median = times[len(times) // 2]
        p99 = times[min(len(times) * 99 // 100, len(times) - 1)]
        throughput = iters * batch / (sum(times) / 1e9)
        print(f"onnxruntime\t{case}\t{batch}\t{iters}\t{median / 1e3:.1f}\t{p99 / 1e3:.1f}\t{throughput:.0f}")


if __name__ == "__main__":
    main()
