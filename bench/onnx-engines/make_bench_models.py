#!/usr/bin/env python3
"""Makes the benchmark-only model: mlp_large, FP32 x [batch, 256] ->
Dense(1024) -> Relu -> Dense(1024) -> Relu -> Dense(256) -> y [batch, 256],
fixed seeded weights (about 6 MB, so it is generated, not committed).
Written to models/mlp_large/1/model.onnx in Triton layout (no config.pbtxt)."""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    rng = np.random.default_rng(42)
    sizes = [256, 1024, 1024, 256]
    nodes, inits = [], []
    prev = "x"
    for k, (a, b) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32)
        bias = (rng.standard_normal(b) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(bias, f"b{k}")]
        last = k == len(sizes) - 2
        nodes.append(helper.make_node("MatMul", [prev, f"w{k}"], [f"m{k}"]))
        nodes.append(helper.make_node("Add", [f"m{k}", f"b{k}"], ["y" if last else f"a{k}"]))
        if not last:
            nodes.append(helper.make_node("Relu", [f"a{k}"], [f"r{k}"]))
            prev = f"r{k}"
    graph = helper.make_graph(
        nodes,
        "mlp_large",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 256])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    d = os.path.join(HERE, "models", "mlp_large", "1")
    os.makedirs(d, exist_ok=True)
    onnx.save(model, os.path.join(d, "model.onnx"))


if __name__ == "__main__":
    main()
