"""The import contracts in pyproject.toml hold, and they are able to fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from learnsite.env import BASE_DIR

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layers_hold() -> None:
    result = _lint()
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_an_upside_down_layer_contract_is_reported_broken(tmp_path: Path) -> None:
    """The same tool on the same import graph, with the ground put on top: it must fail,
    naming a real import, so a green `make lint` means something."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["learnsite", "progress"]\n\n'
        '[[tool.importlinter.contracts]]\nname = "upside down"\ntype = "layers"\n'
        'layers = ["learnsite", "progress"]\n'
    )
    result = _lint(str(config))
    assert result.returncode != 0
    assert "progress is not allowed to import learnsite" in result.stdout
