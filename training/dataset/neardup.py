"""Near-duplicate queries across a whole store: MinHash over normalised word bigrams, banded as LSH.

The signatures are datasketch `MinHash` (128 permutations, affine32 scheme, shingles hashed with crc32, a
C call, half the time of the default SHA-1) and the band layout is what datasketch `MinHashLSH` picks for
the threshold (0.7 → 14 bands of 9 rows). The band index is ours: `MinHashLSH` keeps a bytes key and a
set per band and record, measured at ~430 MB per 100k queries (~4 GB at 1M, over the 2 GB budget); here
each band maps a 64-bit key to the kept query's number. A band collision is only a candidate: it counts as a
duplicate when the two signatures agree on enough of their 128 values to estimate Jaccard ≥ the threshold
(kept as the low 8 bits of each value, 128 bytes a query: b-bit MinHash, corrected for chance agreement).
Without this check, unverified collisions with the many moderately similar queries of a large store dropped
68% of a synthetic 100k store whose pairs are at most J ≈ 0.55. Only kept queries enter the index, in id
order, so the lowest id of each group stays.

Why bigrams at 0.7: queries are short, so one changed word in a 60-word query moves 2 of ~60 bigrams
(Jaccard ≈ 0.93) and two changed words ≈ 0.87, both caught with probability > 0.97; a trailing word on a
ten-word query is ≈ 0.9; two different questions about one disease share a few bigrams (≈ 0.2-0.4,
caught < 0.3%). Case, punctuation and spacing are folded before shingling (`nodes.gate.text.words`).
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field

import numpy as np
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
    bands: list[dict[int, int]] = field(default_factory=list)
    sigs: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        self.b, self.r = lsh.b, lsh.r
        self._perm = MinHash(num_perm=self.num_perm).permutations
        self.bands = [{} for _ in range(self.b)]

    def signature(self, text: str) -> tuple[list[int], np.ndarray]:
        """One 64-bit key per band of the text's MinHash signature, and the signature's low bytes."""
        sig = MinHash(num_perm=self.num_perm, permutations=self._perm, scheme="affine32", hashfunc=zlib.crc32)
        sig.update_batch(shingles(text))
        values = sig.hashvalues
        keys = [
            int.from_bytes(hashlib.blake2b(values[i * self.r : (i + 1) * self.r].tobytes(), digest_size=8).digest())
            for i in range(self.b)
        ]
        return keys, (values & 0xFF).astype(np.uint8)

    def similarity(self, low: np.ndarray, kept: int) -> float:
        """Jaccard estimated from 8-bit values: agreement minus the 1/256 chance that unequal values agree."""
        other = np.frombuffer(self.sigs, dtype=np.uint8, count=self.num_perm, offset=kept * self.num_perm)
        agree = float(np.count_nonzero(other == low)) / self.num_perm
        return (agree - 1 / 256) / (1 - 1 / 256)

    def seen(self, text: str) -> bool:
        """True (and nothing stored) for a near copy of an earlier text; else remember this one, False."""
        keys, low = self.signature(text)
        candidates = {band[key] for key, band in zip(keys, self.bands, strict=True) if key in band}
        if any(self.similarity(low, kept) >= self.threshold for kept in candidates):
            return True
        number = len(self.sigs) // self.num_perm
        self.sigs += low.tobytes()
        for key, band in zip(keys, self.bands, strict=True):
            band.setdefault(key, number)
        return False
