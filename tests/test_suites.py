"""Suites end to end: plan, run (debug, local and SLURM executors), resume after SIGKILL, requeue, collect."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, parse

from benchmarks.__main__ import main, suites
from benchmarks.table2 import SUITE as TABLE2
from grid.launch import Work, pack, run_state
from harness.core.files import short_key
from harness.execution.run_folder import execute

SMALL = ["table2", "--scale", "smoke"]  # three settings: 3 runs per seed


def results(root):
    return {p.parent.name: json.loads(p.read_text()) for p in (root / "runs").glob("*/result.json")}


def without_timing(history):
    return [{k: v for k, v in row.items() if k != "epoch_time_s"} for row in history]


def test_every_suite_is_listed_and_plans_at_smoke_scale(capsys):
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    for name in ("table1", "table2", "table3", "table4", "table5", "preservation", "readings", "fig4", "fig5",
                 "fig6", "fig7"):
        assert name in listing
    counts = {name: len(suite.plan("smoke", seeds=1)) for name, suite in suites().items()
              if name in ("table1", "table2", "table3", "fig7")}
    assert counts == {"table1": 33, "table2": 3, "table3": 24, "fig7": 26}


def test_paper_plan_of_table1_is_the_papers_whole_grid_with_sbatch_options_and_submits_nothing(tmp_path, capsys):
    import pandas as pd

    from grid.study import load
    from grid.suite import PAPER_NAMES

    args = ["plan", "table1", "--scale", "paper", "--executor", "slurm", "--cluster", "slurm/example.gin",
            "--results", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "780 runs at paper scale, 5 seeds" in out
    for option in ("--partition gpu", "--array 0-779%16", "--time 720 min", "--gpus-per-node 1", "--signal USR2@"):
        assert option in out
    assert not list(tmp_path.rglob("*"))  # nothing submitted, nothing written
    planned = {}
    for p in load(ROOT / "studies" / "table1.gin").plan("paper", 5):
        s = {column: PAPER_NAMES.get(column, {}).get(value, value) for column, value in p.spec.items()}
        cell = (s["method"], s["model"], s["dataset"], s["coreset_fraction"],
                s["prune_rate"] if s["method"] != "coreset_only" else None)
        planned.setdefault(cell, []).append(s["seed"])
    paper = pd.read_csv(ROOT / "results" / "paper" / "results.csv")
    paper = paper[paper.table == "table1"]
    cells = {(r.method, r.model, r.dataset, r.coreset_fraction, r.prune_rate if r.method != "coreset_only" else None)
             for r in paper.itertuples()}
    assert cells <= set(planned)  # every published cell is planned ...
    assert all(sorted(seeds) == [0, 1, 2, 3, 4] for seeds in planned.values())  # ... with 5 seeds


def test_plan_keys_are_unique_and_seeds_multiply():
    one, five = TABLE2.plan("smoke", 1), TABLE2.plan("smoke", 5)
    assert len(five) == 5 * len(one) and len({p.key for p in five}) == len(five)
    assert [p.spec["seed"] for p in five[:5]] == [0, 1, 2, 3, 4]


def test_packing_keeps_every_run_once():
    work = [Work(("f",), (), str(i)) for i in range(7)]
    batches = pack(work, 3)
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [w for b in batches for w in b] == work


def test_a_suite_runs_in_process_collects_and_a_second_run_sends_nothing(tmp_path, capsys):
    args = [*SMALL, "--seeds", "1", "--results", str(tmp_path)]
    assert main(["run", *args, "--executor", "debug", "--wait"]) == 0
    assert "sent 3 runs in" in capsys.readouterr().out
    first = results(tmp_path)
    assert len(first) == 3 and all(r["status"] == "ok" for r in first.values())
    assert main(["collect", *args]) == 0
    table = (tmp_path / "tables" / "table2.md").read_text()
    assert "| Acc. (%)" in table and "/ 91.13" in table
    assert "digits cannot show the paper's effect" in table and "make table3 SCALE=cpu" in table
    assert (tmp_path / "tables" / "table2.tex").read_text().startswith("\\begin{table*}")
    assert main(["run", *args, "--executor", "debug", "--wait"]) == 0
    assert "nothing to send (3 of 3 runs done or in flight)" in capsys.readouterr().out
    assert main(["status", *args]) == 0
    assert "3 done, 0 failed, 0 started, 0 missing" in capsys.readouterr().out


def test_unknown_suite_or_missing_plugin_is_one_line(capsys):
    assert main(["plan", "table9"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown suite 'table9'; suites: fig4, fig5, fig6, fig7,")


@pytest.mark.slow
def test_a_suite_killed_mid_way_completes_when_run_again(tmp_path):
    args = [*SMALL, "--seeds", "2", "--results", str(tmp_path), "--executor", "local", "--jobs", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks", "run", *args, "--wait"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(results(tmp_path)) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the submitter and its local jobs, as a crash would
    proc.wait()
    finished = {k: (tmp_path / "runs" / k / "result.json").stat().st_mtime_ns for k in results(tmp_path)}
    assert 2 <= len(finished) < 6, "the suite must be killed mid-way"

    again = subprocess.run([sys.executable, "-m", "benchmarks", "run", *args, "--wait"], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"({len(finished)} of 6 already done or in flight)" in again.stdout
    final = results(tmp_path)
    planned = {short_key(p.key) for p in TABLE2.plan("smoke", 2)}
    assert set(final) == planned and all(r["status"] == "ok" for r in final.values())
    for key, mtime in finished.items():  # nothing that had finished was trained again
        assert (tmp_path / "runs" / key / "result.json").stat().st_mtime_ns == mtime
    assert len(list((tmp_path / "runs").glob("*/result.json"))) == 6


@pytest.mark.slow
@pytest.mark.slurm
def test_a_smoke_suite_runs_as_a_slurm_job_array(slurm_cluster, tmp_path, capsys):
    args = [*SMALL, "--seeds", "1", "--results", str(tmp_path), "--cluster", "slurm/local.gin"]
    assert main(["plan", *args, "--executor", "slurm"]) == 0
    assert "a SLURM job array of 2 tasks, 2 run(s) each" in capsys.readouterr().out
    assert main(["run", *args, "--executor", "slurm", "--wait"]) == 0
    ledger = [json.loads(line) for line in (tmp_path / "submitit" / "table2" / "jobs.jsonl").read_text().splitlines()]
    assert [e["kind"] for e in ledger] == ["slurm", "slurm"]
    array_id = ledger[0]["job_id"].split("_")[0]
    assert [e["job_id"] for e in ledger] == [f"{array_id}_0", f"{array_id}_1"]
    expected = [f"{array_id}_0|COMPLETED|debug", f"{array_id}_1|COMPLETED|debug"]
    deadline = time.time() + 60  # accounting records the end a moment after the job's result is written
    while True:
        sacct = subprocess.run(["sacct", "-n", "-X", "-P", "-j", array_id, "--format", "JobID,State,Partition"],
                               capture_output=True, text=True, check=True).stdout.split()
        if sorted(sacct) == expected or time.time() > deadline:
            break
        time.sleep(1)
    assert sorted(sacct) == expected
    assert main(["collect", *args]) == 0
    assert len(results(tmp_path)) == 3


def release_when_requeued(job_id: str, timeout_s: float = 120) -> None:
    """SLURM holds a requeued job back for a while (pending reason BeginTime); start it at once instead."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        reason = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%r"], capture_output=True, text=True).stdout
        if reason.strip() == "BeginTime":
            subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True)
            return
        time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.slurm
