"""The README's plug-in example is real code: it registers and trains."""

import re

from conftest import ROOT, parse

from harness.core import registry
from harness.execution.run_folder import execute


def test_readme_selector_example_registers_and_runs(tmp_path, request):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(# my_study/my_selectors.py\n.*?)```", text, re.S).group(1)
    # under its own name: gin keeps a registered configurable for the process, and other tests register `hardest`
    block = block.replace('"hardest"', '"hardest_readme_example"')
    exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})
    request.addfinalizer(lambda: registry._ENTRIES["selector"].pop("hardest_readme_example"))  # listings as shipped
    cfg = parse("gin/digits/coreset_only.gin",
                bindings=("selector = 'hardest_readme_example'", "selectors.hardest_readme_example.temperature = 2.0",
                          "epochs = 4", "train.selection_interval = 2"))
    assert "selectors.hardest_readme_example.temperature = 2.0" in cfg.text
    result = execute(cfg, tmp_path)
    assert result["status"] == "ok" and result["selection_epochs"] == [2, 4]


def test_readme_study_and_its_plugin_plan_as_the_readme_says(tmp_path, monkeypatch, capsys, request):
    """The Studies section's two files, written to a folder outside the repository, plan 27 runs."""
    from benchmarks.__main__ import main

    text = (ROOT / "README.md").read_text()
    plugin = re.search(r"```python\n# my_study/my_selectors.py\n(.*?)```", text, re.S).group(1)
    study = re.search(r"```\n# my_study/hardest.gin\n(.*?)```", text, re.S).group(1)
    folder = tmp_path / "my_study"
    folder.mkdir()
    (folder / "my_readme_selectors.py").write_text(plugin.replace('"hardest"', '"hardest_readme"'))
    (folder / "hardest.gin").write_text(study.replace("import my_selectors", "import my_readme_selectors")
                                        .replace("'hardest'", "'hardest_readme'"))
    monkeypatch.syspath_prepend(str(folder))
    request.addfinalizer(lambda: registry._ENTRIES["selector"].pop("hardest_readme", None))
    assert main(["plan", str(folder / "hardest.gin"), "--executor", "local", "--results", str(tmp_path)]) == 0
    assert "27 runs at smoke scale, 3 seeds" in capsys.readouterr().out
    assert "# 27 runs at smoke scale, 3 seeds" in text
