#!/usr/bin/env python3
"""Makes testdata/hf/tiny-bert-scorer: the tiny classifier of testdata/hf/tiny-bert-classifier cut
down to one label (a BertForSequenceClassification with num_labels=1, i.e. one score per text).

The classifier head keeps only the first row of its weight and bias, so the scorer's score for a
text is exactly the classifier's first logit, which transformers computed into
testdata/hf/tiny-bert-classifier/expected.json: tests compare against that column. Standard library
only (the safetensors format is a length, a JSON header and the raw tensors).

    python3 scripts/make-tiny-bert-scorer.py
"""
import json
import shutil
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "testdata/hf/tiny-bert-classifier"
DST = ROOT / "testdata/hf/tiny-bert-scorer"


def read_safetensors(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    meta = header.pop("__metadata__", None)
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        tensors[name] = (info["dtype"], info["shape"], data[start:end])
    return meta, tensors


def write_safetensors(path, meta, tensors):
    header, blobs, offset = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name in sorted(tensors):
        dtype, shape, blob = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    (DST / "1").mkdir(parents=True, exist_ok=True)
    meta, tensors = read_safetensors(SRC / "1/model.safetensors")
    dtype, (labels, hidden), blob = tensors["classifier.weight"]
    assert dtype == "F32", dtype
    tensors["classifier.weight"] = (dtype, [1, hidden], blob[: hidden * 4])
    dtype, _, blob = tensors["classifier.bias"]
    tensors["classifier.bias"] = (dtype, [1], blob[:4])
    write_safetensors(DST / "1/model.safetensors", meta, tensors)

    config = json.loads((SRC / "1/config.json").read_text())
    config["id2label"] = {"0": "score"}
    config["label2id"] = {"score": 0}
    config["problem_type"] = "regression"
    (DST / "1/config.json").write_text(json.dumps(config, indent=2) + "\n")
    shutil.copy(SRC / "1/tokenizer.json", DST / "1/tokenizer.json")
    (DST / "config.pbtxt").write_text(
        "# Made by scripts/make-tiny-bert-scorer.py: random weights, for tests only.\n"
        "# One score per text: its score is the first logit of tiny-bert-classifier.\n"
        'backend: "hf"\n'
        "max_batch_size: 8\n"
        "dynamic_batching { max_queue_delay_microseconds: 1000 }\n"
        'parameters {\n  key: "task"\n  value: { string_value: "classification" }\n}\n'
        'parameters {\n  key: "predict_labels"\n  value: { string_value: "negative,neutral,positive" }\n}\n'
        'parameters {\n  key: "predict_neutral_band"\n  value: { string_value: "0.25" }\n}\n'
    )


if __name__ == "__main__":
    main()
