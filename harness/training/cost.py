"""A run's training FLOPs before it runs: what its result.json will record as `train_flops`, from its
configuration alone, with nothing trained and no data loaded where the dataset's size is published.

`harness.training.flops` counts a run's FLOPs step by step as it trains; this integrates the same counts
ahead of time. The schedule (`harness.training.schedule.plan`) gives each epoch's training set (the full
data, the coreset, or nothing) and its batches; the pruner, planned from the layers' sizes without a model
(`Pruner.plan`), gives the densities each step trains with (magnitude's ramp, ProbMask dense until its mask
is hard) and the steps that take the dense gradient (RigL's updates); each selection round adds the probe
pass over the training split (and the validation split, for selectors that read it) and state
preservation's recording pass, at the masks evaluated then. Layer FLOPs come from one dry forward of the
model (`layer_flops(dry=True)`: shapes only, weights never initialised), once per model, width and input shape.

The count is exact wherever the masks' counts follow the schedule (no pruning, RigL, magnitude). ProbMask
learns how each group's budget splits between its layers, so its probe and recording passes are priced at
the layout's split (the group totals are exact).
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import importlib.metadata
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from harness.config import RunConfig
from harness.core import files, registry
from harness.core.threads import torch_threads
from harness.data import loading
from harness.training.flops import layer_flops, sparse_flops
from harness.training.pruning import Pruner
from harness.training.schedule import batch_bounds, plan
from harness.training.selection import coreset_budget
from harness.training.sparsity import Layout, budget_groups, layer_targets

# dataset -> (images in its source's training split, classes, image shape), as published; `imagenet`'s image
# side is its `size` parameter. Other datasets are read once for their sizes.
PUBLISHED = {
    "cifar10": (50_000, 10, (3, 32, 32)),
    "cifar100": (50_000, 100, (3, 32, 32)),
    "tinyimagenet": (100_000, 200, (3, 64, 64)),
    "imagenet": (1_281_167, 1000, (3, None, None)),
}
SEED_LINE = re.compile(r"^experiment\.seed = .*\n", re.M)


@dataclass(frozen=True)
class DataShape:
    """What a run's FLOPs depend on in its data: the training and validation splits' sizes after the run's
    split and limits, the image shape (C, H, W), and the number of classes."""

    num_train: int
    num_val: int
    image: tuple[int, int, int]
    classes: int


@dataclass(frozen=True)
class Cost:
    """A run's training FLOPs (multiply-accumulates, as `train_flops` counts them), by where they are spent."""

    training: float  # the training steps: forward and backward, RigL's dense gradients included
    probe: float  # the probe passes of the selection rounds
    recording: float  # state preservation's recording passes
    steps: int  # optimizer steps
    dense_reference: float  # dense training on the full training split for the same epochs (relative FLOPs)

    @property
    def total(self) -> float:
        return self.training + self.probe + self.recording


_COSTS: dict[str, Cost] = {}


def run_flops(cfg: RunConfig) -> Cost:
    """The training FLOPs `cfg` would record (see the module docstring); the same for every seed, so seeds
    of one configuration are computed once."""
    key = SEED_LINE.sub("", cfg.text) + cfg.runtime.data_root + str(cfg.runtime.cache_dir)
    if key not in _COSTS:
        _COSTS[key] = _compute(cfg)
    return _COSTS[key]


