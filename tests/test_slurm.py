"""A real SLURM cluster: the one-node cluster `slurm/local-cluster.sh` starts on this machine, and
submitit submitting job arrays to it through `grid.cluster.executor` with the `slurm/local.gin` profile.

The session fixture starts the cluster (installing Debian's packages the first time); it needs root on a
Debian-like machine, which CI is, and skips elsewhere. Jobs run as the user who submits (root here), in the
directory pytest runs in, so their submitit folder can be the test's tmp path.
"""

import socket
import subprocess
import time

import pytest
import submitit
from conftest import local_cluster

from grid import cluster

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

WAIT_S = 180  # a guard against hanging on a broken cluster, not a speed requirement


@pytest.fixture
def slurm_executor(slurm_cluster, tmp_path):
    profile = cluster.load("slurm/local.gin")
    return profile, cluster.executor(profile, tmp_path / "submitit" / "%j", "slurm")


def _wait(jobs) -> None:
    """Wait until every job is done; on a hang, cancel them and fail with their state and logs."""
    deadline = time.monotonic() + WAIT_S
    while not all(job.done() for job in jobs):
        if time.monotonic() > deadline:
            report = "; ".join(f"{j.job_id}: {j.state}, stderr: {(j.stderr() or '')[-300:]!r}" for j in jobs)
            for job in jobs:
                job.cancel(check=False)
            pytest.fail(f"jobs not done after {WAIT_S} s: {report}")
        time.sleep(0.5)


def _sacct(job_id: str, until) -> dict[str, tuple[str, ...]]:
    """sacct's allocation rows for a job (JobID -> State, Partition, AllocCPUS), read again until `until`
    holds for them or the wait runs out (the controller reports to the database asynchronously)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        out = subprocess.run(["sacct", "-j", job_id, "-X", "-n", "-P", "--format=JobID,State,Partition,AllocCPUS"],
                             capture_output=True, text=True, check=True).stdout
        rows = {line.split("|")[0]: tuple(line.split("|")[1:]) for line in out.splitlines() if line}
        if until(rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def test_a_job_array_runs_through_slurm_with_the_profile(slurm_executor, tmp_path):
    profile, ex = slurm_executor
    assert ex.cluster == "slurm"
    tags = ["a", "b", "c"]
    jobs = ex.map_array(cluster.probe, tags)
    _wait(jobs)
    results = [job.result() for job in jobs]

    array_id = jobs[0].job_id.split("_")[0]
    assert array_id.isdigit() and [job.job_id for job in jobs] == [f"{array_id}_{i}" for i in range(len(tags))]
    for i, (job, r) in enumerate(zip(jobs, results, strict=True)):
        # Each task saw the ids SLURM gave it, inside an allocation with the profile's partition and CPUs.
        assert r["tag"] == tags[i]
        assert (r["array_job_id"], r["array_task_id"], r["submitit_job_id"]) == (array_id, str(i), job.job_id)
        assert r["job_id"].isdigit()
        assert (r["partition"], r["cpus_per_task"]) == (profile.partition, str(profile.cpus_per_task))
        assert r["host"] == socket.gethostname()
    assert len({r["job_id"] for r in results}) == len(tags)  # one SLURM job per array task

    # One sbatch for the whole array, throttled by the profile's array parallelism.
    script = (tmp_path / "submitit" / array_id / f"{array_id}_submission.sh").read_text()
    assert f"#SBATCH --array=0-{len(tags) - 1}%{min(len(tags), profile.array_parallelism)}" in script
    assert f"#SBATCH --partition={profile.partition}" in script

    # The accounting database knows every task, finished.
    expected = {job.job_id: ("COMPLETED", profile.partition, str(profile.cpus_per_task)) for job in jobs}
    assert _sacct(array_id, lambda rows: rows == expected) == expected


def test_an_exception_in_a_job_comes_back_as_failed_job_error(slurm_executor):
    _, ex = slurm_executor
    job = ex.submit(cluster.probe, "boom", fail="raised on purpose inside a SLURM job")
    _wait([job])
    with pytest.raises(submitit.core.utils.FailedJobError) as info:
        job.result()
    assert "RuntimeError: raised on purpose inside a SLURM job" in str(info.value)  # the remote traceback
    rows = _sacct(job.job_id, lambda rows: rows.get(job.job_id, ("",))[0] == "FAILED")
    assert rows[job.job_id][0] == "FAILED"


def test_up_again_restarts_nothing(slurm_cluster):
    before = local_cluster("status")
    again = local_cluster("up")
    after = local_cluster("status")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "started" not in again.stdout and "ready: node" in again.stdout
    assert before.returncode == after.returncode == 0, before.stdout + after.stdout  # all up, node takes jobs

    def daemons(status):
        return [line for line in status.stdout.splitlines() if "running (pid" in line]

    assert len(daemons(before)) == 4 and daemons(after) == daemons(before)  # the same processes
