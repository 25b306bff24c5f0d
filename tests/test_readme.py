"""The README's plug-in example is real code: it registers and trains."""

import re

from conftest import ROOT, parse

from harness.core import registry
from harness.execution.run_folder import execute


def test_readme_selector_example_registers_and_runs(tmp_path, request):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(# methods/coresets/hardest.py\n.*?)```", text, re.S).group(1)
    exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})
    request.addfinalizer(lambda: registry._ENTRIES["selector"].pop("hardest"))  # keep other tests' listings as shipped
    cfg = parse("gin/digits/coreset_only.gin",
                bindings=("selector = 'hardest'", "selectors.hardest.temperature = 2.0", "epochs = 4",
                          "train.selection_interval = 2"))
    assert "selectors.hardest.temperature = 2.0" in cfg.text
    result = execute(cfg, tmp_path)
    assert result["status"] == "ok" and result["selection_epochs"] == [2, 4]
