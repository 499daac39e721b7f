#!/usr/bin/env python3
"""Exports the MiniLM folder to ONNX for onnxruntime: the BERT encoder plus mean pooling and L2
normalisation in the graph (what sentence-transformers computes), inputs input_ids and
attention_mask [batch, seq] int64, output embedding [batch, 384]. Checks the export against
sentence-transformers on a few sentences.

    export_onnx.py MODEL_DIR OUT.onnx
"""

import sys

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from transformers import AutoModel


class Embedder(torch.nn.Module):
    def __init__(self, bert):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids, attention_mask):
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)


def main() -> None:
    model_dir, out = sys.argv[1], sys.argv[2]
    bert = AutoModel.from_pretrained(model_dir).eval()
    st = SentenceTransformer(model_dir, device="cpu")
    texts = ["A short one.", "A somewhat longer sentence so that the batch needs padding here."]
    enc = st.tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    model = Embedder(bert).eval()
    args = (enc["input_ids"], enc["attention_mask"])
    kwargs = dict(
        input_names=["input_ids", "attention_mask"],
        output_names=["embedding"],
        dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}},
        opset_version=17,
    )
    with torch.no_grad():
        try:
            torch.onnx.export(model, args, out, dynamo=False, **kwargs)
        except TypeError:  # older torch without the dynamo switch
            torch.onnx.export(model, args, out, **kwargs)

    import onnxruntime as ort

    sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    # Other batch and sequence sizes than the traced ones: the axes must be dynamic.
    check = [
        "One.",
        "Three sentences this time, of rather different lengths, to check the dynamic axes.",
        "And a third, shorter one.",
    ]
    enc = st.tokenizer(check, padding=True, truncation=True, max_length=256, return_tensors="np")
    got = sess.run(None, {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})[0]
    want = st.encode(check, convert_to_numpy=True)
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    assert cos.min() > 0.9999, cos
    print(f"exported {out}; cosine vs sentence-transformers {cos.min():.7f}", file=sys.stderr)


if __name__ == "__main__":
    main()
