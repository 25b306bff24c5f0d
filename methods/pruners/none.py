"""`none`: no pruning (dense and coreset-only)."""

from harness.core.registry import register
from harness.training.pruning import Pruner


@register("pruner", "none")
class NoPruner(Pruner):
    def after_step(self, step: int) -> None:
        pass  # nothing is masked
