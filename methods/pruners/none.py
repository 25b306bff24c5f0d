"""`none`: no pruning (dense and coreset-only)."""

from harness.masks import Pruner
from harness.registry import register


@register("pruner", "none")
class NoPruner(Pruner):
    def after_step(self, step: int) -> None:
        pass  # nothing is masked
