"""`python -m harness.describe`: the per-layer report of a configuration, without training (issue 3, point 4)."""

import json
import re

import pytest
from conftest import ROOT, parse
from torch import nn

from harness.core import registry
from harness.describe import main, report
from harness.models import resnet

# the CIFAR experiment files name GradMatch; where it is not registered yet, any selector shows the same model
SELECTOR = () if "gradmatch" in registry.names("selector") else ("selector = 'random'",)


def cifar_resnet18_parts() -> tuple[int, int, int]:
    """Conv weights (the backbone), classifier weights, and every other parameter of the CIFAR-10 ResNet-18."""
    model = resnet.resnet18(num_classes=10, in_channels=3)
    backbone = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d))
    fc = model.fc.weight.numel()
    return backbone, fc, sum(p.numel() for p in model.parameters()) - backbone - fc


@pytest.mark.parametrize("rate", [0.9, 0.7, 0.5, 0.3, 0.1])
def test_cut_keeps_the_rate_of_the_backbone_and_ten_percent_of_the_classifier(rate):
    rep = report(parse("gin/cifar10/swast_cut.gin", bindings=(*SELECTOR, f"prune_rate = {rate}")))
    backbone, fc, other = cifar_resnet18_parts()
    assert rep["pruner"] == "rigl" and rep["other_params"] == other == 9_610
    assert rep["totals"]["nonzero"] == round((1 - rate) * backbone) + round(0.1 * fc) + other
    assert rep["groups"]["backbone"] == {"params": backbone, "nonzero": round((1 - rate) * backbone)}
    assert rep["totals"]["params"] == backbone + fc + other == 11_173_962


@pytest.mark.parametrize("rate", [0.9, 0.7, 0.5, 0.3, 0.1])
def test_trim_keeps_the_whole_backbone_and_the_rate_of_the_classifier(rate):
    rep = report(parse("gin/cifar10/swast_trim.gin", bindings=(*SELECTOR, f"prune_rate = {rate}")))
    backbone, fc, other = cifar_resnet18_parts()
    assert rep["totals"]["nonzero"] == backbone + round((1 - rate) * fc) + other
    assert [r["name"] for r in rep["layers"] if r["pruned"]] == ["fc.weight"]


def test_the_report_lists_every_layer_with_shape_density_parameters_and_flops():
    rep = report(parse("gin/cifar10/swast_cut.gin", bindings=(*SELECTOR, "prune_rate = 0.9")))
    stem = rep["layers"][0]
    assert stem["name"] == "conv1.weight" and stem["shape"] == [64, 3, 3, 3] and stem["density"] == 1.0
    assert stem["flops_dense"] == stem["flops"] == 27 * 64 * 32 * 32
    assert len(rep["layers"]) == 21 and rep["totals"]["flops_dense"] == 555_422_720
    for r in rep["layers"]:
        assert r["nonzero"] == round(r["density"] * r["params"])
        assert r["flops"] == pytest.approx(r["flops_dense"] * r["density"])
    assert rep["totals"]["flops"] == pytest.approx(sum(r["flops"] for r in rep["layers"]))


def test_the_command_line_prints_a_table_or_json(capsys):
    assert main(["gin/digits/swast_cut.gin", "--gin_param", "prune_rate = 0.7"]) == 0
    text = capsys.readouterr().out
    assert "resnet18 on digits (1x8x8, 10 classes), method swast_cut" in text
    assert re.search(r"^fc\.weight\s+10x64\s+0\.100\s+640\s+64\s", text, re.M)
    assert "pruner rigl(delta_t=5, t_end=0.75, alpha=0.3, clock='steps')" in text
    assert main(["gin/digits/swast_cut.gin", "--gin_param", "pruner = 'probmask'", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["pruner"] == "probmask" and rep["totals"]["nonzero"] < rep["totals"]["params"]


def test_bad_input_is_one_line(capsys):
    assert main(["gin/digits/swast_cut.gin", "--gin_param", "pruner = 'rigel'"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown pruner 'rigel'") and err.count("\n") == 1


def test_the_readme_table_is_what_inspect_reports():
    text = (ROOT / "README.md").read_text()
    rows = {m.group(1): [int(x.replace(",", "")) for x in re.findall(r"[\d,]{5,}", m.group(2))]
            for m in re.finditer(r"^\| (SWaST-\w+), this harness \|(.*)\|$", text, re.M)}
    assert set(rows) == {"SWaST-cut", "SWaST-trim"}
    for name, row in rows.items():
        method = "swast_cut" if name == "SWaST-cut" else "swast_trim"
        counts = [report(parse(f"gin/cifar10/{method}.gin", bindings=(*SELECTOR, f"prune_rate = {r}")))["totals"]
                  for r in (0.9, 0.7, 0.5, 0.3, 0.1)]
        assert row == [c["nonzero"] for c in counts] + [counts[0]["params"]]
