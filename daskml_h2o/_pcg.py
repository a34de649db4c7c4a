"""H2O's random draws, bit-exact: the PCG generator behind ``runif``, ``split_frame`` and
fold assignment, plus ``java.util.Random`` (used by grid search's RandomDiscrete).

H2O reseeds a fresh PCG generator for every row with ``seed + global_row``, so every draw
depends only on (seed, global row index): computing rows ``[0, n)`` at once or chunk by
chunk with the right ``row_start`` gives identical results. Seeds are Java ``long`` values:
all arithmetic wraps modulo 2**64.
"""
import os

import numpy as np
from numba import njit

_MASK64 = (1 << 64) - 1
_MULT = np.uint64(6364136223846793005)
# PCGRNG(seed, seq=1): increment = (seq << 1) | 1
_INC = np.uint64(3)


# ---------------------------------------------------------------------------- kernels

@njit(nogil=True, cache=True)
def _output(old):
    """The 32-bit output PCG derives from the state before a step (as uint64)."""
    xorshifted = (((old >> np.uint64(18)) ^ old) >> np.uint64(27)) & np.uint64(0xFFFFFFFF)
    rot = old >> np.uint64(59)
    left = (np.uint64(32) - rot) & np.uint64(31)
    return ((xorshifted >> rot) | (xorshifted << left)) & np.uint64(0xFFFFFFFF)


@njit(nogil=True, cache=True)
def _seeded_state(s):
    """State after set_seed(s): state=0, step, state += s, step."""
    return (_INC + s) * _MULT + _INC


@njit(nogil=True, cache=True)
def _first_int(s):
    """Unsigned 32 bits of the first next_int() after set_seed(s)."""
    return _output(_seeded_state(s))


@njit(nogil=True, cache=True)
def _first_float(s):
    """next_float() after set_seed(s): low 24 bits of next_long() (= of its 2nd int)."""
    state = _seeded_state(s)
    low = _output(state * _MULT + _INC)
    # via int64: numba's uint64 -> float conversion is several times slower
    return np.float64(np.int64(low & np.uint64(0xFFFFFF))) / 16777216.0


@njit(nogil=True, cache=True)
def _java_abs_mod(u32, nfolds):
    """Java ``Math.abs((int) u32) % nfolds``: abs(Integer.MIN_VALUE) stays negative and
    Java's remainder keeps the dividend's sign, so that one value gives a negative fold."""
    v = np.int64(u32)
    if v >= 2147483648:
        v -= 4294967296
    if v == -2147483648:
        return -((-v) % nfolds)
    return abs(v) % nfolds


@njit(nogil=True, cache=True)
def _runif_kernel(seed, row_start, out):
    for i in range(out.shape[0]):
        out[i] = _first_float(seed + row_start + np.uint64(i))


@njit(nogil=True, cache=True)
def _random_fold_kernel(seed, row_start, nfolds, out):
    for i in range(out.shape[0]):
        out[i] = _java_abs_mod(_first_int(seed + row_start + np.uint64(i)), nfolds)


@njit(nogil=True, cache=True)
def _stratified_kernel(class_seeds, row_start, class_index, nfolds, out):
    for i in range(out.shape[0]):
        row = row_start + np.uint64(i)
        c = class_index[i]
        if c < 0:
            out[i] = np.int64(row % np.uint64(nfolds))
        else:
            fold = _java_abs_mod(_first_int(row + class_seeds[c]), nfolds)
            # H2O only writes folds 0..nfolds-1 into a zero column: a negative
            # (Integer.MIN_VALUE) fold leaves the row in fold 0
            out[i] = fold if fold >= 0 else 0


@njit(nogil=True, cache=True)
def _split_kernel(u, bounds, out):
    for i in range(u.shape[0]):
        k = 0
        while k < bounds.shape[0] and u[i] > bounds[k]:
            k += 1
        out[i] = k


# ---------------------------------------------------------------------------- helpers

def _u64(value):
    """A Java long (any Python int, wrapped) as numpy uint64."""
    return np.uint64(int(value) & _MASK64)


