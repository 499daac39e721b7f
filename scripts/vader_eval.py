#!/usr/bin/env python3
"""Score a sentiment TSV with VADER and print the same table as `aiserve_sentiment::eval`.

Usage:
    pip install -r scripts/requirements-vader.txt
    python3 scripts/vader_eval.py data/sentiment/dev.tsv

Input: TSV with header `domain id valence text` (valence = mean human rating in [-4, 4]).
Metrics per domain and overall (identical definitions to the Rust `eval` module):
  * n          number of rows
  * pearson_r  Pearson correlation between VADER `compound` and valence
  * n_sign     rows with |valence| >= 0.5
  * sign_acc   on those rows, fraction where the score has the same strict sign as
               the valence (a score of exactly 0 counts as wrong)
"""

import csv
import math
import sys

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

SIGN_THRESHOLD = 0.5


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        header = f.readline().rstrip("\r\n").split("\t")
        if header[:4] != ["domain", "id", "valence", "text"]:
            raise SystemExit(f"{path}: unexpected header {header!r}")
        for lineno, line in enumerate(f, start=2):
            line = line.rstrip("\r\n")
            if not line:
                continue
            parts = line.split("\t", 3)
            if len(parts) != 4:
                raise SystemExit(f"{path}:{lineno}: expected 4 tab-separated fields")
            rows.append((parts[0], parts[1], float(parts[2]), parts[3]))
    return rows


def pearson(xs, ys):
    n = len(xs)
    if n < 2:
        return 0.0
    mx = sum(xs) / n
    my = sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 0.0 or syy <= 0.0:
        return 0.0
    return sxy / math.sqrt(sxx * syy)


def metrics(domain, pairs):
    scores = [s for s, _ in pairs]
    vals = [v for _, v in pairs]
    signed = [(s, v) for s, v in pairs if abs(v) >= SIGN_THRESHOLD]
    correct = sum(1 for s, v in signed if (s > 0 and v > 0) or (s < 0 and v < 0))
    acc = correct / len(signed) if signed else 0.0
    return (domain, len(pairs), pearson(scores, vals), len(signed), acc)


def format_table(rows):
    out = [f"{'domain':<10} {'n':>6} {'pearson_r':>10} {'n_sign':>7} {'sign_acc':>9}"]
    for domain, n, r, n_sign, acc in rows:
        out.append(f"{domain:<10} {n:>6} {r:>10.4f} {n_sign:>7} {acc:>9.4f}")
    return "\n".join(out)


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: vader_eval.py PATH.tsv")
    rows = read_tsv(sys.argv[1])
    analyzer = SentimentIntensityAnalyzer()
    by_domain = {}
    everything = []
    for domain, _id, valence, text in rows:
        score = analyzer.polarity_scores(text)["compound"]
        by_domain.setdefault(domain, []).append((score, valence))
        everything.append((score, valence))
    table = [metrics(d, by_domain[d]) for d in sorted(by_domain)]
    table.append(metrics("overall", everything))
    print(format_table(table))


if __name__ == "__main__":
    main()
