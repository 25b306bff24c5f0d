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
    """EL2N score ‖softmax(z) − onehot(y)‖₂ of every sample, float32 [N]."""
    return error_vectors(probe.logits, probe.labels).norm(dim=1)


def with_bias(h: torch.Tensor) -> torch.Tensor:
    """[1, h]: the classifier's input with the bias's constant input prepended, float32 [N, d+1]."""
    return torch.cat([torch.ones(len(h), 1, device=h.device, dtype=torch.float32), h.float()], 1)


def gradient_gram(e: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """<g_i, g_j> for the full last-layer gradients of a group of samples, float32 [n, n]."""
    h = h.float()
    return (e @ e.T) * (h @ h.T + 1.0)


def gradient_distances(e: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Euclidean distances ‖g_i − g_j‖ between the full last-layer gradients of a group, float32 [n, n]."""
    gram = gradient_gram(e, h)
    sq = gram.diagonal()
    return (sq[:, None] + sq[None, :] - 2.0 * gram).clamp_(min=0.0).sqrt_()
