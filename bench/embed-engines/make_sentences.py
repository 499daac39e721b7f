#!/usr/bin/env python3
"""Writes sentences.txt: 256 deterministic English-like sentences of 8 to 30 words (uniform), the
shared input of bench/embed-engines (and of the issue-5 end-to-end measurement)."""

import random
from pathlib import Path

WORDS = """the a of and to in is was for on that with as it by at from this be are have has had not
but or an they we you he she his her their our its which who will would can could should may might
new first last long great little own other old right big high different small large next early young
important few public bad same able time person year way day thing man world life hand part child eye
woman place work week case point government company number group problem fact model server request
batch engine network data memory latency thread queue token sentence vector river city market music
film story garden window kitchen morning evening summer winter doctor teacher student friend family
runs reads writes opens closes builds finds keeps takes gives makes sees knows thinks looks wants uses
quickly slowly quietly carefully often never always sometimes almost nearly really very quite""".split()


def main() -> None:
    rng = random.Random(20261124)
    lines = []
    for _ in range(256):
        n = rng.randint(8, 30)
        words = [rng.choice(WORDS) for _ in range(n)]
        words[0] = words[0].capitalize()
        lines.append(" ".join(words) + ".")
    Path(__file__).with_name("sentences.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
