"""Last-layer gradient features from a probe: the one place the gradient-based selectors get them from.

For cross-entropy on logits z = W h + b, the gradient of sample i's loss with respect to the classifier
(b, W) is g_i = [e_i, e_i ⊗ h_i] with the error vector e_i = softmax(z_i) − onehot(y_i). Nothing here
materialises the K·(d+1)-dimensional g_i for every sample: inner products factor as
<g_i, g_j> = (e_i · e_j)(1 + h_i · h_j), and a class's "per-gradient" features (its bias entry and its
weight row, what GradMatch uses) are e_ic · [1, h_i].
"""

from __future__ import annotations

import torch

from harness.training.selection import Probe


def error_vectors(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """e = softmax(z) − onehot(y), float32 [N, K]: the loss gradient with respect to the logits."""
    e = logits.float().softmax(1)
    e[torch.arange(len(labels), device=labels.device), labels] -= 1.0
    return e


def el2n(probe: Probe) -> torch.Tensor:
    """EL2N score ‖softmax(z) − onehot(y)‖₂ of every sample, float32 [N], 64k samples at a time (the error
    vectors of all samples would be another N x K floats: 5 GB at ImageNet's shape)."""
    rows = range(0, len(probe.labels), 1 << 16)
    return torch.cat([error_vectors(probe.logits[at:at + (1 << 16)], probe.labels[at:at + (1 << 16)]).norm(dim=1)
                      for at in rows]) if len(rows) else torch.zeros(0, device=probe.labels.device)


def with_bias(h: torch.Tensor) -> torch.Tensor:
    """[1, h]: the classifier's input with the bias's constant input prepended, float32 [N, d+1]."""
    return torch.cat([torch.ones(len(h), 1, device=h.device, dtype=torch.float32), h.float()], 1)


CHUNK = 1024  # rows of the distance matrix computed together (their temporaries stay small)


def gradient_distances(e: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Euclidean distances ‖g_i − g_j‖ between the full last-layer gradients of a group, float32 [n, n]:
    G_ii + G_jj − 2 G_ij from the Gram matrix G (so the diagonal is exactly 0), in place, a block of rows at
    a time. G is symmetric: a block of rows is computed from the diagonal on and mirrored into the columns
    below it (about 60% of the multiply-adds at n = 5,000), so the n x n result and one block are the only
    large allocations."""
    h = h.float()
    n = len(h)
    out = torch.empty(n, n, device=h.device)
    for at in range(0, n, CHUNK):
        rows, below = slice(at, at + CHUNK), slice(at + CHUNK, n)
        block = torch.mm(h[rows], h[at:].T).add_(1.0).mul_(e[rows] @ e[at:].T)
        out[rows, at:] = block
        out[below, rows] = block[:, CHUNK:].T
    sq = out.diagonal().clone()
    for at in range(0, n, CHUNK):
        out[at:at + CHUNK].mul_(-2.0).add_(sq[at:at + CHUNK, None]).add_(sq).clamp_(min=0.0).sqrt_()
    return out
