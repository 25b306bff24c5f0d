"""`python -m benchmarks speed` runs end to end and writes the record the README describes."""

import json

import pytest

from benchmarks import speed


def test_speed_benchmark_writes_ratios_with_device_versions_and_load(tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert speed.main(["--methods", "coreset_only", "swast_cut", "--repeats", "1", "--min-steps", "1",
                       "--launch-repeats", "0", "--selectors", "random", "el2n", "--selector-repeats", "1",
                       "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert set(record["ratios"]) == {"coreset_only", "swast_cut", "probe"}
    assert all(r > 0 for r in record["ratios"].values())
    assert {"date", "device", "python", "torch", "threads", "load_average_start", "load_average_end"} <= set(record)
    swast = record["loop"]["swast_cut"]
    assert swast["samples"] == 129 and swast["steps"] >= 1 and len(swast["pair_ratios"]) == 1
    assert set(record["selectors"]["seconds"]) == {"random", "el2n"} and record["selectors"]["samples"] == 50_000
    assert all(s >= 0 for s in record["selectors"]["seconds"].values())
    assert "| swast_cut |" in capsys.readouterr().out


TINY = ("width = 0.0625", "datasets.synthetic.num_train = 600", "datasets.synthetic.num_test = 100",
        "train.selection_interval = 1")


@pytest.mark.parametrize("limit", [None, 2])
def test_table2_benchmark_times_the_papers_configuration_on_the_stand_in(limit, tmp_path, capsys):
    out = tmp_path / "table2.json"
    args = ["--table2", "--data", "synthetic", "--out", str(out)]
    args += ["--epochs-limit", str(limit)] if limit else ["--gin_param", "epochs = 3"]
    assert speed.main([*args, *(a for b in TINY for a in ("--gin_param", b))]) == 0
    record = json.loads(out.read_text())
    config = record["config"]
    for binding in ("experiment.model = 'resnet101'", "experiment.method = 'swast_cut'",
                    "methods.swast_cut.coreset_fraction = 0.1", "methods.swast_cut.prune_rate = 0.3",
                    "methods.swast_cut.selector = 'gradmatch'", "methods.swast_cut.pruner = 'rigl'",
                    "experiment.dataset = 'synthetic'", "datasets.synthetic.size = 32"):
        assert binding in config
    assert record["data"].startswith("synthetic") and record["paper_time_s"] == 2191 and record["target_s"] < 440
    epochs = record["epochs"]
    assert record["first_epoch_s"] == epochs[0]["time_s"] > 0
    if limit:  # the first epochs of the 300-epoch schedule: 15 warm-up epochs on the full data, then selection
        assert len(epochs) == 2 and record["selection_epochs"][:2] == [16, 17]
        assert record["full_data_epoch_s"] == epochs[1]["time_s"] and record["selection_epoch_s"] is None
    else:  # 3 epochs: one warm-up epoch, then a selection every epoch
        assert len(epochs) == 3 and record["selection_epochs"] == [2, 3]
        assert record["selection_epoch_s"] == (epochs[1]["time_s"] + epochs[2]["time_s"]) / 2
    assert 0 <= record["test_accuracy"] <= 100 and record["run_time_s"] >= sum(e["time_s"] for e in epochs) * 0.99
    assert {"device", "precision", "channels_last", "compile"} <= set(record["env"])
    printed = capsys.readouterr().out
    assert "Table 2, SWaST-cut" in printed and ("of the paper's 2191 s" in printed) == (limit is None)
