"""State preservation (the paper's Eq. 3): after each selection, record the model's logits z_i of the
selected samples (by default in eval mode without augmentation; `preservation.record`); until the next
selection, train with CE + lambda * the batch's mean of KL(softmax(z_i) || softmax(f(x~_i))), a plain mean
or weighted by the coreset weights as the cross-entropy is (`preservation.weighting`).

Modes: `none`; `complete` (every selected sample, Eq. 3); `selective` (only samples the recording model
classified correctly). The paper names the selective variant in its ablation without defining it; this
reading is ours. A sample left out contributes zero to the batch mean, so both modes share one scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class StatePreservation:
    def __init__(self, mode: str, weight: float, weighting: str = "uniform"):
        self.mode = mode
        self.weight = weight
        self.weighting = weighting
        self.targets: torch.Tensor | None = None  # log-softmax of the recorded logits, [k, K], coreset order
        self.keep: torch.Tensor | None = None  # float [k] (selective), else None

    @property
    def active(self) -> bool:
        """True once something is recorded: the KL term applies from the first selection on."""
        return self.targets is not None

    def record(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        if self.mode == "none":
            return
        self.targets = F.log_softmax(logits.detach().float(), dim=1)
        self.keep = (logits.argmax(1) == labels).float() if self.mode == "selective" else None

    def kl(self, logits: torch.Tensor, positions: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The batch's KL(recorded || current): its mean, or its mean weighted by the samples' coreset
        `weights`; `positions` index the current coreset."""
        target = self.targets[positions]
        per_sample = F.kl_div(F.log_softmax(logits.float(), dim=1), target, log_target=True, reduction="none").sum(1)
        if self.keep is not None:
            per_sample = per_sample * self.keep[positions]
        if self.weighting == "coreset":
            return (per_sample * weights).sum() / weights.sum()
        return per_sample.mean()

    def state_dict(self) -> dict:
        return {"targets": self.targets, "keep": self.keep}

    def load_state_dict(self, state: dict) -> None:
        self.targets, self.keep = state["targets"], state["keep"]
