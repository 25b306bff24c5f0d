"""`glister`: the subset that most raises the validation log-likelihood after a gradient step on it,
grown greedily (GLISTER, Killamsetty et al. 2021, its stochastic-greedy variant as CORDS runs it).

Why this form: with the classifier as the only layer that moves, one SGD step of size eta on a set S
changes the validation logits in closed form, z_v -= eta * sum_{i in S} e_i (1 + h_i · h_v), so the
lookahead costs no forward pass. Each greedy step draws (N / budget) · ln(1/epsilon) candidates from the
samples not yet chosen (stochastic greedy; drawn with replacement, repeats dropped), scores each by
g_i · ĝ_val, the gradient inner product with the summed validation gradient at the lookahead logits (the
first-order gain in validation log-likelihood), keeps the best, and moves the validation logits by its
step. eta is the run's initial learning rate; weights are 1. Needs the validation split.

Both the gain and the move need the similarities h_i · h_v of training and validation samples. Where their
N x V table fits in 4 GiB (`CROSS_BYTES`; a 50,000-sample probe with a 5,000-sample validation split needs
1.0 GB, Tiny ImageNet's 100,000 with 10,000 4.0 GB) they are computed once, in one product at the speed of
the cores' arithmetic, and every step reads rows of it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

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


CROSS_BYTES = 4 << 30  # the training x validation similarity table is built when it fits in this (4 GiB)


def greedy(probe: Probe, budget: int, eta: float, epsilon: float, rng: torch.Generator) -> torch.Tensor:
    """Positions (into the probe) of the `budget` samples chosen by stochastic greedy, in order. The
    validation logits are kept transposed, [K, V], so that the softmax reduces across K contiguous rows.

    A candidate's gain factors as sum_v (e_i · e_v)(hb_i · hb_v), and the chosen sample's logit move is
    hb_val hb_j. When the N x V similarities hb_i · hb_v fit in `CROSS_BYTES` (4 bytes each), they are
    computed once, in one product that uses every core, and a step only reads the candidates' rows of it:
    the gains cost C x K x V (C, about 46, candidates) and the move nothing. Otherwise a step makes two
    passes over the validation embeddings: the summed validation gradient [K, d+1] (or, with more classes
    than candidates, the candidates' similarities) and the move. Either way the rest of a step is too small
    to split across threads (waking a second thread for each of the softmax's operations cost ten times the
    operation, on two cores), so only the big products use them."""
    n = len(probe)
    e, hb = error_vectors(probe.logits, probe.labels), with_bias(probe.embeddings)
    z_val = probe.val.logits.float().T.contiguous()
    hb_val = with_bias(probe.val.embeddings)
    onehot = torch.zeros_like(z_val).scatter_(0, probe.val.labels[None, :], 1.0)
    draws = min(n, math.ceil(n / budget * math.log(1.0 / epsilon)))
    threads = torch.get_num_threads()
    cross = hb @ hb_val.T if n * len(hb_val) * 4 <= CROSS_BYTES else None  # [N, V]
    pool = torch.arange(n)  # the not-yet-chosen samples are pool[:left]
    chosen = []
    with torch_threads(1), denormals_flushed():
        for left in range(n, n - budget, -1):
            at = torch.unique(torch.randint(left, (draws,), generator=rng)) if draws < left else torch.arange(left)
            cand = pool[at].to(e.device)
            e_cand = e.index_select(0, cand)
            e_val = softmax_columns(z_val).sub_(onehot)  # [K, V]
            if cross is not None:
                gains = (e_cand @ e_val).mul_(cross.index_select(0, cand)).sum(1)
            elif e.shape[1] <= len(cand):  # the summed validation gradient [K, d+1], then g_i · ĝ_val
                with torch_threads(threads):
                    g_val = e_val @ hb_val
                gains = ((e_cand @ g_val) * hb.index_select(0, cand)).sum(1)
            else:
                with torch_threads(threads):
                    gains = ((e_cand @ e_val) * (hb.index_select(0, cand) @ hb_val.T)).sum(1)
            best = int(gains.argmax())
            j, where = int(cand[best]), int(at[best])
            chosen.append(j)
            if cross is not None:
                move = cross[j]
            else:
                with torch_threads(threads):
                    move = torch.mv(hb_val, hb[j])
            z_val.addr_(e[j], move, alpha=-eta)
            pool[where], pool[left - 1] = pool[left - 1].item(), j  # j leaves the live part
    return torch.tensor(chosen, dtype=torch.long, device=probe.indices.device)


@contextlib.contextmanager
def denormals_flushed() -> Iterator[None]:
    """Results below float32's smallest normal number become 0 on this thread, inside. A confident softmax
    has probabilities near 1e-30, and products of two of them underflow: on the CPU each underflow is slow
    (the gains of one 200-class step took 78 ms instead of 1.2 ms); the values lost are below 1e-38."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


def softmax_columns(z: torch.Tensor) -> torch.Tensor:
    """softmax(z) along dim 0, a new tensor (z [K, V]: the reductions run across K contiguous rows)."""
    p = (z - torch.amax(z, 0)).exp_()
    return p.div_(p.sum(0))
