"""The wheel installs only ``cryptoflow``: agents/ and tables/ live inside it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_claims_no_generic_top_level_names(tmp_path: Path) -> None:
    # built from a copy of the sources alone: a build/ left in the tree by an earlier
    # build would add what setup.cfg no longer (or not yet) lists
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".*", "build", "dist", "site", "*.egg-info", "__pycache__", "tests", "bench"))
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path),
         str(source)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("cryptoflow-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/", 1)[0] for name in names if not name.split("/")[0].endswith(
        ".dist-info")}
    assert top_level == {"cryptoflow"}
    assert "cryptoflow/agents/persist.py" in names
    assert "cryptoflow/tables/__init__.py" in names
    assert "cryptoflow/web/static/dashboard.html" in names
    assert "cryptoflow/web/static/favicon.svg" in names
    assert not any(name.startswith(("agents/", "tables/", "tests/")) for name in names)
    # every module of the tree is in the wheel (a package missing from setup.cfg's list
    # would leave an import of it failing wherever the wheel is installed: the image)
    sources = {f"cryptoflow/{path.relative_to(ROOT / 'cryptoflow')}"
               for path in (ROOT / "cryptoflow").rglob("*.py")}
    sources |= {f"cryptoflow/{path.relative_to(ROOT)}"
                for folder in ("agents", "tables") for path in (ROOT / folder).rglob("*.py")}
    assert "cryptoflow/commands/__init__.py" in sources
    assert sources - set(names) == set()
