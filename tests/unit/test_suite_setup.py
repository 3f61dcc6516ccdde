"""How the suite reports itself: a skipped test says why in the summary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_browser_test_says_why_it_is_skipped_without_chromium(tmp_path: Path) -> None:
    """Without Chromium on PATH the browser test is skipped, and the run prints the
    reason (what to install), not only "1 skipped"."""
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty directory: no chromium here
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-p", "no:cacheprovider",
         "tests/integration/test_dashboard.py", "-k", "the_page"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = result.stdout.splitlines()
    assert any(line.startswith("SKIPPED") and "apt-get install chromium chromium-driver"
               in line for line in summary), result.stdout[-2000:]
