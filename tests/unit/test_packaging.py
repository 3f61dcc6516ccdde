"""The wheel installs only ``cryptoflow``: agents/ and tables/ live inside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_claims_no_generic_top_level_names(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path),
         str(ROOT)],
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
