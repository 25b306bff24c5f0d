"""`python -m benchmarks speed` runs end to end and writes the record the README describes."""

import json

from benchmarks import speed


def test_speed_benchmark_writes_ratios_with_device_versions_and_load(tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert speed.main(["--methods", "coreset_only", "swast_cut", "--repeats", "1", "--min-steps", "1",
                       "--launch-repeats", "0", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert set(record["ratios"]) == {"coreset_only", "swast_cut", "probe"}
    assert all(r > 0 for r in record["ratios"].values())
    assert {"date", "device", "python", "torch", "threads", "load_average_start", "load_average_end"} <= set(record)
    swast = record["loop"]["swast_cut"]
    assert swast["samples"] == 129 and swast["steps"] >= 1 and len(swast["pair_ratios"]) == 1
    assert "| swast_cut |" in capsys.readouterr().out
