"""Where jobs run: a cluster profile (`slurm/*.gin`) and the submitit executor it configures.

A profile is the frozen dataclass `ClusterProfile`, registered with gin as `cluster`, so a profile file is
a few bindings (`cluster.partition = 'gpu'`, `cluster.timeout_min = 720`, ...). `load(path)` parses one,
`executor(profile, folder, kind)` turns it into a `submitit.AutoExecutor` for SLURM (`'slurm'`), local
subprocesses (`'local'`) or in-process execution (`'debug'`). `probe` is a job that reports what it sees of
the cluster, for checking a profile end to end.

This module stays light (no torch): every job unpickles its functions by importing their module.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from dataclasses import dataclass, field, fields
from pathlib import Path

import gin
import submitit

from harness.core.errors import ConfigError, call_configurable
from harness.core.files import PROJECT_ROOT

KINDS = ("slurm", "local", "debug")

# sbatch options the profile sets through its own fields; `additional_parameters` may not repeat them.
_OWN_OPTIONS = {
    "partition": "partition",
    "time": "timeout_min",
    "cpus_per_task": "cpus_per_task",
    "mem": "mem_gb",
    "gpus_per_node": "gpus_per_node",
    "signal": "signal_delay_s",
    "array": "array_parallelism",
}


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ClusterProfile:
    """How jobs are submitted: resources per job, time limit, array parallelism, setup lines.

    `partition`: SLURM partition (None: the cluster's default). `gpus_per_node`, `cpus_per_task`,
    `mem_gb`: resources of one job. `timeout_min`: its time limit; SLURM sends the pre-timeout signal
    (checkpoint and requeue) `signal_delay_s` seconds before it. `array_parallelism`: how many tasks of one
    job array run at once. `runs_per_job`: how many runs one job trains, one after the other (amortises
    start-up). `setup`: shell lines the job runs before Python starts (e.g. activating an environment).
    `additional_parameters`: any other sbatch option, e.g. `{'account': 'my-lab'}`.
    """

    partition: str | None = None
    gpus_per_node: int = 0
    cpus_per_task: int = 1
    mem_gb: float = 4.0
    timeout_min: int = 60
    array_parallelism: int = 64
    runs_per_job: int = 1
    setup: tuple[str, ...] = ()
    additional_parameters: dict = field(default_factory=dict)
    signal_delay_s: int = 90

    def __post_init__(self):
        _require(self.partition is None or (isinstance(self.partition, str) and self.partition.strip() != ""
                                            and not any(c.isspace() for c in self.partition)),
                 f"cluster.partition must be a partition name or None, got {self.partition!r}")
        for name, low in (("gpus_per_node", 0), ("cpus_per_task", 1), ("timeout_min", 1),
                          ("array_parallelism", 1), ("runs_per_job", 1), ("signal_delay_s", 0)):
            value = getattr(self, name)
            _require(_is_int(value) and value >= low, f"cluster.{name} must be an integer >= {low}, got {value!r}")
        _require(isinstance(self.mem_gb, (int, float)) and not isinstance(self.mem_gb, bool) and self.mem_gb > 0,
                 f"cluster.mem_gb must be a number > 0, got {self.mem_gb!r}")
        _require(self.signal_delay_s < self.timeout_min * 60,
                 f"cluster.signal_delay_s ({self.signal_delay_s}) must be less than cluster.timeout_min * 60 "
                 f"({self.timeout_min * 60}): the pre-timeout signal would come as the job starts")
        _require(isinstance(self.setup, (list, tuple))
                 and all(isinstance(line, str) and "\n" not in line for line in self.setup),
                 f"cluster.setup must be a list of one-line shell commands, got {self.setup!r}")
        _require(isinstance(self.additional_parameters, dict)
                 and all(isinstance(k, str) and k for k in self.additional_parameters),
                 f"cluster.additional_parameters must be a dict of sbatch options, got {self.additional_parameters!r}")
        for key, value in self.additional_parameters.items():
            own = _OWN_OPTIONS.get(key.replace("-", "_"))
            _require(own is None,
                     f"cluster.additional_parameters[{key!r}] repeats what cluster.{own} sets: set it there")
            _require(isinstance(value, (str, int, float, bool)),
                     f"cluster.additional_parameters[{key!r}] must be a string or number, got {value!r}")
        object.__setattr__(self, "setup", tuple(self.setup))
        object.__setattr__(self, "additional_parameters", dict(self.additional_parameters))


CONFIGURABLE = gin.external_configurable(ClusterProfile, name="cluster")


def load(path: str | Path, bindings: list[str] | tuple[str, ...] = ()) -> ClusterProfile:
    """Parse a cluster profile: a gin file of `cluster.*` bindings, then extra bindings.

    Relative paths are tried from the working directory, then from the project. Like
    `harness.config.parse`, it clears gin's configuration (before and after): load the profile first.
    """
    found = next((p for p in (Path(path), PROJECT_ROOT / path) if p.is_file()), None)
    if found is None:
        folder = PROJECT_ROOT / "slurm"
        known = ", ".join(f"slurm/{p.name}" for p in sorted(folder.glob("*.gin")))
        raise ConfigError(f"cluster profile {str(path)!r} not found (profiles: {known or 'none'})")
    gin.clear_config()
    try:
        gin.parse_config_files_and_bindings([str(found)], list(bindings), finalize_config=False)
        return call_configurable(CONFIGURABLE)
    except ConfigError:
        raise
    except Exception as e:  # gin reports a bad file or binding with many exception types, over several lines
        raise ConfigError(_explain(e, path)) from None
    finally:
        gin.clear_config()


def _explain(error: Exception, path: str | Path) -> str:
    """Gin's multi-line error as one line: what is wrong, where, and which parameters a profile has."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    m = re.search(r'In file "[^"]+", line (\d+)', text)
    where = f"{path}, line {m.group(1)}" if m else str(path)
    known = ", ".join(f.name for f in fields(ClusterProfile))
    return f"cluster profile {where}: {first} (cluster parameters: {known})"


