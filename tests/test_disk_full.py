"""A full disk mid-run: one line, a failed record, and the run completes once there is room again (on a small
tmpfs; needs root to mount it)."""

import json
import os
import subprocess

import pytest
from conftest import run_cli

pytestmark = pytest.mark.slow

RUN = ("gin/digits/swast_cut.gin", "--gin_param", "epochs = 3", "--gin_param", "runtime.progress = False")


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_line_and_a_failed_record_and_the_run_recovers(small_disk):
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (3_500 * 1024))  # leaves room for the records, not for a 1.6 MB checkpoint
    out = small_disk / "runs"
    full = run_cli(*RUN, "--out", str(out))
    assert full.returncode == 1
    assert full.stderr.count("\n") == 1 and full.stderr.startswith("error: No space left on device"), full.stderr
    (record,) = out.glob("*/result.json")
    failed = json.loads(record.read_text())
    assert failed["status"] == "failed" and "No space left on device" in failed["error"]

    filler.unlink()
    again = run_cli(*RUN, "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert json.loads(record.read_text())["status"] == "ok"
    assert not list(record.parent.glob(".*.tmp"))  # no half-written file left behind