def _check_rows(row_start, n):
    if int(row_start) < 0:
        raise ValueError(f"row_start must be >= 0, got {row_start}")
    if int(n) < 0:
        raise ValueError(f"n must be >= 0, got {n}")


def _check_nfolds(nfolds):
    if int(nfolds) < 1:
        raise ValueError(f"nfolds must be >= 1, got {nfolds}")
    return int(nfolds)


def _signed64(u):
    u = int(u) & _MASK64
    return u - (1 << 64) if u >> 63 else u


class PCG:
    """Scalar H2O ``PCGRNG(seed, 1)`` in plain Python integers, for the few draws that
    are not per row (and as a second, independent reading of the generator)."""

    def __init__(self, seed):
        self._state = 0
        self.next_int()
        self._state = (self._state + int(seed)) & _MASK64
        self.next_int()

    def next_int(self):
        """Next 32 bits as a signed Java int."""
        old = self._state
        self._state = (old * int(_MULT) + int(_INC)) & _MASK64
        xorshifted = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        u = ((xorshifted >> rot) | (xorshifted << ((-rot) & 31))) & 0xFFFFFFFF
        return u - (1 << 32) if u >> 31 else u

    def next_long(self):
        """Signed Java long: first int is the high word, second the low word."""
        high = self.next_int() & 0xFFFFFFFF
        low = self.next_int() & 0xFFFFFFFF
        return _signed64((high << 32) | low)

    def _next_bits(self, bits):
        return (self.next_long() & _MASK64) & ((1 << bits) - 1)

    def next_float(self):
        return self._next_bits(24) / float(1 << 24)

    def next_double(self):
        return ((self._next_bits(26) << 27) + self._next_bits(27)) / float(1 << 53)


# ---------------------------------------------------------------------------- public

def resolve_seed(seed):
    """H2O's seed rule: ``None`` or ``-1`` draws a random 64-bit seed; anything else is
    taken as a Java long (wrapped to the signed 64-bit range)."""
    if seed is None or int(seed) == -1:
        return _signed64(int.from_bytes(os.urandom(8), "little"))
    return _signed64(seed)


def rapids_seed(seed):
    """The seed H2O's frame methods (``runif``, ``split_frame``, ``kfold_column``,
    ``modulo``/``stratified_kfold_column``) really use: the client sends it through Rapids,
    which holds numbers as doubles, so a seed beyond 2**53 is rounded to the nearest
    double (then cast to a Java long, saturating). ``None``/``-1`` draw a random seed.
    Model seeds (cross-validation folds) are exact longs and need no such rounding."""
    if seed is None or int(seed) == -1:
        return resolve_seed(None)
    return max(-(1 << 63), min((1 << 63) - 1, int(float(int(seed)))))


def runif(seed, row_start, n):
    """H2O ``frame.runif(seed)`` for global rows ``row_start .. row_start+n-1``:
    value of row i = next_float() after set_seed(seed + i), in [0, 1)."""
    _check_rows(row_start, n)
    out = np.empty(int(n), dtype=np.float64)
    _runif_kernel(_u64(seed), _u64(row_start), out)
    return out


def split_index(u, ratios):
    """Split number of each row for ``split_frame(ratios)`` given its ``runif`` value:
    split 0 is u <= b1, split j is b_j < u <= b_{j+1}, the last is u > b_last, where
    b_j are the running sums of ``ratios``."""
    ratios = [float(r) for r in ratios]
    if not ratios:
        raise ValueError("ratios must hold at least one ratio, e.g. [0.75]")
    if len(ratios) > 126:
        raise ValueError(f"at most 126 ratios are supported, got {len(ratios)}")
    bounds = np.cumsum(np.asarray(ratios, dtype=np.float64))
    if min(ratios) < 0 or bounds[-1] >= 1.0:
        raise ValueError(f"ratios must be >= 0 and sum to less than 1.0, got {ratios}")
    u = np.ascontiguousarray(u, dtype=np.float64)
    out = np.empty(u.shape[0], dtype=np.int8)
    _split_kernel(u, bounds, out)
    return out


