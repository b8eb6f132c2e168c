"""docs/security.md names the test behind each promise: every one it names must exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?`")


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_every_test_the_security_doc_names_exists():
    references = REFERENCE.findall(DOC.read_text(encoding="utf-8"))
    assert len(references) >= 30, "the threat model should name the tests of its promises"
    missing = []
    for file, name in references:
        path = ROOT / file
        if not path.is_file():
            missing.append(file)
        elif name and name not in _test_names(path):
            missing.append(f"{file}::{name}")
    assert missing == []


def test_the_readme_links_the_security_doc():
    assert "docs/security.md" in (ROOT / "README.md").read_text(encoding="utf-8")