def test_a_job_interrupted_as_on_timeout_requeues_and_resumes_its_run(slurm_cluster, tmp_path):
    from grid.cluster import executor, load
    from harness.run import RunBatch

    # One thread on both sides: the job gets one CPU, and float sums differ with the thread count.
    bindings = ["epochs = 30", "runtime.progress = False", "runtime.threads = 1"]
    cfg = parse("gin/digits/swast_cut.gin", bindings=tuple(bindings))
    run_dir = tmp_path / "runs" / cfg.short_key
    ex = executor(load("slurm/local.gin"), tmp_path / "submitit" / "%j", "slurm")
    job = ex.submit(RunBatch(), [([str(ROOT / "gin/digits/swast_cut.gin")], bindings, [], cfg.key)],
                    str(tmp_path / "runs"))
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
        time.sleep(0.2)
    assert run_state(tmp_path / "runs", cfg.key) == "started"
    job._interrupt(timeout=True)
    release_when_requeued(job.job_id)
    assert job.result() == [(cfg.key, "ok")]
    log = job.stderr() or ""  # the interrupted attempt's log
    assert "this job is timed-out" in log and "DUE TO JOB REQUEUE" in log, log[-2000:]
    resumed = json.loads((run_dir / "result.json").read_text())
    straight = execute(cfg, tmp_path / "straight")
    assert resumed["metrics"]["test_accuracy"] == straight["metrics"]["test_accuracy"]
    assert without_timing(resumed["history"]) == without_timing(straight["history"])


