"""Bad input: one line saying what is wrong and what is allowed, a non-zero exit, no traceback, no result."""

import pytest
from conftest import run_cli

from harness.run import main

CUT = "gin/digits/swast_cut.gin"


@pytest.mark.parametrize(
    "args, message",
    [
        ([CUT, "--gin_param", "selector = 'nope'"], "unknown selector 'nope': not registered (registered: "),
        ([CUT, "--gin_param", "pruner = 'nope'"], "unknown pruner 'nope': not registered (registered:"),
        ([CUT, "--gin_param", "experiment.dataset = 'nope'"], "unknown dataset 'nope'"),
        ([CUT, "--gin_param", "experiment.model = 'nope'"], "unknown model 'nope'"),
        ([CUT, "--gin_param", "coreset_fraction = 0"], "coreset_fraction must be in (0, 1]"),
        ([CUT, "--gin_param", "prune_rate = 1"], "prune_rate must be in [0, 1)"),
        ([CUT, "--gin_param", "train.no_such = 1"], "'train' has no parameter 'no_such'"),
        (["gin/digits/nope.gin"], "gin file 'gin/digits/nope.gin' not found"),
        (["gin/cifar10/dense.gin", "gin/scale/smoke.gin", "--gin_param", "data_root = '{tmp}/nodata'",
          "--gin_param", "runtime.download = False"], "cifar10 not found under"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line_and_writes_nothing(args, message, tmp_path, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main([*args, "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not list(tmp_path.rglob("result.json"))


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main([CUT, "--out", str(blocker / "runs")]) == 2
    assert f"cannot be made: {str(blocker)!r} is not a folder" in capsys.readouterr().err


def test_the_real_command_line(tmp_path):
    bad = run_cli(CUT, "--gin_param", "selector = 'randon'", "--out", str(tmp_path))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown selector 'randon': not registered (registered: ")
    assert lines[0].endswith("did you mean 'random'?")
    usage = run_cli("--help")
    assert usage.returncode == 0 and "--gin_param" in usage.stdout and "examples:" in usage.stdout
