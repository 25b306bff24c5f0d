"""The run-level settings that gin binds: what to train (`experiment`), how (`train`), on which data
(`data`), with which sparsity layout (`sparsity`) and state preservation (`preservation`), and where and
how the run executes (`runtime`, the only one outside the run key).

Each is a frozen dataclass registered with gin under the short name shown; `train.epochs = 300` in a gin
file binds `TrainSettings.epochs`. Values are checked here, once, with one-line errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import gin

from harness.core.errors import ConfigError

SELECTION_RULES = ("explicit", "modulo", "cords")
PRECISIONS = ("auto", "fp32", "bf16")
PROBE_PRECISIONS = ("fp32", "bf16")
RECORD_MODES = ("eval", "train")
KL_WEIGHTINGS = ("uniform", "coreset")
SPARSITY_DISTRIBUTIONS = ("erk", "uniform")
WANDB_MODES = ("offline", "online", "disabled")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass(frozen=True)
class Experiment:
    """What is trained: registry names of the dataset, model and method, and the seed."""

    dataset: str
    model: str
    method: str
    seed: int = 0

    def __post_init__(self):
        _require(isinstance(self.seed, int) and self.seed >= 0, f"seed must be an integer >= 0, got {self.seed!r}")


@dataclass(frozen=True)
class DataSettings:
    """How the dataset is split and corrupted.

    `val_fraction` is held out of the training split, stratified and with a fixed seed so that every run
    sees the same split (CORDS holds out 10% the same way; GLISTER and the overfitting gap need it).
    `label_noise` moves exactly round(r*N) training labels to a different, uniformly drawn class, seeded by
    the run's seed. `train_limit`/`test_limit` keep a stratified subset (smoke-scale runs on big datasets).
    """

    label_noise: float = 0.0
    val_fraction: float = 0.1
    train_limit: int | None = None
    test_limit: int | None = None
    augment: bool = True

    def __post_init__(self):
        _require(0.0 <= self.label_noise < 1.0, f"label_noise must be in [0, 1), got {self.label_noise!r}")
        _require(0.0 <= self.val_fraction < 1.0, f"data.val_fraction must be in [0, 1), got {self.val_fraction!r}")
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            _require(value is None or (isinstance(value, int) and value > 0),
                     f"data.{name} must be a positive integer or None, got {value!r}")


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser, schedule and selection cadence (the paper's Appendix B defaults).

    Warm-up is K = ceil(epochs * coreset_fraction * warmup_kappa) full-data epochs (kappa = 1/2 gives the
    paper's ceil(T*alpha/2)). `selection_rule` says when selection happens after it (harness.training.schedule):
    `'explicit'` at epoch K+1 and then every `selection_interval` epochs; `'modulo'` is Algorithm 1 to the
    letter (epochs t > K with t mod R = 0, full data until the first one); `'cords'` is the warm start of the
    GradMatch reference code. The learning rate follows a per-epoch cosine over all epochs.

    `probe_precision`: the selection-time passes (the probe pass that selectors read, and state preservation's
    eval-mode recording pass when a selector reads no probe) run in float32 ('fp32') whatever precision the
    training forward uses, or under bfloat16 autocast ('bf16'), so that a ranking such as EL2N's does not
    silently depend on bf16 rounding.
    """

    epochs: int
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    selection_interval: int = 20
    warmup_kappa: float = 0.5
    selection_rule: str = "explicit"
    probe_precision: str = "fp32"
    eval_every: int = 1

    def __post_init__(self):
        _require(isinstance(self.epochs, int) and self.epochs >= 1,
                 f"epochs must be an integer >= 1, got {self.epochs!r}")
        _require(isinstance(self.batch_size, int) and self.batch_size >= 1,
                 f"train.batch_size must be an integer >= 1, got {self.batch_size!r}")
        _require(self.lr > 0, f"train.lr must be > 0, got {self.lr!r}")
        _require(0.0 <= self.momentum < 1.0, f"train.momentum must be in [0, 1), got {self.momentum!r}")
        _require(self.weight_decay >= 0, f"train.weight_decay must be >= 0, got {self.weight_decay!r}")
        _require(isinstance(self.selection_interval, int) and self.selection_interval >= 1,
                 f"train.selection_interval must be an integer >= 1, got {self.selection_interval!r}")
        _require(0.0 <= self.warmup_kappa <= 1.0, f"train.warmup_kappa must be in [0, 1], got {self.warmup_kappa!r}")
        _require(self.selection_rule in SELECTION_RULES,
                 f"train.selection_rule must be one of {', '.join(SELECTION_RULES)}, got {self.selection_rule!r}")
        _require(self.probe_precision in PROBE_PRECISIONS,
                 f"train.probe_precision must be one of {', '.join(PROBE_PRECISIONS)}, got {self.probe_precision!r}")
        _require(isinstance(self.eval_every, int) and self.eval_every >= 1,
                 f"train.eval_every must be an integer >= 1, got {self.eval_every!r}")


