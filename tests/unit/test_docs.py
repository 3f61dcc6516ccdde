"""The documentation site: its settings table comes from ``Settings`` and lists every
setting; the docs and README.md name only real settings, and README.md's links resolve."""

import importlib.util
import re
from dataclasses import fields
from pathlib import Path

from cryptoflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
VARIABLE = re.compile(r"\bCRYPTOFLOW_[A-Z][A-Z0-9_]*")
ROW = re.compile(r"^\| `(CRYPTOFLOW_[A-Z0-9_]+)` \| (.*?) \| (.*) \|$")


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(table: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in table.splitlines():
        match = ROW.match(line)
        if match:
            rows[match[1]] = (match[2], match[3])
    return rows


def _missing(table: str, settings_class: type = Settings) -> list[str]:
    """The variables of ``settings_class`` the table has no row for."""
    rows = _rows(table)
    return [spec.metadata["env"] for spec in fields(settings_class)
            if spec.metadata["env"] not in rows]


def test_settings_table_lists_every_field_of_settings():
    table = _hooks().settings_table()
    rows = _rows(table)
    assert _missing(table) == []
    assert len(rows) == len(fields(Settings)) == len(table.splitlines()) - 2
    for spec in fields(Settings):
        default, meaning = rows[spec.metadata["env"]]
        expected = f"`{spec.metadata['default']}`" if spec.metadata["default"] else "(empty)"
        assert default == expected, spec.name
        assert meaning == " ".join(spec.metadata["doc"].split()).replace("|", "\\|")


def test_a_table_without_a_setting_is_caught():
    table = _hooks().settings_table()
    lines = [line for line in table.splitlines() if "`CRYPTOFLOW_STREAM_SILENCE`" not in line]
    assert _missing("\n".join(lines)) == ["CRYPTOFLOW_STREAM_SILENCE"]


def test_configuration_page_is_rendered_with_the_table():
    hooks = _hooks()
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert page.count(hooks.MARKER) == 1
    rendered = hooks.on_page_markdown(page, None, None, None)
    assert hooks.MARKER not in rendered
    assert _missing(rendered) == []


def test_docs_and_readme_name_only_real_settings():
    known = {spec.metadata["env"] for spec in fields(Settings)}
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    named = {(page.relative_to(ROOT).as_posix(), variable)
             for page in pages for variable in VARIABLE.findall(page.read_text("utf-8"))}
    assert named, "no CRYPTOFLOW_* variable found in the docs"
    assert sorted((page, v) for page, v in named if v not in known) == []


def test_readme_is_the_pitch_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) < 10_000
    two = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    assert "make run " in two and "make test " in two
    targets = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme)
    assert targets
    assert [t for t in targets if not (ROOT / t).exists()] == []
