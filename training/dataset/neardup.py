"""Near-duplicate queries across a whole store: MinHash over normalised word bigrams, banded as LSH.

The signatures are datasketch `MinHash` (128 permutations, affine32 scheme, shingles hashed with crc32, a
C call, half the time of the default SHA-1) and the band layout is what datasketch `MinHashLSH` picks for
the threshold (0.7 → 14 bands of 9 rows). The band index is ours: `MinHashLSH` keeps a bytes key and a
set per band and record, measured at ~430 MB per 100k queries (~4 GB at 1M, over the 2 GB budget); here
each band is a set of 64-bit ints (~60 bytes per entry). Only kept queries enter the index, in id order,
so the lowest id of each group stays and later ones that collide with it in any band are dropped.

Why bigrams at 0.7: queries are short, so one changed word in a 60-word query moves 2 of ~60 bigrams
(Jaccard ≈ 0.93) and two changed words ≈ 0.87, both caught with probability > 0.97; a trailing word on a
ten-word query is ≈ 0.9; two different questions about one disease share a few bigrams (≈ 0.2-0.4,
caught < 0.3%). Case, punctuation and spacing are folded before shingling (`nodes.gate.text.words`).
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field

from datasketch import MinHash, MinHashLSH

from nodes.gate.text import ngrams, words

REASON = "near_duplicate"
NUM_PERM = 128
THRESHOLD = 0.7
SHINGLE_WORDS = 2


def shingles(text: str, size: int = SHINGLE_WORDS) -> list[bytes]:
    """Word `size`-grams of the normalised text (the whole text when it is shorter)."""
    tokens = words(text)
    grams = ngrams(tokens, size) or [" ".join(tokens)]
    return [gram.encode() for gram in grams]


@dataclass
class NearDuplicates:
    """Streaming near-duplicate detector: `seen(text)` is True when an earlier kept text is a near copy."""

    threshold: float = THRESHOLD
    num_perm: int = NUM_PERM
    bands: list[set[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        self.b, self.r = lsh.b, lsh.r
        self._perm = MinHash(num_perm=self.num_perm).permutations
        self.bands = [set() for _ in range(self.b)]

    def keys(self, text: str) -> list[int]:
        """One 64-bit key per band of the text's MinHash signature."""
        sig = MinHash(num_perm=self.num_perm, permutations=self._perm, scheme="affine32", hashfunc=zlib.crc32)
        sig.update_batch(shingles(text))
        values = sig.hashvalues
        return [
            int.from_bytes(hashlib.blake2b(values[i * self.r : (i + 1) * self.r].tobytes(), digest_size=8).digest())
            for i in range(self.b)
        ]

    def seen(self, text: str) -> bool:
        """True (and nothing stored) for a near copy of an earlier text; else remember this one, False."""
        keys = self.keys(text)
        if any(key in band for key, band in zip(keys, self.bands, strict=True)):
            return True
        for key, band in zip(keys, self.bands, strict=True):
            band.add(key)
        return False