@pytest.mark.slow
def test_the_readings_study_runs_at_smoke_scale_and_tabulates_each_readings_paired_difference(tmp_path):
    from grid.study import load

    study = load(ROOT / "studies" / "readings.gin")
    (readings,) = [a for a in study.axes if a.name == "reading"]
    args = ["readings", "--scale", "smoke", "--seeds", "1", "--results", str(tmp_path)]
    planned = study.plan("smoke", 1)
    # the switches that coreset-only does not read leave its runs as they are: 8 readings x 6 SWaST-cut runs,
    # 5 x 3 coreset-only
    assert len(planned) == 8 * 6 + 5 * 3
    assert main(["run", *args, "--executor", "debug", "--wait"]) == 0
    assert main(["collect", *args]) == 0
    table = (tmp_path / "tables" / "readings.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "%" not in line.split("|")[1]]
    assert [r.split("|")[1].strip() for r in rows[1:]] == list(readings.labels)
    cells = ["|".join(r.split("|")[2:]) for r in rows[1:]]
    assert all(c.count("(") == 6 for c in cells)  # each cell against coreset-only under the same reading
    assert table.count("/ -0.67") == len(readings.labels)  # the paper's SWaST-cut 90% minus coreset-only at 10%
    assert "digits cannot show the paper's effect" in table


def test_the_cpu_scale_is_real_cifar10_for_the_suites_that_have_it(capsys):
    from benchmarks.table3 import SUITE as TABLE3

    planned = TABLE3.plan("cpu", 3)
    assert [(p.spec["method"], p.spec["dataset"], p.spec["seed"]) for p in planned] == [
        ("coreset_only", "cifar10", s) for s in range(3)] + [("swast_cut", "cifar10", s) for s in range(3)]
    cfg = parse(*planned[0].files, bindings=planned[0].bindings)
    assert "datasets.cifar10.source = 'folder'" in cfg.text and cfg.data.label_noise == 0.2
    assert main(["plan", "table1", "--scale", "cpu"]) == 2
    assert "suite table1 has no cpu scale; it has: smoke, mini, paper" in capsys.readouterr().err


@pytest.mark.slow
def test_table4_with_probmask_runs_at_smoke_scale_and_collects(tmp_path):
    args = ["table4", "--scale", "smoke", "--seeds", "1", "--results", str(tmp_path)]
    assert main(["run", *args, "--executor", "debug", "--wait"]) == 0
    runs = results(tmp_path)
    assert len(runs) == 6 and all(r["status"] == "ok" for r in runs.values())
    for r in runs.values():
        if r["spec"]["method"] == "swast_cut":
            density = r["metrics"]["density_by_layer"]
            assert r["spec"]["pruner"] == "probmask" and density["fc.weight"] == pytest.approx(0.1, abs=0.01)
    assert main(["collect", *args]) == 0
    assert "| ResNet-18 | digits" in (tmp_path / "tables" / "table4.md").read_text()
