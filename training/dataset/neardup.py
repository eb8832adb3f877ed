"""Near-duplicate queries across a whole store: MinHash over normalised word bigrams, banded as LSH.

The signatures are datasketch's `MinHash` (128 permutations, affine32 scheme, shingles hashed with crc32, a
C call, half the time of the default SHA-1): its permutations, and its arithmetic (MurmurHash3's finaliser,
then a·h + b mod 2^32, minimum per permutation) done here in four array operations, because building a
`MinHash` object per query cost twice as much (0.14 against 0.07 ms, `bench/gate.py`); a test checks the
values equal datasketch's. The band layout is what datasketch `MinHashLSH` picks for the threshold (0.7 → 14
bands of 9 rows), each band keyed by a 64-bit multiply-and-sum of its 9 values. The band index is ours: `MinHashLSH` keeps a bytes key and a
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

import zlib
from collections import deque
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from nodes.gate.text import ngrams, words

REASON = "near_duplicate"
SCHEME = "affine32"
KEY_SEED = 20261202  # the band keys' multipliers; fixed, so a build is reproducible
FMIX32 = (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16)  # MurmurHash3's 32-bit finaliser, as datasketch applies it
NUM_PERM = 128
THRESHOLD = 0.7
SHINGLE_WORDS = 2


def shingles(text: str, size: int = SHINGLE_WORDS) -> list[bytes]:
    """Word `size`-grams of the normalised text (the whole text when it is shorter)."""
    tokens = words(text)
    grams = ngrams(tokens, size) or [" ".join(tokens)]
    return [gram.encode() for gram in grams]


def fmix32(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's finaliser on uint32 values (multiplication wraps, as intended)."""
    s1, m1, s2, m2, s3 = FMIX32
    hv = hv ^ (hv >> np.uint32(s1))
    hv = hv * np.uint32(m1)
    hv = hv ^ (hv >> np.uint32(s2))
    hv = hv * np.uint32(m2)
    return hv ^ (hv >> np.uint32(s3))


@dataclass
class Signer:
    """Computes signatures only (no index): what a worker process needs, a few small arrays to send it."""

    num_perm: int
    b: int
    r: int
    a: np.ndarray
    c: np.ndarray
    mix: np.ndarray
    _buf: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint32), repr=False)

    @classmethod
    def for_threshold(cls, threshold: float = THRESHOLD, num_perm: int = NUM_PERM) -> Signer:
        """datasketch's permutations and the band layout `MinHashLSH` picks for `threshold`."""
        from datasketch import MinHash, MinHashLSH  # imported here: worker processes never need it

        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        a, c = MinHash(num_perm=num_perm, scheme=SCHEME).permutations
        mix = np.random.RandomState(KEY_SEED).randint(1, 2**63, lsh.r, dtype=np.uint64) | np.uint64(1)
        return cls(num_perm, lsh.b, lsh.r, a, c, mix)

    def hashvalues(self, texts: list[str]) -> np.ndarray:
        """One row of MinHash values per text, equal to datasketch's `MinHash(scheme="affine32",
        hashfunc=zlib.crc32)` updated with `shingles(text)`: every text's shingles in one array, one minimum
        per permutation and text (each text has at least one shingle)."""
        flat: list[int] = []
        starts: list[int] = []
        for text in texts:
            starts.append(len(flat))
            flat.extend(map(zlib.crc32, shingles(text)))
        hv = fmix32(np.array(flat, dtype=np.uint32))
        if self._buf.size < self.num_perm * hv.size:  # reused: a fresh multi-MB array per batch costs 4x more
            self._buf = np.empty(self.num_perm * hv.size, dtype=np.uint32)
        permuted = self._buf[: self.num_perm * hv.size].reshape(self.num_perm, hv.size)  # reduceat along rows
        np.multiply(self.a[:, None], hv, out=permuted)
        np.add(permuted, self.c[:, None], out=permuted)
        return np.ascontiguousarray(np.minimum.reduceat(permuted, starts, axis=1).T)

    def sign(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per text, one 64-bit key per band (n × b, uint64) and the signature's low bytes (n × num_perm)."""
        if not texts:
            return np.empty((0, self.b), dtype=np.uint64), np.empty((0, self.num_perm), dtype=np.uint8)
        values = self.hashvalues(texts)
        rows = values[:, : self.b * self.r].reshape(len(texts), self.b, self.r).astype(np.uint64)
        return (rows * self.mix).sum(axis=2), values.astype(np.uint8)


@dataclass
class NearDuplicates:
    """Streaming near-duplicate detector: `seen(text)` is True when an earlier kept text is a near copy."""

    threshold: float = THRESHOLD
    num_perm: int = NUM_PERM
    bands: list[dict[int, int]] = field(default_factory=list)
    sigs: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        self.signer = Signer.for_threshold(self.threshold, self.num_perm)
        self.b, self.r = self.signer.b, self.signer.r
        self.bands = [{} for _ in range(self.b)]

    def signature(self, text: str) -> tuple[list[int], np.ndarray]:
        """One 64-bit key per band of the text's MinHash signature, and the signature's low bytes (a build
        signs a chunk at a time with `signer.sign`: `training.dataset.verdicts`)."""
        keys, lows = self.signer.sign([text])
        return keys.tolist()[0], lows[0]

    def similarity(self, low: np.ndarray, kept: int) -> float:
        """Jaccard estimated from 8-bit values: agreement minus the 1/256 chance that unequal values agree."""
        other = np.frombuffer(self.sigs, dtype=np.uint8, count=self.num_perm, offset=kept * self.num_perm)
        agree = float(np.count_nonzero(other == low)) / self.num_perm
        return (agree - 1 / 256) / (1 - 1 / 256)

    def seen(self, text: str) -> bool:
        """True (and nothing stored) for a near copy of an earlier text; else remember this one, False."""
        return self.seen_signature(*self.signature(text))

    def seen_signature(self, keys: list[int], low: np.ndarray) -> bool:
        """`seen` for a signature computed elsewhere (`Signer.sign`, maybe in a worker process)."""
        candidates = set(map(dict.get, self.bands, keys))  # C loops: this runs once per record
        candidates.discard(None)
        if any(self.similarity(low, kept) >= self.threshold for kept in candidates):  # type: ignore[arg-type]
            return True
        number = len(self.sigs) // self.num_perm
        self.sigs += low.tobytes()
        deque(map(dict.setdefault, self.bands, keys, repeat(number, self.b)), maxlen=0)
        return False
