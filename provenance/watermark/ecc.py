"""Error correction for the watermark payload: a K=9, rate-1/3 convolutional code, soft Viterbi.

The generators are the maximum-free-distance K=9 rate-1/3 code of the literature (octal 557, 663,
711, free distance 18; the IS-95/CDMA2000 reverse-link code). The code is zero-terminated: eight
tail bits bring the register back to state 0,
so the decoder knows both ends of the trellis. Encoding is one vectorised convolution per
generator; decoding loops over the ~100 trellis steps (bits, not pixels) with all 256 states
updated at once in numpy.

Soft decisions: the decoder takes one real number per coded bit, positive for 1 and negative for 0,
proportional to the log-likelihood ratio (for the watermark: the sum of the descrambled chip values
that carry the bit). It returns the most likely information bits and the number of coded bits
whose hard decision disagrees with the re-encoded path (the errors it corrected).
"""

from __future__ import annotations

import numpy as np

CONSTRAINT = 9
MEMORY = CONSTRAINT - 1
GENERATORS = (0o557, 0o663, 0o711)
RATE_INV = len(GENERATORS)
N_STATES = 1 << MEMORY


def _taps(poly: int) -> np.ndarray:
    # The polynomial's top bit taps the current input, bit 0 the input MEMORY steps back.
    return np.array([(poly >> (MEMORY - i)) & 1 for i in range(CONSTRAINT)], dtype=np.int64)


_TAPS = np.stack([_taps(g) for g in GENERATORS])  # (3, CONSTRAINT)


def coded_length(n_info: int) -> int:
    return (n_info + MEMORY) * RATE_INV


def encode(info: np.ndarray) -> np.ndarray:
    """Information bits (0/1) → coded bits (0/1), interleaved g0 g1 g2 per step, with the tail."""
    u = np.concatenate([np.asarray(info, dtype=np.int64) & 1, np.zeros(MEMORY, dtype=np.int64)])
    out = np.stack([np.convolve(u, taps)[: len(u)] & 1 for taps in _TAPS], axis=1)
    return out.reshape(-1).astype(np.uint8)


def _trellis():
    # next_state = (u << (MEMORY-1)) | (state >> 1): the newest input is the state's top bit.
    ns = np.arange(N_STATES)
    u = ns >> (MEMORY - 1)
    prev = np.stack([((ns & ((1 << (MEMORY - 1)) - 1)) << 1) | b for b in (0, 1)], axis=1)  # (states, 2)
    reg = (u[:, None] << MEMORY) | prev  # CONSTRAINT-bit register: current input on top
    bits = (reg[..., None] >> np.arange(MEMORY, -1, -1)) & 1  # (states, 2, CONSTRAINT) newest first
    out = (bits @ _TAPS.T) & 1  # (states, 2, 3)
    return prev, u, (2.0 * out - 1.0).astype(np.float64)


_PREV, _INPUT, _SYMBOLS = _trellis()


def viterbi_decode(soft: np.ndarray, n_info: int) -> tuple[np.ndarray, int]:
    """Maximum-likelihood information bits for soft values (>0 means 1), and the corrected error count."""
    soft = np.asarray(soft, dtype=np.float64)
    steps = n_info + MEMORY
    if soft.shape != (steps * RATE_INV,):
        raise ValueError(f"expected {steps * RATE_INV} soft values, got {soft.shape}")
    y = soft.reshape(steps, RATE_INV)
    branch = np.einsum("tk,sbk->tsb", y, _SYMBOLS)  # (steps, states, 2) correlation metrics
    metric = np.full(N_STATES, -np.inf)
    metric[0] = 0.0
    choice = np.empty((steps, N_STATES), dtype=np.int8)
    for t in range(steps):
        cand = metric[_PREV] + branch[t]
        pick = np.argmax(cand, axis=1)
        choice[t] = pick
        metric = cand[np.arange(N_STATES), pick]
    state = 0  # zero-terminated
    bits = np.empty(steps, dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[t] = _INPUT[state]
        state = _PREV[state, choice[t, state]]
    info = bits[:n_info]
    errors = int(np.sum((soft > 0) != encode(info).astype(bool)))
    return info, errors
