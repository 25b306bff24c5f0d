"""`glister`: the subset that most raises the validation log-likelihood after a gradient step on it,
grown greedily (GLISTER, Killamsetty et al. 2021, its stochastic-greedy variant as CORDS runs it).

Why this form: with the classifier as the only layer that moves, one SGD step of size eta on a set S
changes the validation logits in closed form, z_v -= eta * sum_{i in S} e_i (1 + h_i · h_v), so the
lookahead costs no forward pass. Each greedy step draws (N / budget) · ln(1/epsilon) candidates from the
samples not yet chosen (stochastic greedy; drawn with replacement, repeats dropped), scores each by
g_i · ĝ_val, the gradient inner product with the summed validation gradient at the lookahead logits (the
first-order gain in validation log-likelihood), keeps the best, and moves the validation logits by its
step. eta is the run's initial learning rate; weights are 1. Needs the validation split.
"""

from __future__ import annotations

import math

import torch

from harness.core.errors import ConfigError
from harness.core.registry import register
from harness.core.threads import torch_threads
from harness.training.selection import Coreset, Probe, SelectionContext, Selector
from methods.coresets._features import error_vectors, with_bias


@register("selector", "glister")
class Glister(Selector):
    needs_val = True

    def __init__(self, epsilon: float = 0.01):
        if not 0.0 < epsilon < 1.0:
            raise ConfigError(f"selectors.glister.epsilon must be in (0, 1), got {epsilon!r}")
        self.epsilon = epsilon

    def select(self, probe: Probe, budget: int, rng: torch.Generator, ctx: SelectionContext) -> Coreset:
        if probe.val is None:
            raise ValueError("glister needs the validation probe (needs_val)")
        chosen = greedy(probe, budget, ctx.lr, self.epsilon, rng)
        return Coreset(probe.indices[chosen], torch.ones(budget, device=probe.indices.device))


def greedy(probe: Probe, budget: int, eta: float, epsilon: float, rng: torch.Generator) -> torch.Tensor:
    """Positions (into the probe) of the `budget` samples chosen by stochastic greedy, in order. A step is
    two passes over the validation embeddings (the summed validation gradient at the current lookahead
    logits, and the logit move of the chosen sample) and a few products with the candidates' rows. The
    validation logits are kept transposed, [K, V], so that the softmax reduces across K contiguous rows.

    Only those two passes use torch's threads: the rest of a step is too small to split (waking a second
    thread for each of the softmax's six operations cost ten times the operation, on two cores)."""
    n = len(probe)
    e, hb = error_vectors(probe.logits, probe.labels), with_bias(probe.embeddings)
    z_val = probe.val.logits.float().T.contiguous()
    hb_val = with_bias(probe.val.embeddings)
    onehot = torch.zeros_like(z_val).scatter_(0, probe.val.labels[None, :], 1.0)
    draws = min(n, math.ceil(n / budget * math.log(1.0 / epsilon)))
    pool = torch.arange(n)  # the not-yet-chosen samples are pool[:left]
    chosen = []
    threads = torch.get_num_threads()
    with torch_threads(1):
        for left in range(n, n - budget, -1):
            at = torch.unique(torch.randint(left, (draws,), generator=rng)) if draws < left else torch.arange(left)
            cand = pool[at].to(e.device)
            e_cand, hb_cand = e.index_select(0, cand), hb.index_select(0, cand)
            e_val = softmax_columns(z_val).sub_(onehot)  # [K, V]
            if e.shape[1] <= len(cand):  # summed validation gradient [K, d+1], then g_i · ĝ_val per candidate
                with torch_threads(threads):
                    g_val = e_val @ hb_val
                gains = ((e_cand @ g_val) * hb_cand).sum(1)
            else:  # cheaper with many classes: sum_v (e_i · e_v)(hb_i · hb_v)
                with torch_threads(threads):
                    gains = ((e_cand @ e_val) * (hb_cand @ hb_val.T)).sum(1)
            best = int(gains.argmax())
            j, where = int(cand[best]), int(at[best])
            chosen.append(j)
            with torch_threads(threads):
                move = torch.mv(hb_val, hb[j])
            z_val.addr_(e[j], move, alpha=-eta)
            pool[where], pool[left - 1] = pool[left - 1].item(), j  # j leaves the live part
    return torch.tensor(chosen, dtype=torch.long, device=probe.indices.device)


def softmax_columns(z: torch.Tensor) -> torch.Tensor:
    """softmax(z) along dim 0, a new tensor (z [K, V]: the reductions run across K contiguous rows)."""
    p = (z - torch.amax(z, 0)).exp_()
    return p.div_(p.sum(0))
