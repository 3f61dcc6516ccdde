"""mkdocs hooks (``hooks:`` in mkdocs.yml): what the site takes from the code at build time.

- The settings table: ``<!-- settings-table -->`` on a page becomes the table of every
  setting (variable, default, meaning) read from ``cryptoflow.settings.Settings`` itself,
  so docs/configuration.md can never drift from the code.
- bench/README.md and bench/RESULTS.md (the benchmarks' method, journal and latest
  figures) become pages of the site under bench/, from the files where they live.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

MARKER = "<!-- settings-table -->"
ROOT = Path(__file__).resolve().parent.parent
BENCH_PAGES = ("bench/README.md", "bench/RESULTS.md")


def _cell(text: str) -> str:
    """Text that stays in one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def settings_table(settings_class: Any = None) -> str:
    """The Markdown table of every field of ``Settings``: one row each, in declaration
    order, from the field's metadata (``_setting(env, parse, default, doc)``)."""
    if settings_class is None:
        from cryptoflow.settings import Settings

        settings_class = Settings
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for spec in fields(settings_class):
        meta = spec.metadata
        default = f"`{meta['default']}`" if meta["default"] else "(empty)"
        rows.append(f"| `{meta['env']}` | {default} | {_cell(meta['doc'])} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, settings_table())
    return markdown


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    for path in BENCH_PAGES:
        files.append(File.generated(config, path, abs_src_path=str(ROOT / path)))
    return files