@dataclass(frozen=True)
class ModelSettings:
    """The classifier's width. `head_classes = None`: one output per class of the dataset. The paper's
    parameter counts imply torchvision's 1000-way head on CIFAR too (README, Fidelity); outputs beyond the
    dataset's classes never carry a label, so training pushes their probabilities towards zero."""

    head_classes: int | None = None

    def __post_init__(self):
        _require(self.head_classes is None or (isinstance(self.head_classes, int) and self.head_classes >= 2),
                 f"model.head_classes must be None or an integer >= 2, got {self.head_classes!r}")


@dataclass(frozen=True)
class PreservationSettings:
    """State preservation (Eq. 3): its weight lambda in CE + lambda * KL (the paper uses 0.1), how the
    targets are recorded, and how the KL is averaged over a batch.

    `record`: 'eval' records the logits in eval mode on the un-augmented images (the probe pass's); 'train'
    records them in train mode on the augmented views the next epoch trains on, so that at the recording
    weights the term is zero and what remains is drift. `weighting`: 'uniform' averages the per-sample KL
    over the batch (Eq. 3's plain sum); 'coreset' weights it by the coreset weights, as the cross-entropy is.
    """

    weight: float = 0.1
    record: str = "eval"
    weighting: str = "uniform"

    def __post_init__(self):
        _require(self.weight >= 0, f"preservation.weight must be >= 0, got {self.weight!r}")
        _require(self.record in RECORD_MODES,
                 f"preservation.record must be one of {', '.join(RECORD_MODES)}, got {self.record!r}")
        _require(self.weighting in KL_WEIGHTINGS,
                 f"preservation.weighting must be one of {', '.join(KL_WEIGHTINGS)}, got {self.weighting!r}")


@dataclass(frozen=True)
class SparsitySettings:
    """How a prune rate becomes per-layer sparsities: the distribution over the pruned layers, and the FC
    layer's fixed sparsity under the `backbone` scope (SWaST-cut keeps it at 0.9, outside the budget)."""

    distribution: str = "erk"
    fc_rate: float = 0.9

    def __post_init__(self):
        _require(self.distribution in SPARSITY_DISTRIBUTIONS,
                 f"sparsity.distribution must be one of {', '.join(SPARSITY_DISTRIBUTIONS)}, got {self.distribution!r}")
        _require(0.0 <= self.fc_rate < 1.0, f"sparsity.fc_rate must be in [0, 1), got {self.fc_rate!r}")


@dataclass(frozen=True)
class Runtime:
    """Where and how a run executes. Not part of the run key: these do not change what is computed.

    `device`: 'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'. `cache_dir`: decoded-dataset cache
    (None: $SWAST_CACHE, else ~/.cache/swast-bench). `loader_workers`: processes that decode data read
    from disk batch by batch (ImageNet). `wandb_mode`: 'offline' (default; `wandb sync` later),
    'online' or 'disabled'; the WANDB_MODE environment variable, when set, wins. `precision` ('auto', 'fp32',
    'bf16'), `channels_last` and `compile` ('auto', True, False) are the GPU fast path (harness.training.fastpath):
    'auto' turns each on on a CUDA GPU and off on the CPU.
    """

    device: str = "auto"
    data_root: str = "data"
    download: bool = True
    cache_dir: str | None = None
    threads: int | None = None
    eval_batch_size: int = 1024
    precision: str = "auto"
    channels_last: bool | Literal["auto"] = "auto"
    compile: bool | Literal["auto"] = "auto"
    loader_workers: int = 8
    progress: bool = True
    wandb_mode: str = "offline"
    wandb_project: str = "swast-bench"
    wandb_entity: str | None = None

    def __post_init__(self):
        _require(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
                 f"runtime.device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        _require(self.wandb_mode in WANDB_MODES,
                 f"runtime.wandb_mode must be one of {', '.join(WANDB_MODES)}, got {self.wandb_mode!r}")
        _require(isinstance(self.eval_batch_size, int) and self.eval_batch_size >= 1,
                 f"runtime.eval_batch_size must be an integer >= 1, got {self.eval_batch_size!r}")
        _require(self.threads is None or self.threads >= 1,
                 f"runtime.threads must be an integer >= 1 or None, got {self.threads!r}")
        _require(self.loader_workers >= 0, f"runtime.loader_workers must be >= 0, got {self.loader_workers!r}")
        _require(self.precision in PRECISIONS,
                 f"runtime.precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for name in ("channels_last", "compile"):
            value = getattr(self, name)
            _require(value == "auto" or isinstance(value, bool),
                     f"runtime.{name} must be 'auto', True or False, got {value!r}")


# gin name -> settings class. `runtime` stays out of the run key (see harness.config.resolution).
SETTINGS = {
    "experiment": Experiment,
    "data": DataSettings,
    "model": ModelSettings,
    "train": TrainSettings,
    "preservation": PreservationSettings,
    "sparsity": SparsitySettings,
    "runtime": Runtime,
}
CONFIGURABLES = {name: gin.external_configurable(cls, name=name) for name, cls in SETTINGS.items()}
