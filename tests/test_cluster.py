"""Cluster profiles (`slurm/*.gin` -> ClusterProfile) and the executors they configure, without a cluster."""

import pytest
from conftest import ROOT

from grid import cluster
from harness.core.errors import ConfigError


def test_the_local_test_cluster_profile():
    p = cluster.load(ROOT / "slurm" / "local.gin")
    assert (p.partition, p.gpus_per_node) == ("debug", 0)  # the test cluster has no GRES
    assert p.timeout_min >= 2 and p.signal_delay_s < p.timeout_min * 60
    assert p.array_parallelism > 1 and p.cpus_per_task * p.array_parallelism <= 8  # tasks run side by side


def test_the_example_gpu_cluster_profile():
    p = cluster.load("slurm/example.gin")  # relative to the project
    assert (p.partition, p.gpus_per_node, p.cpus_per_task, p.mem_gb, p.timeout_min) == ("gpu", 1, 8, 32, 720)
    assert p.setup == ("source .venv/bin/activate",)


def test_bindings_override_the_file_and_lists_become_tuples():
    p = cluster.load("slurm/local.gin", ["cluster.setup = ['module load cuda', 'echo hi']",
                                         "cluster.additional_parameters = {'account': 'lab'}"])
    assert p.setup == ("module load cuda", "echo hi") and p.additional_parameters == {"account": "lab"}


@pytest.mark.parametrize("binding, message", [
    ("cluster.cpus_per_task = 0", "cluster.cpus_per_task must be an integer >= 1, got 0"),
    ("cluster.gpus_per_node = -1", "cluster.gpus_per_node must be an integer >= 0, got -1"),
    ("cluster.array_parallelism = 2.5", "cluster.array_parallelism must be an integer >= 1, got 2.5"),
    ("cluster.mem_gb = 0", "cluster.mem_gb must be a number > 0, got 0"),
    ("cluster.partition = 'my gpu'", "cluster.partition must be a partition name or None"),
    ("cluster.signal_delay_s = 600", "cluster.signal_delay_s (600) must be less than cluster.timeout_min * 60 (600)"),
    ("cluster.setup = 'source x'", "cluster.setup must be a list of one-line shell commands"),
    ("cluster.additional_parameters = {'cpus-per-task': 4}",
     "cluster.additional_parameters['cpus-per-task'] repeats what cluster.cpus_per_task sets"),
    ("cluster.additional_parameters = {'account': ['a']}", "cluster.additional_parameters['account'] must be a"),
    ("cluster.partiton = 'gpu'", "doesn't have a parameter named 'partiton'"),
])
def test_bad_values_are_one_line_errors(binding, message):
    with pytest.raises(ConfigError) as info:
        cluster.load("slurm/local.gin", [binding])
    assert message in info.value.message and "\n" not in info.value.message


def test_a_missing_profile_names_the_ones_there():
    with pytest.raises(ConfigError, match=r"'slurm/nope.gin' not found \(profiles: slurm/example.gin, slurm/local.gin"):
        cluster.load("slurm/nope.gin")


def test_an_unknown_executor_kind_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="executor kind must be one of slurm, local, debug, got 'cloud'"):
        cluster.executor(cluster.ClusterProfile(), tmp_path, "cloud")


def test_slurm_without_sbatch_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="executor 'slurm' needs SLURM's sbatch and srun on PATH"):
        cluster.executor(cluster.ClusterProfile(), tmp_path, "slurm")


@pytest.mark.parametrize("kind, executor_class", [("local", "LocalExecutor"), ("debug", "DebugExecutor")])
def test_the_profile_reaches_the_executor(tmp_path, kind, executor_class):
    p = cluster.load("slurm/example.gin")
    ex = cluster.executor(p, tmp_path / "%j", kind)
    assert ex.cluster == kind and type(ex._executor).__name__ == executor_class  # not SLURM, even where srun exists
    assert ex._executor.parameters == {"name": "swast-bench", "timeout_min": 720, "cpus_per_task": 8, "mem_gb": 32,
                                       "gpus_per_node": 1}


def test_no_gpu_request_when_the_profile_has_none(tmp_path):
    ex = cluster.executor(cluster.load("slurm/local.gin"), tmp_path, "local")
    assert "gpus_per_node" not in ex._executor.parameters


def test_a_debug_job_runs_the_probe_in_process(tmp_path):
    job = cluster.executor(cluster.load("slurm/local.gin"), tmp_path, "debug").submit(cluster.probe, "here")
    result = job.result()
    assert result["tag"] == "here" and result["submitit_job_id"] == job.job_id


def test_the_probe_raises_when_asked():
    with pytest.raises(RuntimeError, match="on purpose"):
        cluster.probe("x", fail="on purpose")
