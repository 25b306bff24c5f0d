"""Read an offline W&B run file (`run-<id>.wandb`) back: a LevelDB-style log of protobuf records."""

from __future__ import annotations

import json
import time
from pathlib import Path

BLOCK = 32 * 1024
HEADER = 7  # ":W&B" + magic + version


def records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    out, partial, pos = [], b"", HEADER
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:
            pos += left
            continue
        length = int.from_bytes(data[pos + 4:pos + 6], "little")
        kind = data[pos + 6]
        if kind == 0 and length == 0:  # zero padding to the end of the block
            pos += left
            continue
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 1:
            out.append(chunk)
        elif kind == 2:
            partial = chunk
        elif kind == 3:
            partial += chunk
        elif kind == 4:
            out.append(partial + chunk)
    parsed = []
    for raw in out:
        record = pb.Record()
        record.ParseFromString(raw)
        parsed.append(record)
    return parsed


def read_back(run_dir: Path, timeout: float = 60.0) -> dict:
    """`summary` of the one offline run under `run_dir`, once its final status is written: `finish` can return
    before W&B's service process has written the file out."""
    deadline = time.monotonic() + timeout
    while True:
        found = list(Path(run_dir).glob("wandb/offline-run-*/run-*.wandb"))
        assert len(found) <= 1, found
        info = summary(found[0]) if found else None
        if (info and "status" in info["summary"]) or time.monotonic() > deadline:
            assert info is not None, f"no offline W&B run under {run_dir}"
            return info
        time.sleep(0.2)


def summary(path: Path) -> dict:
    """The run's metadata, config, logged history rows, summary and metric definitions, as plain Python values."""
    info = {"run": None, "config": {}, "history": [], "summary": {}, "metrics": {}}
    for r in records(path):
        kind = r.WhichOneof("record_type")
        if kind == "run":
            info["run"] = {"id": r.run.run_id, "group": r.run.run_group, "job_type": r.run.job_type,
                           "tags": list(r.run.tags), "project": r.run.project}
            info["config"].update({i.key: json.loads(i.value_json) for i in r.run.config.update})
        elif kind == "config":
            info["config"].update({i.key: json.loads(i.value_json) for i in r.config.update})
        elif kind == "history":
            info["history"].append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item})
        elif kind == "metric":  # define_metric: name or glob -> the metric it is charted against
            info["metrics"][r.metric.name or r.metric.glob_name] = r.metric.step_metric
        elif kind == "summary":
            info["summary"].update({i.key or "/".join(i.nested_key): json.loads(i.value_json)
                                    for i in r.summary.update})
    return info