def _compute(cfg: RunConfig) -> Cost:
    method, data = cfg.method, data_shape(cfg)
    layout, dense = model_layers(cfg.experiment.model, cfg.entry_params("model", cfg.experiment.model),
                                 cfg.model.head_classes or data.classes, data.image, cfg.runtime.cache_dir)
    budget = coreset_budget(method.coreset_fraction, data.num_train)
    schedule = plan(cfg.train, method.coreset_fraction, method.selects, data.num_train, budget)
    targets = layer_targets(layout, method.prune_rate, method.scope, cfg.sparsity)
    pruner: Pruner = _build(cfg, "pruner", method.pruner)
    pruner.plan(targets, budget_groups(targets, layout, method.scope), layout.sizes, schedule.epoch_steps)
    selector = _build(cfg, "selector", method.selector)

    changes = pruner.density_changes()
    train_f = [sparse_flops(dense, pruner.planned_train_density(d)) for d in (0, *changes)]  # per segment
    f_dense = float(sum(dense.values()))
    starts = pruner.clock.starts  # optimizer steps before each epoch
    samples = [0, *(budget if schedule.on_coreset(t) else data.num_train for t in range(1, schedule.epochs + 1))]
    training = 0.0
    for t in range(1, schedule.epochs + 1):
        first, last = starts[t - 1], starts[t]
        if first == last:
            continue
        bounds = _bounds(samples[t], cfg.train.batch_size)
        inside = changes[bisect.bisect_right(changes, first):bisect.bisect_left(changes, last)]
        for a, b in zip((first, *inside), (*inside, last), strict=True):
            f = train_f[bisect.bisect_right(changes, a)]
            training += 3.0 * f * (bounds[b - first] - bounds[a - first])
    for step in pruner.dense_gradient_steps():  # the backward's weight gradient at f_D instead of f_S
        t = bisect.bisect_right(starts, step)
        bounds = _bounds(samples[t], cfg.train.batch_size)
        offset = step - starts[t - 1]
        f = train_f[bisect.bisect_right(changes, step)]
        training += (f_dense - f) * (bounds[offset + 1] - bounds[offset])

    probe = recording = 0.0
    preserves = method.state_preservation != "none"
    for t in sorted({*schedule.selection_epochs, *([schedule.random_epoch] * (schedule.random_epoch is not None))}):
        f = sparse_flops(dense, pruner.planned_density(starts[t - 1]))
        probed = t != schedule.random_epoch and selector.needs_probe
        if probed:
            probe += f * (data.num_train + (data.num_val if selector.needs_val else 0))
        if preserves and (cfg.preservation.record == "train" or not probed):
            recording += f * budget
    return Cost(training, probe, recording, schedule.total_steps, 3.0 * f_dense * data.num_train * schedule.epochs)


@functools.cache
def _bounds(n: int, batch_size: int) -> list[int]:
    return batch_bounds(n, batch_size)


def _build(cfg: RunConfig, kind: str, name: str):
    """A selector or pruner from its resolved parameters (gin's global state is not read)."""
    return registry.entry(kind, name).target(**cfg.entry_params(kind, name))


_MODELS: dict[str, tuple[Layout, dict[str, int]]] = {}
LAYER_CACHE = "layer-flops.json"  # in the cache folder (harness.data.loading.resolve_cache_dir)


def model_layers(name: str, params: dict, num_classes: int, image: tuple[int, int, int],
                 cache_dir: str | None = None) -> tuple[Layout, dict[str, int]]:
    """Model `name`'s sparsity `Layout` and its layers' dense FLOPs per sample of `image`: from a dry forward
    of the model built with `params`, its weights allocated but never initialised; once per model, parameters,
    classes and input shape, and kept in the cache folder for later processes under a key that covers the
    model's source file, the FLOPs count's and the versions of torch and torchvision (building a torchvision
    model imports torchvision: seconds)."""
    key = repr((name, sorted(params.items()), num_classes, image))
    if key not in _MODELS:
        path = loading.resolve_cache_dir(cache_dir) / LAYER_CACHE
        stored = files.read_json(path)
        stored = stored if isinstance(stored, dict) else {}
        found = _stored_layers(stored.get(_disk_key(name, key)))
        if found is not None:
            _MODELS[key] = found
        else:
            with uninitialised(), torch_threads(1):  # one thread: ops this small only wait for a second one
                model = registry.entry("model", name).target(**params, num_classes=num_classes, in_channels=image[0])
                layout, dense = Layout.of(model), layer_flops(model, image, dry=True)
            _MODELS[key] = layout, dense
            stored[_disk_key(name, key)] = {"model": name, "classifier": layout.classifier,
                           "layers": [[n, list(shape), dense[n]] for n, shape in layout.shapes.items()]}
            with contextlib.suppress(OSError):  # an unwritable cache only costs the forward next time
                files.write_json(path, stored)
    return _MODELS[key]


