"""The paper's five methods, each a composition of a selector, a pruner with its scope, and a state
preservation mode. Their arguments are bound from the experiment's macros by `gin/methods/<name>.gin`."""

from harness.core.recipe import Method
from harness.core.registry import register


@register("method", "dense")
def dense() -> Method:
    """Standard training: all data, all weights."""
    return Method(name="dense")


@register("method", "pruning_only")
def pruning_only(pruner: str, prune_rate: float, scope: str = "backbone", state_preservation: str = "none") -> Method:
    """Online pruning on the full data (Table 3's top row, Fig. 6's baseline), pruned like SWaST-cut."""
    return Method(name="pruning_only", pruner=pruner, prune_rate=prune_rate, scope=scope,
                  state_preservation=state_preservation)


@register("method", "coreset_only")
def coreset_only(selector: str, coreset_fraction: float, state_preservation: str = "none") -> Method:
    """Adaptive coreset selection every R epochs, no pruning (Table 1's baseline)."""
    return Method(name="coreset_only", selector=selector, coreset_fraction=coreset_fraction,
                  state_preservation=state_preservation)


@register("method", "swast_trim")
def swast_trim(selector: str, coreset_fraction: float, pruner: str, prune_rate: float,
               state_preservation: str = "none") -> Method:
    """SWaST-trim: coreset selection + pruning of the classifier only, at the prune rate."""
    return Method(name="swast_trim", selector=selector, coreset_fraction=coreset_fraction, pruner=pruner,
                  prune_rate=prune_rate, scope="fc", state_preservation=state_preservation)


@register("method", "swast_cut")
def swast_cut(selector: str, coreset_fraction: float, pruner: str, prune_rate: float,
              state_preservation: str = "complete") -> Method:
    """SWaST-cut: coreset selection + pruning of the whole network (backbone at the prune rate, classifier
    at `sparsity.fc_rate`), with state preservation against the double-loss problem."""
    return Method(name="swast_cut", selector=selector, coreset_fraction=coreset_fraction, pruner=pruner,
                  prune_rate=prune_rate, scope="backbone", state_preservation=state_preservation)
