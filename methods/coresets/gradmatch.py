"""`gradmatch`: per class, a weighted coreset whose summed last-layer gradient matches the class's summed
gradient, found by non-negative orthogonal matching pursuit (GradMatch, Killamsetty et al. 2021, as the
paper runs it: per-class per-gradient features, lambda = 0.5).

Why it is written this way: the widely used implementation solves one class at a time and re-solves the
least-squares system from scratch at every pick (57.7 s on a 2-core CPU for `make bench-selectors`'
reference problem, returning 4,143 of the 5,000 samples asked). Here each class keeps the inverse of its
support's Gram matrix, H = (A_S A_S^T + lambda I)^-1, and its coefficients x = H A_S b, both float64 on
the CPU, and updates them by rank one:

    pick a:  g = A_S a, u = H g, c = a·a + lambda − g·u,  x ← [x − u t, t] with t = (a·b − g·x) / c,
             H ← [[H + u u^T / c, −u / c], [−u^T / c, 1 / c]]
    drop p:  x ← x − H[:, p] x_p / H_pp,  H ← H − H[:, p] H[p, :] / H_pp   (then row and column p removed)

so a dropped atom costs one rank-one downdate, not a refactorisation (it was 8.2 of 15.9 s in a profile of
the version that rebuilt the class's system from its atoms). The residual r = b − A_S^T x is recomputed
after each pick. A pick is the atom most positively correlated with r: one float32 pass over the class's
atoms laid out [n, d+1] (10 MB for a CIFAR-10 class), which bounds the pursuit. The pursuit of a class is
compiled (`methods.coresets._pursuit`) and always runs on the CPU, where its chain of small steps is
fastest; classes run concurrently, one per torch thread, so the cores share the atoms' memory traffic and
the result does not depend on the thread count.

When a coefficient turns non-positive, the most negative atom leaves the support for good (it is never
picked again). A class stops when it has its budget or no atom correlates positively with its residual;
then it is topped up with random members of the class (weight: the mean of its OMP weights), so the
coreset is exactly `budget` samples. Class budgets: ceil(k n_c / N), trimmed to sum to exactly k before
the pursuit starts (see `harness.training.selection.class_budgets`), so the weights are the OMP solution
of exactly what is returned. Memory: the atoms of the classes in flight (one per thread) and, per class,
budget x (d+1) float32 and budget x budget float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.core.errors import ConfigError
from harness.core.registry import register
from harness.training.selection import ClassLayout, Coreset, Probe, SelectionContext, Selector, class_budgets
from methods.coresets._features import error_vectors, with_bias
from methods.coresets._parallel import in_parallel

MIN_SPARE = 16  # slots beyond the quota, at least, before dead ones are compacted away


@register("selector", "gradmatch")
class GradMatch(Selector):
    """GradMatch's PerClassPerGradient OMP. `lam`: the ridge term lambda of the matching problem."""

    def __init__(self, lam: float = 0.5):
        if not lam > 0:
            raise ConfigError(f"selectors.gradmatch.lam must be > 0 (it keeps every system solvable), got {lam!r}")
        self.lam = lam
        self.drops = 0  # atoms dropped in the last `select`: the benchmark reports it

    def select(self, probe: Probe, budget: int, rng: torch.Generator, ctx: SelectionContext) -> Coreset:
        groups = ClassLayout.of(probe.labels, ctx.num_classes).groups()
        quota = class_budgets(probe.labels, budget, ctx.num_classes)
        work = [c for c in range(len(groups)) if quota[c] > 0]

        def one(c: int) -> Pursuit:
            return pursue(class_rows(probe, groups[c], c), quota[c], self.lam)

        results = dict(zip(work, in_parallel(one, work, torch.device("cpu")), strict=True))
        picked, weights = [], []
        self.drops = sum(r.drops for r in results.values())
        for c in work:
            chosen, w = _top_up(results[c].support, results[c].x, len(groups[c]), quota[c], rng)
            picked.append(groups[c][chosen])
            weights.append(w)
        idx = torch.cat(picked)
        return Coreset(probe.indices[idx], torch.cat(weights).to(probe.indices.device).float())


def class_rows(probe: Probe, members: torch.Tensor, c: int) -> torch.Tensor:
    """Class c's per-gradient atoms as rows, float32 [n_c, d+1] on the CPU: row i = e_ic · [1, h_i] for its
    i-th member (one class at a time: the error vectors of all samples would be N x K floats)."""
    e = error_vectors(probe.logits[members], probe.labels[members])[:, c:c + 1]
    return with_bias(probe.embeddings[members]).mul_(e).cpu()


@dataclass
class Pursuit:
    """One problem's result: the support (positions among its atoms, in pick order), its coefficients
    (float64, > 0) and how many atoms were dropped on the way."""

    support: torch.Tensor
    x: torch.Tensor
    drops: int = 0


def pursue(rows: torch.Tensor, quota: int, lam: float) -> Pursuit:
    """Non-negative regularised OMP of one problem: atoms `rows` float32 [n, m] on the CPU (row j is atom j),
    target their sum, at most `quota` atoms. Returns the support and its positive coefficients."""
    from methods.coresets._pursuit import pursue as compiled  # numba: loaded when a pursuit first runs

    q = min(quota, len(rows))
    support, x = torch.zeros(q, dtype=torch.long), torch.zeros(q, dtype=torch.float64)
    found, drops = compiled(rows.float().contiguous().numpy(), q, float(lam), q + max(MIN_SPARE, q // 8),
                            support.numpy(), x.numpy())
    return Pursuit(support[:found], x[:found], drops)


def _top_up(chosen: torch.Tensor, w: torch.Tensor, n: int, quota: int, rng: torch.Generator):
    """The class's OMP picks (positions among its members, on the CPU) and weights, topped up to `quota`
    with random other members weighted like an average pick."""
    missing = quota - len(chosen)
    if missing > 0:
        free = torch.ones(n, dtype=torch.bool)
        free[chosen] = False
        candidates = free.nonzero().squeeze(1)
        extra = candidates[torch.randperm(len(candidates), generator=rng)[:missing]]
        fill = w.mean() if len(w) else torch.tensor(n / quota, dtype=torch.float64)
        chosen = torch.cat([chosen, extra])
        w = torch.cat([w, fill.expand(missing)])
    return chosen, w
