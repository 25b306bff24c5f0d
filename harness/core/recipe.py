"""A method: which selector picks the training samples, which pruner removes weights and where, and
whether state preservation constrains training. The paper's five methods (dense, pruning-only,
coreset-only, SWaST-trim, SWaST-cut) are registered compositions of this in `methods/`.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.errors import ConfigError

# Where a pruner removes weights. `fc`: only the classifier, at the prune rate (SWaST-trim). `backbone`:
# every other Conv/Linear at the prune rate by the sparsity distribution, the classifier fixed at
# `sparsity.fc_rate` (SWaST-cut). `all`: every Conv/Linear by the distribution (plain RigL).
SCOPES = ("none", "fc", "backbone", "all")
PRESERVATION_MODES = ("none", "complete", "selective")


@dataclass(frozen=True)
class Method:
    name: str
    selector: str = "full"
    coreset_fraction: float = 1.0
    pruner: str = "none"
    prune_rate: float = 0.0
    scope: str = "none"
    state_preservation: str = "none"

    def __post_init__(self):
        if not 0.0 < self.coreset_fraction <= 1.0:
            raise ConfigError(f"coreset_fraction must be in (0, 1], got {self.coreset_fraction!r}")
        if not 0.0 <= self.prune_rate < 1.0:
            raise ConfigError(f"prune_rate must be in [0, 1), got {self.prune_rate!r}")
        if self.scope not in SCOPES:
            raise ConfigError(f"pruning scope must be one of {', '.join(SCOPES)}, got {self.scope!r}")
        if self.state_preservation not in PRESERVATION_MODES:
            raise ConfigError(
                f"state_preservation must be one of {', '.join(PRESERVATION_MODES)}, got {self.state_preservation!r}"
            )
        if (self.pruner == "none") != (self.scope == "none"):
            raise ConfigError(
                f"method {self.name!r} prunes with scope {self.scope!r} but pruner is {self.pruner!r}: "
                "a pruning method needs a pruner other than 'none', and a non-pruning method needs 'none'"
            )

    @property
    def prunes(self) -> bool:
        return self.scope != "none"

    @property
    def selects(self) -> bool:
        """Whether there are selection rounds at all: a coreset, or state to record on the full data."""
        return self.coreset_fraction < 1.0 or self.selector != "full" or self.state_preservation != "none"