def random_folds(seed, row_start, n, nfolds):
    """H2O Random/AUTO fold assignment (``kfold_column``) for global rows
    ``row_start .. row_start+n-1``: ``Math.abs((int) next_int()) % nfolds`` after
    set_seed(seed + i). Like Java, the rare row whose draw is Integer.MIN_VALUE gets a
    negative fold (``-(2**31 % nfolds)``); that row is then in no holdout set."""
    _check_rows(row_start, n)
    out = np.empty(int(n), dtype=np.int64)
    _random_fold_kernel(_u64(seed), _u64(row_start), _check_nfolds(nfolds), out)
    return out


# the name the design contract uses
random_fold = random_folds


def modulo_folds(row_start, n, nfolds):
    """H2O Modulo fold assignment: fold = global row index mod nfolds."""
    _check_rows(row_start, n)
    nfolds = _check_nfolds(nfolds)
    return np.arange(int(row_start), int(row_start) + int(n), dtype=np.int64) % nfolds


def class_seeds(seed, n_classes):
    """Per-class seeds of stratified folds: next_long() after set_seed(seed + c)."""
    return np.array([PCG(int(seed) + c).next_long() & _MASK64 for c in range(int(n_classes))],
                    dtype=np.uint64)


def stratified_folds(seed, row_start, class_index, nfolds):
    """H2O Stratified fold assignment (``stratified_kfold_column``) for the rows
    ``row_start ..`` whose class indices are ``class_index`` (int array; -1 = NA).

    This is cross-validation's ``fold_assignment="Stratified"``. H2O's frame method
    ``stratified_kfold_column`` stratifies a zero column instead (a bug kept for
    parity): call this with ``class_index`` all zeros for it.

    The class index is the rank of the class among the distinct values present: the
    level code for an enum whose levels all occur, the position among the sorted
    distinct values for an int column (H2O fails on an enum with unused levels).
    A row of class c goes to ``Math.abs((int) next_int()) % nfolds`` after
    set_seed(i + seed_c), seed_c = next_long() after set_seed(seed + c); an NA row goes
    to i mod nfolds."""
    class_index = np.ascontiguousarray(class_index)
    if class_index.ndim != 1 or class_index.dtype.kind not in "iu":
        raise ValueError("class_index must be a 1-d integer array (-1 for NA)")
    class_index = class_index.astype(np.int64, copy=False)
    _check_rows(row_start, 0)
    n_classes = int(class_index.max()) + 1 if class_index.size else 0
    out = np.empty(class_index.shape[0], dtype=np.int64)
    _stratified_kernel(class_seeds(seed, max(n_classes, 1)), _u64(row_start), class_index,
                       _check_nfolds(nfolds), out)
    return out


class java_random:
    """``java.util.Random(seed)``: the 48-bit linear congruential generator of the JDK,
    as H2O's grid search (RandomDiscrete) draws with it."""

    _MULT = 0x5DEECE66D
    _MASK48 = (1 << 48) - 1

    def __init__(self, seed):
        self._seed = (int(seed) ^ self._MULT) & self._MASK48

    def _next(self, bits):
        """Signed Java int holding the top ``bits`` of the advanced 48-bit seed."""
        self._seed = (self._seed * self._MULT + 0xB) & self._MASK48
        r = self._seed >> (48 - bits)
        return r - (1 << 32) if r >> 31 else r

    def next_int(self, bound=None):
        """``nextInt()`` (any int) or ``nextInt(bound)`` in [0, bound)."""
        if bound is None:
            return self._next(32)
        bound = int(bound)
        if bound <= 0 or bound >= 1 << 31:
            raise ValueError(f"bound must be in 1..2**31-1, got {bound}")
        r = self._next(31)
        m = bound - 1
        if bound & m == 0:
            return (bound * r) >> 31
        u = r
        while True:
            r = u % bound
            # Java rejects u when u - r + m overflows a signed int
            if u - r + m < (1 << 31):
                return r
            u = self._next(31)

    def next_long(self):
        return _signed64((self._next(32) << 32) + self._next(32))

    def next_double(self):
        return ((self._next(26) << 27) + self._next(27)) * (1.0 / (1 << 53))

    def next_float(self):
        return self._next(24) / float(1 << 24)

    def next_boolean(self):
        return self._next(1) != 0
