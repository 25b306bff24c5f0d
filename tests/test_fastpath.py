"""The GPU fast path (bf16 autocast, channels-last, torch.compile), checked on the CPU: with every switch on, a
step computes what it computes with every switch off, within the precision's tolerance, whole runs reach the
same accuracy, masks hold their exact zeros, and a second run of the same architecture compiles nothing.

Compilation here uses the 'aot_eager' backend: Dynamo's capture and AOTAutograd's forward/backward graphs, as
on a GPU, run with eager kernels instead of generated code (compiling C++ for the CPU takes minutes)."""

import pytest
import torch
import torch.nn.functional as F
from conftest import parse
from torch._dynamo.utils import counters

from harness.core.errors import ConfigError
from harness.core.sections import Runtime
from harness.execution.build import build
from harness.execution.run_folder import execute
from harness.training import fastpath

ON = ("runtime.precision = 'bf16'", "runtime.channels_last = True", "runtime.compile = True")
OFF = ("runtime.precision = 'fp32'", "runtime.channels_last = False", "runtime.compile = False")
SHORT = ("epochs = 6", "train.selection_interval = 2", "runtime.threads = 1")


@pytest.fixture(autouse=True)
def _aot_eager(monkeypatch):
    monkeypatch.setattr(fastpath, "COMPILE_BACKEND", "aot_eager")


def built(*bindings: str):
    return build(parse("gin/digits/swast_cut.gin", bindings=(*SHORT, *bindings)))


def one_step(training):
    """Logits and weight gradients of the training forward on the first 64 training images (un-augmented)."""
    x, y = training.data.train_x[:64], training.data.train_y[:64]
    training.model.train()
    with training.fastpath.autocast():
        logits = training.forward(training.normalize(x)).float()
    training.optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(logits, y).backward()
    grads = {n: p.grad.detach().clone() for n, p in training.model.named_parameters() if p.dim() > 1}
    return logits.detach(), grads


def test_auto_is_plain_float32_eager_on_the_cpu_and_on_a_gpu_compiles_only_long_runs():
    resolve = fastpath.FastPath.resolve
    long = fastpath.COMPILE_MIN_STEPS
    assert resolve(Runtime(), torch.device("cpu"), long).record() == {
        "precision": "fp32", "channels_last": False, "compile": False}
    fp32 = Runtime(precision="fp32")  # 'auto' asks the GPU whether it has bfloat16
    assert resolve(fp32, torch.device("cuda"), long).record() == {
        "precision": "fp32", "channels_last": True, "compile": True}
    assert not resolve(fp32, torch.device("cuda"), long - 1).compile
    assert not resolve(fp32, torch.device("cuda"), long, traceable=False).compile  # ProbMask's sampled masks
    assert resolve(Runtime(compile=True), torch.device("cpu"), 1).compile
    if torch.cuda.is_available():
        assert resolve(Runtime(), torch.device("cuda"), long).precision == (
            "bf16" if torch.cuda.is_bf16_supported() else "fp32")


@pytest.mark.parametrize("binding, message", [
    ("runtime.precision = 'fp16'", "runtime.precision must be one of auto, fp32, bf16, got 'fp16'"),
    ("runtime.compile = 'yes'", "runtime.compile must be True or False or 'auto', got 'yes'"),
    ("runtime.channels_last = 1", "runtime.channels_last must be True or False or 'auto', got 1"),
])
def test_bad_switches_are_one_line_errors(binding, message):
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(") + "$"):
        parse("gin/digits/swast_cut.gin", bindings=(binding,))


def test_compiled_float32_step_equals_the_eager_step():
    eager_logits, eager_grads = one_step(built(*OFF))
    compiled = built(*OFF[:2], "runtime.compile = True")
    logits, grads = one_step(compiled)
    assert compiled.forward is not compiled.model  # the compiled view, sharing the model's parameters
    torch.testing.assert_close(logits, eager_logits, rtol=1e-4, atol=1e-4)
    for name, g in eager_grads.items():
        torch.testing.assert_close(grads[name], g, rtol=1e-3, atol=1e-5, msg=name)


def test_every_switch_on_matches_the_plain_step_within_bf16_tolerance():
    plain_logits, plain_grads = one_step(built(*OFF))
    fast = built(*ON)
    logits, grads = one_step(fast)
    conv = fast.model.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and conv.dtype == torch.float32
    assert logits.dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads.values())
    assert (logits - plain_logits).abs().max() < 0.05 * plain_logits.abs().max()
    assert (logits.argmax(1) == plain_logits.argmax(1)).float().mean() > 0.9
    # bf16 rounds every activation and gradient to 8 bits of mantissa: at initialisation the weight
    # gradients of this small network point within about 16 degrees of the float32 ones (cosine 0.93 to 0.97)
    cosines = {n: float(F.cosine_similarity(grads[n].flatten(), g.flatten(), dim=0)) for n, g in plain_grads.items()}
    assert min(cosines.values()) > 0.9, cosines


def test_channels_last_weights_keep_each_layers_exact_zeros_through_rigl_updates():
    training = built(*ON)
    pruner = training.pruner
    training.run_epoch()
    training.run_epoch()  # a selection, RigL updates every 5 steps at smoke scale
    assert training.step > 10 and pruner.version > len(pruner.params)  # masks were redrawn
    for name, p in pruner.params.items():
        assert p.is_contiguous(memory_format=torch.channels_last) or p.dim() < 4
        assert int((p == 0).sum()) >= pruner.zeros[name]
        assert not bool(p[~pruner.masks[name]].any()), name
        assert int((~pruner.masks[name]).sum()) == pruner.zeros[name]


@pytest.mark.slow
def test_a_run_with_every_switch_on_reaches_the_plain_runs_accuracy(tmp_path):
    plain = execute(parse("gin/digits/swast_cut.gin", bindings=("runtime.threads = 1", *OFF)), tmp_path / "a")
    fast = execute(parse("gin/digits/swast_cut.gin", bindings=("runtime.threads = 1", *ON)), tmp_path / "b")
    assert fast["status"] == plain["status"] == "ok"
    assert {k: fast["env"][k] for k in ("precision", "channels_last", "compile")} == {
        "precision": "bf16", "channels_last": True, "compile": True}
    assert fast["metrics"]["test_accuracy"] > 80 and plain["metrics"]["test_accuracy"] > 80
    assert abs(fast["metrics"]["test_accuracy"] - plain["metrics"]["test_accuracy"]) < 6
    assert fast["metrics"]["density"] == plain["metrics"]["density"]
    losses = [(f["train_loss"], p["train_loss"]) for f, p in zip(fast["history"], plain["history"], strict=True)]
    assert all(abs(f - p) < 0.1 + 0.25 * p for f, p in losses)


def test_the_second_run_of_an_architecture_in_a_process_compiles_nothing(tmp_path):
    torch._dynamo.reset()
    before = counters["stats"]["unique_graphs"]
    cfg = parse("gin/digits/coreset_only.gin", bindings=(*SHORT, "runtime.compile = True"))
    execute(cfg, tmp_path / "first")
    graphs = counters["stats"]["unique_graphs"]
    assert graphs > before  # the first run compiled its training forward
    other = parse("gin/digits/coreset_only.gin", bindings=(*SHORT, "runtime.compile = True", "seed = 1"))
    result = execute(other, tmp_path / "second")
    assert result["status"] == "ok" and result["env"]["compile"]
    assert counters["stats"]["unique_graphs"] == graphs
