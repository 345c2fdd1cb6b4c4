"""The documentation a clone carries: every relative link resolves inside the repository, and
the docs the README promises exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")
DOCS = ("architecture.md", "operator-guide.md", "troubleshooting.md", "moonshot-cli.md")


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_docs_exist_and_the_readme_links_them() -> None:
    """docs/ holds the architecture, operator guide, troubleshooting and Moonshot CLI notes."""
    readme = (ROOT / "README.md").read_text()
    for name in DOCS:
        assert (ROOT / "docs" / name).is_file()
        assert f"](docs/{name})" in readme


def test_relative_links_stay_inside_the_repository_and_resolve() -> None:
    """No link leaves the repository (a clone has nothing beside it), and each one resolves."""
    for path in _markdown_files():
        prose = re.sub(r"```.*?```|`[^`\n]*`", "", path.read_text(), flags=re.S)  # not code
        for target in LINK.findall(prose):
            if re.match(r"[a-z]+://|#|mailto:", target):
                continue
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            assert resolved.is_relative_to(ROOT), f"{path.name}: {target} leaves the repository"
            assert resolved.exists(), f"{path.name}: {target} does not exist"


def test_no_document_names_the_team_area() -> None:
    """The product's documents never point at the team's notes (``shared/``)."""
    for path in _markdown_files():
        assert "shared/" not in path.read_text(), path.name
