#!/usr/bin/env python3
"""Writes testdata/hf/tiny-bert-classifier: a tiny randomly initialised BertForSequenceClassification
(3 labels, hidden 32, 2 layers, a 60-word WordPiece vocabulary) in Triton's layout for the hf backend,
and expected.json: its logits for a few sentences, computed with transformers (PyTorch, CPU) from
a padded batch. Checks the classification head's wiring (pooler + classifier), not accuracy.

    /tmp/minilm-ref/bin/python scripts/make-tiny-bert-classifier.py   (venv of requirements-minilm-reference.txt)
"""

import json
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

WORDS = (
    "the a an is was are good bad great terrible movie film food service not very really "
    "i we you it this that and but so love hate liked boring fun , . ! ? "
    "today yesterday ok fine awful excellent plot actors waiter slow fast cheap price"
).split()
SENTENCES = [
    "The movie was really good!",
    "I hate this film.",
    "The service was slow but the food was excellent.",
    "Ok.",
    "We liked the actors, the plot was boring and the price was not cheap.",
    "Unknown words become UNK tokens",
]
LABELS = {0: "negative", 1: "neutral", 2: "positive"}


def main() -> None:
    root = Path(__file__).resolve().parent.parent / "testdata" / "hf" / "tiny-bert-classifier"
    version = root / "1"
    version.mkdir(parents=True, exist_ok=True)

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {t: i for i, t in enumerate(specials + ["##s", "##ed", "##ing"] + WORDS)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.save(str(version / "tokenizer.json"))

    torch.manual_seed(5)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        # Larger than BERT's 0.02 so the random logits differ visibly between sentences.
        initializer_range=0.3,
        num_labels=len(LABELS),
        id2label=LABELS,
        label2id={v: k for k, v in LABELS.items()},
    )
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(str(version), safe_serialization=True)

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")
    enc = fast(SENTENCES, padding=True, truncation=True, max_length=64, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
    (root / "expected.json").write_text(
        json.dumps(
            {
                "made_by": "scripts/make-tiny-bert-classifier.py",
                "labels": [LABELS[i] for i in range(len(LABELS))],
                "sentences": SENTENCES,
                "logits": [[float(f"{x:.9g}") for x in row] for row in logits.tolist()],
            },
            indent=1,
        )
        + "\n"
    )
    (root / "config.pbtxt").write_text(
        """# Made by scripts/make-tiny-bert-classifier.py: random weights, for tests only.
backend: "hf"
max_batch_size: 8
parameters {
  key: "task"
  value: { string_value: "classification" }
}
"""
    )
    print(f"wrote {root}: logits {tuple(logits.shape)}")


if __name__ == "__main__":
    main()
