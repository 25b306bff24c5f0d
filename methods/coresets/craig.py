"""`craig`: per class, the facility-location coreset of the last-layer gradients, weighted by cluster size
(CRAIG, Mirzasoleiman et al. 2020).

Why: CRAIG bounds the error of a weighted subset's gradient by sum_i min_{j in S} ‖g_i − g_j‖, so it picks
S to maximise the facility-location value F(S) = sum_i max_{j in S} sim(i, j) with sim = max ‖g − g'‖ −
‖g_i − g_j‖ (Euclidean distances of the full last-layer gradients, computed from the probe without forming
them). The greedy is Minoux's lazy greedy, refreshing the stale upper bounds of a batch of top candidates at
once: it picks exactly what the plain greedy picks, so F(S) >= (1 − 1/e) F(S*). Each sample then counts
for the selected one it is most similar to (a selected sample counts for itself), and that cluster size is
the weight: the weights of a class sum to its number of samples. Memory: one n_c x n_c matrix per class.
"""

from __future__ import annotations

import torch

from harness.core.registry import register
from harness.training.selection import ClassLayout, Coreset, Probe, SelectionContext, Selector, class_budgets
from methods.coresets._features import error_vectors, gradient_distances
from methods.coresets._parallel import in_parallel

REFRESH = 32  # stale candidates whose gains are recomputed together


@register("selector", "craig")
class Craig(Selector):
    def select(self, probe: Probe, budget: int, rng: torch.Generator, ctx: SelectionContext) -> Coreset:
        groups = ClassLayout.of(probe.labels, ctx.num_classes).groups()
        quota = class_budgets(probe.labels, budget, ctx.num_classes)
        work = [c for c in range(len(groups)) if quota[c] > 0]

        def one(c: int):
            members = groups[c]  # the class's error vectors only: all of them are N x K floats
            sim = gradient_distances(error_vectors(probe.logits[members], probe.labels[members]),
                                     probe.embeddings[members])
            torch.sub(sim.max(), sim, out=sim)  # similarity max ‖g − g'‖ − ‖g_i − g_j‖, in place
            chosen = facility_location(sim, quota[c])
            return members[chosen], cluster_sizes(sim, chosen).float()

        picked, weights = zip(*in_parallel(one, work, probe.embeddings.device), strict=True)
        return Coreset(probe.indices[torch.cat(picked)], torch.cat(weights))


def facility_location(sim: torch.Tensor, k: int) -> torch.Tensor:
    """Greedy maximiser of F(S) = sum_i max_{j in S} sim[i, j] over |S| = k, for a symmetric `sim` >= 0,
    evaluated lazily: marginal gains only shrink as S grows, so a candidate whose freshly computed gain
    beats every other candidate's stale bound is the greedy choice. Rows stand for columns (symmetry), so
    every read is contiguous. Returns the picks in order, int64 [k]."""
    n = sim.shape[0]
    cover = torch.zeros(n, dtype=sim.dtype, device=sim.device)
    bound = sim.sum(1)  # exact gains at S = {}
    rows = torch.empty(min(REFRESH, n), n, dtype=sim.dtype, device=sim.device)
    picks = []
    for _ in range(k):
        while True:
            top = torch.topk(bound, min(REFRESH + 1, n - len(picks)))
            cand = top.indices[:REFRESH]
            fresh = torch.index_select(sim, 0, cand, out=rows[:len(cand)])
            gains = fresh.sub_(cover).clamp_(min=0).sum(1)
            bound[cand] = gains
            best = int(gains.argmax())
            if len(top.values) <= REFRESH or bool(gains[best] >= top.values[REFRESH]):
                break
        j = int(cand[best])
        picks.append(j)
        bound[j] = float("-inf")  # taken
        torch.maximum(cover, sim[j], out=cover)
    return torch.tensor(picks, dtype=torch.long, device=sim.device)


def cluster_sizes(sim: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """How many samples each chosen one is the most similar chosen sample to (itself included), int64;
    `sim` symmetric."""
    owner = sim[chosen].argmax(0)
    owner[chosen] = torch.arange(len(chosen), device=sim.device)
    return torch.bincount(owner, minlength=len(chosen))