def executor(profile: ClusterProfile, folder: str | Path, kind: str, name: str = "swast-bench"):
    """A `submitit.AutoExecutor` of `kind` ('slurm', 'local' or 'debug') with the profile's parameters.

    `folder` holds submitit's files (pickled jobs, results, logs; `%j` is the job id) and must be readable
    where the jobs run. Resources and the time limit apply to every kind; partition, array parallelism,
    signal delay, setup lines and additional sbatch options only to SLURM. 'local' starts one process per
    job with no queue (the caller limits concurrency); 'debug' runs each job in this process when its
    result is asked for.
    """
    _require(kind in KINDS, f"executor kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "slurm":
        _require(shutil.which("sbatch") is not None and shutil.which("srun") is not None,
                 "executor 'slurm' needs SLURM's sbatch and srun on PATH (none here; use 'local' or 'debug', "
                 "or start the test cluster with `make slurm-up`)")
    ex = submitit.AutoExecutor(folder=folder, cluster=kind)
    params: dict = {"name": name, "timeout_min": profile.timeout_min, "cpus_per_task": profile.cpus_per_task,
                    "mem_gb": profile.mem_gb}
    if profile.gpus_per_node:  # `--gpus-per-node=0` is refused where the cluster has no GPUs at all
        params["gpus_per_node"] = profile.gpus_per_node
    if kind == "slurm":
        params.update(slurm_array_parallelism=profile.array_parallelism,
                      slurm_signal_delay_s=profile.signal_delay_s,
                      slurm_setup=list(profile.setup),
                      slurm_additional_parameters=dict(profile.additional_parameters))
        if profile.partition is not None:
            params["slurm_partition"] = profile.partition
    ex.update_parameters(**params)
    return ex


def probe(tag: str, fail: str | None = None) -> dict:
    """A job that reports where it ran: SLURM's ids for it, submitit's job id, host, partition, CPUs.

    `fail` makes it raise RuntimeError with that message instead, to check that errors come back.
    """
    if fail is not None:
        raise RuntimeError(fail)
    env = os.environ
    try:
        submitit_job_id = submitit.JobEnvironment().job_id
    except RuntimeError:  # not inside a submitit job
        submitit_job_id = None
    return {
        "tag": tag,
        "job_id": env.get("SLURM_JOB_ID"),
        "array_job_id": env.get("SLURM_ARRAY_JOB_ID"),
        "array_task_id": env.get("SLURM_ARRAY_TASK_ID"),
        "partition": env.get("SLURM_JOB_PARTITION"),
        "cpus_per_task": env.get("SLURM_CPUS_PER_TASK"),
        "submitit_job_id": submitit_job_id,
        "host": socket.gethostname(),
    }
