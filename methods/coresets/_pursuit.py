"""GradMatch's pursuit of one problem, compiled: non-negative regularised orthogonal matching pursuit.

Why compiled (numba, without the GIL): a pursuit is a chain of small steps, about 550 picks per CIFAR-10
class, each a pass over the class's atoms and a few products with the support. Written as torch and numpy
calls, a pick was about 50 calls: their overhead was a third of its time on one core, and with one class per
thread the threads queued for the GIL between calls (10 classes took 2.2 s on 2 threads, 1.85 s as 2
processes). Here a pick is one call-free loop nest, and classes on different threads run truly at once.

The arithmetic is `gradmatch`'s (its docstring has the updates): the correlations in float32, as the atoms
come; everything else in float64, with the atoms kept float32 (their exact values) and widened as they are
read, which halves the memory the support's products stream. Reductions may be reordered (to vectorise
them) but nothing else is relaxed: infinities and NaNs keep their meaning.

The first call on a machine compiles (about 4 s) and caches the machine code beside this file; later
processes load it (about 0.4 s).
"""

from __future__ import annotations

import numba
import numpy as np

COMPILED = {"nogil": True, "cache": True, "fastmath": {"reassoc", "contract"}}


@numba.njit(**COMPILED)
def pursue(rows, quota, lam, cap, support, coef):
    """The pursuit with atoms `rows` (float32 [n, m], row j is atom j), target their sum, at most `quota`
    atoms, ridge `lam`, and `cap` >= `quota` slots for the support. Writes the support (positions among the
    rows, in pick order) into `support` and its coefficients (float64, > 0) into `coef` (the caller's
    arrays, of `quota` or more); returns their length and the number of dropped atoms. A dropped atom's slot
    goes dead; dead slots are compacted away when the slots run out. Nothing is allocated after the start
    but when compacting: small arrays allocated at every pick, between the blocks of atoms that torch
    allocates and frees for each class on the same threads, left the freed memory in pieces (23 GiB instead
    of 16.6 at ImageNet's shape)."""
    n, m = rows.shape
    b = _column_sums(rows)
    taken = np.zeros(n, np.bool_)  # picked once: never again, dropped or not
    atoms = np.zeros((cap, m), np.float32)  # the slots' atoms
    h = np.zeros((cap, cap))  # (A_S A_S^T + lambda I)^-1 over the live slots, 0 elsewhere
    x = np.zeros(cap)
    slot = np.zeros(cap, np.int64)  # the atom in each slot
    live = np.zeros(cap, np.bool_)
    r, r32 = b.copy(), np.zeros(m, np.float32)
    g, u, column = np.zeros(cap), np.zeros(cap), np.zeros(cap)  # room for the steps' vectors
    drops, s, t = 0, 0, 0
    while s < quota:
        r32[:] = r
        j = _best_atom(rows, taken, r32)
        if j < 0:
            break
        if t == cap:
            t = _compact(atoms, h, x, slot, live, t)
        taken[j] = True
        _add(atoms, h, x, rows[j], b, t, lam, g, u)
        slot[t], live[t] = j, True
        s, t = s + 1, t + 1
        while True:
            p = _most_negative(x, live, t)
            if p < 0:
                break
            _drop(atoms, h, x, live, p, t, column)
            s, drops = s - 1, drops + 1
        _residual(atoms, x, b, t, r)
    s = 0
    for i in range(t):
        if live[i]:
            support[s], coef[s] = slot[i], x[i]
            s += 1
    return s, drops


@numba.njit(**COMPILED)
def _column_sums(rows):
    """b = the sum of the atoms, float64."""
    b = np.zeros(rows.shape[1])
    for i in range(rows.shape[0]):
        for k in range(rows.shape[1]):
            b[k] += rows[i, k]
    return b


@numba.njit(**COMPILED)
def _best_atom(rows, taken, r32):
    """The untaken atom most positively correlated with the residual (the first on ties), or −1 if none is."""
    best, j = np.float32(0.0), -1
    for i in range(rows.shape[0]):
        if taken[i]:
            continue
        acc = np.float32(0.0)
        for k in range(rows.shape[1]):
            acc += rows[i, k] * r32[k]
        if acc > best:
            best, j = acc, i
    return j


@numba.njit(**COMPILED)
def _add(atoms, h, x, a, b, t, lam, g, u):
    """Atom `a` into slot t: H grows by a row and a column around a rank-one update, x by one coefficient
    (`g` and `u`: room for A_S a and H A_S a)."""
    aa, ab = 0.0, 0.0
    for k in range(a.shape[0]):
        ak = np.float64(a[k])
        aa += ak * ak
        ab += ak * b[k]
    for i in range(t):  # g = A_S a (0 for dead slots)
        acc = 0.0
        for k in range(a.shape[0]):
            acc += np.float64(atoms[i, k]) * np.float64(a[k])
        g[i] = acc
    gu, gx = 0.0, 0.0
    for i in range(t):  # u = H g
        acc = 0.0
        for k in range(t):
            acc += h[i, k] * g[k]
        u[i] = acc
        gu += g[i] * acc
        gx += g[i] * x[i]
    c = max(aa + lam - gu, lam)  # the Schur complement, >= lambda
    coef = (ab - gx) / c
    for i in range(t):
        ui = u[i] / c
        for k in range(t):
            h[i, k] += ui * u[k]
        h[t, i] = h[i, t] = -ui
        x[i] -= coef * u[i]
    h[t, t] = 1.0 / c
    x[t] = coef
    atoms[t] = a


@numba.njit(**COMPILED)
def _most_negative(x, live, t):
    """The live slot with the most negative coefficient, or −1 if all are positive."""
    p = -1
    for i in range(t):
        if live[i] and x[i] <= 0.0 and (p < 0 or x[i] < x[p]):
            p = i
    return p


@numba.njit(**COMPILED)
def _drop(atoms, h, x, live, p, t, hp):
    """Slot p leaves the support: a rank-one downdate of H, and its slot goes dead (`hp`: room for H's column
    p)."""
    hp[:t] = h[:t, p]
    scale = x[p] / hp[p]
    for i in range(t):
        hi = hp[i] / hp[p]
        for k in range(t):
            h[i, k] -= hi * hp[k]
        x[i] -= scale * hp[i]
    h[p, :t] = 0.0
    h[:t, p] = 0.0
    x[p] = 0.0
    atoms[p] = 0.0
    live[p] = False


@numba.njit(**COMPILED)
def _residual(atoms, x, b, t, r):
    """r = b − A_S^T x, in place."""
    r[:] = b
    for i in range(t):
        if x[i] != 0.0:
            for k in range(r.shape[0]):
                r[k] -= x[i] * np.float64(atoms[i, k])


@numba.njit(**COMPILED)
def _compact(atoms, h, x, slot, live, t):
    """The live slots, in order, to the front; the rest zeroed. Returns how many are live."""
    keep = np.nonzero(live[:t])[0]
    w = len(keep)
    atoms[:w] = atoms[keep]
    x[:w], slot[:w] = x[keep], slot[keep]
    h[:w, :w] = h[keep][:, keep]
    atoms[w:t] = 0.0
    x[w:t] = 0.0
    h[w:t, :t] = 0.0
    h[:t, w:t] = 0.0
    live[:w] = True
    live[w:t] = False
    return w
