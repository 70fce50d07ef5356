"""The code's shape (issue 17): no function in reference_service/ or mock_llm/ is longer
than MAX_LINES, unless the line just above it (above its decorators) is a comment
`# long: <reason>` that says why it reads better whole."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reference_service", "mock_llm")
MAX_LINES = 60
LONG = re.compile(r"^\s*# long: \S")


def function_lengths(source: str) -> list[tuple[str, int, int, bool]]:
    """(qualified name, first line, length in lines, excused) of every function and method,
    nested ones too. A function runs from its `def` to its last line; its decorators do
    not count, and the line above them may excuse it."""
    lines = source.splitlines()
    out: list[tuple[str, int, int, bool]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                assert child.end_lineno is not None
                length = child.end_lineno - child.lineno + 1
                top = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                excused = top >= 2 and bool(LONG.match(lines[top - 2]))
                out.append((name, child.lineno, length, excused))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return out


def test_the_rule_measures_what_it_says():
    def body(indent: str) -> str:  # with its def: one line over the limit
        return "\n".join(f"{indent}x = {i}" for i in range(MAX_LINES))

    source = (
        f"def short():\n    return 1\n\n\nclass C:\n    @staticmethod\n"
        f"    def long_one():\n{body(' ' * 8)}\n\n\n# long: a table, read top to bottom\n"
        f"@decorated\ndef excused():\n{body(' ' * 4)}\n"
    )
    found = {name: (length, excused) for name, _, length, excused in function_lengths(source)}
    assert found == {
        "short": (2, False),
        "C.long_one": (MAX_LINES + 1, False),
        "excused": (MAX_LINES + 1, True),
    }


def test_no_function_is_longer_than_the_limit_without_a_reason():
    too_long = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for name, line, length, excused in function_lengths(path.read_text()):
                if length > MAX_LINES and not excused:
                    too_long.append(f"{path.relative_to(ROOT)}:{line} {name}: {length} lines")
    assert not too_long, (
        f"functions over {MAX_LINES} lines (split them, or say why above "
        f"the def with '# long: <reason>'):\n" + "\n".join(too_long)
    )
