"""The run keys of the experiment files are pinned: a change to the code or to a gin file that changes them
makes every finished run of those configurations count as missing, so it must be made on purpose.

Update the pinned list (after `python -m benchmarks rekey`): UPDATE_PINNED_KEYS=1 pytest tests/test_keys.py
"""

import json
import os

from conftest import ROOT

from harness import config

PINNED = ROOT / "tests" / "pinned_keys.json"
EXPERIMENTS = ("gin/digits", "gin/cifar10")


def current_keys() -> dict[str, str]:
    files = sorted(str(p.relative_to(ROOT)) for folder in EXPERIMENTS for p in (ROOT / folder).glob("*.gin"))
    return {f: config.parse([str(ROOT / f)]).key for f in files}


def test_experiment_files_keep_their_run_keys():
    keys = current_keys()
    if os.environ.get("UPDATE_PINNED_KEYS") == "1":
        PINNED.write_text(json.dumps(keys, indent=1) + "\n")
    pinned = json.loads(PINNED.read_text())
    differ = [f"{f} ({pinned.get(f, 'not pinned')[:16]} -> {keys.get(f, 'no such file')[:16]})"
              for f in sorted(keys.keys() | pinned.keys()) if keys.get(f) != pinned.get(f)]
    assert not differ, (
        f"run keys changed: {', '.join(differ)}; finished runs of these configurations now count as missing. "
        "If only parameters were added at their defaults, `python -m benchmarks rekey` carries the finished runs "
        "over to the new keys (--dry-run first). Then pin the new keys on purpose: "
        "UPDATE_PINNED_KEYS=1 pytest tests/test_keys.py"
    )