def _stored_layers(entry) -> tuple[Layout, dict[str, int]] | None:
    """A cache entry as (layout, dense FLOPs), or None when it is not one (an older or damaged file)."""
    try:
        layers = entry["layers"]
        return (Layout({n: tuple(shape) for n, shape, _ in layers}, entry["classifier"]),
                {n: int(flops) for n, _, flops in layers})
    except (TypeError, KeyError, ValueError):
        return None


def _disk_key(name: str, key: str) -> str:
    """The cache file's key of model `name` built as `key` says: also its code and the libraries'."""
    return hashlib.sha256(repr((key, _code(name))).encode()).hexdigest()


@functools.cache
def _code(name: str) -> tuple[str, ...]:
    """A digest of model `name`'s source file and the FLOPs count's, and the versions of torch and torchvision."""
    sources = [inspect.getsourcefile(registry.entry("model", name).target), inspect.getsourcefile(layer_flops)]
    digest = hashlib.sha256(b"".join(Path(f).read_bytes() for f in sources)).hexdigest()
    return digest, *(importlib.metadata.version(package) for package in ("torch", "torchvision"))


RANDOM_INITS = ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
                "kaiming_normal_", "orthogonal_", "sparse_")


@contextlib.contextmanager
def uninitialised():
    """`torch.nn.init`'s random initialisers as no-ops: the weights of a model built inside are allocated and
    never written (seconds saved for a ResNet-101; a dry forward never reads them). Constants (BatchNorm's
    ones and zeros) are still written: the dry forward computes with them."""
    saved = {name: getattr(nn.init, name) for name in RANDOM_INITS if hasattr(nn.init, name)}
    try:
        for name in saved:
            setattr(nn.init, name, _unchanged)
        yield
    finally:
        for name, function in saved.items():
            setattr(nn.init, name, function)


def _unchanged(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    return tensor


def data_shape(cfg: RunConfig) -> DataShape:
    """The run's splits after its validation split and limits (as `harness.data.loading.load` makes them)."""
    name, settings = cfg.experiment.dataset, cfg.data
    available, classes, image = source_shape(name, cfg.entry_params("dataset", name), cfg.runtime.data_root,
                                             cfg.runtime.cache_dir)
    val = loading.round_half_up(settings.val_fraction * available) if settings.val_fraction > 0 else 0
    train = available - val
    if settings.train_limit is not None:
        train = min(train, settings.train_limit)
    if settings.test_limit is not None:
        val = min(val, settings.test_limit)
    return DataShape(train, val, image, classes)


_SOURCES: dict[str, tuple[int, int, tuple[int, int, int]]] = {}


def source_shape(name: str, params: dict, root: str, cache_dir: str | None) -> tuple[int, int, tuple[int, int, int]]:
    """(training images, classes, image shape) of dataset `name`'s source: published, or read once."""
    if name in PUBLISHED:
        images, classes, (c, h, w) = PUBLISHED[name]
        return images, classes, (c, h or params["size"], w or params["size"])
    key = repr((name, sorted(params.items()), root, cache_dir))
    if key not in _SOURCES:
        entry = registry.entry("dataset", name)
        offered = {"root": root, "download": False, "cache_dir": loading.resolve_cache_dir(cache_dir), "workers": 0}
        raw = entry.target(**params, **{k: v for k, v in offered.items() if k in entry.parameters()})
        _SOURCES[key] = len(raw.train_y), len(raw.classes), tuple(raw.train_x.shape[1:])
    return _SOURCES[key]
