"""Nothing in reference_service/ imports the fake upstream (mock_llm/), except the one
sanctioned place: services.py starts it in-process when OPENAI_BASE_URL is unset."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import reference_service

PACKAGE = Path(reference_service.__file__).parent
SANCTIONED = [("services.py", "_upstream")]  # (file, enclosing function)


def _names_mock_llm(module: str | None) -> bool:
    return (module or "").split(".")[0] == "mock_llm"


def _is_import(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(_names_mock_llm(a.name) for a in node.names)
    if isinstance(node, ast.ImportFrom):
        return node.level == 0 and _names_mock_llm(node.module)
    if isinstance(node, ast.Call) and node.args:  # importlib.import_module / __import__
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        arg = node.args[0]
        return (
            name in ("import_module", "__import__")
            and isinstance(arg, ast.Constant)
            and isinstance(arg.value, str)
            and _names_mock_llm(arg.value)
        )
    return False


def mock_llm_imports(source: str) -> list[str | None]:
    """The enclosing function of every import of mock_llm in `source` (None: module level)."""
    found: list[str | None] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_import(child):
                found.append(function)
            inner = (
                child.name
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                else function
            )
            visit(child, inner)

    visit(ast.parse(source), None)
    return found


def test_the_scan_finds_every_form_of_import():
    source = (
        "import mock_llm\nfrom mock_llm.tokens import count_tokens\n"
        "def f():\n    import importlib\n    importlib.import_module('mock_llm.config')\n"
        "async def g():\n    from mock_llm import MockConfig\n"
        "from .mock_llm_like import x\nimport mock_llmish\n"
    )
    assert mock_llm_imports(source) == [None, None, "f", "g"]


def test_only_the_embedded_default_imports_the_fake():
    found = [
        (str(path.relative_to(PACKAGE)), function)
        for path in sorted(PACKAGE.rglob("*.py"))
        for function in mock_llm_imports(path.read_text())
    ]
    assert found == SANCTIONED


def test_building_the_app_does_not_load_the_fake():
    code = (
        "import sys\nfrom reference_service import Settings, create_app\n"
        "create_app(Settings(_env_file=None))\n"
        "import reference_service.tokens, reference_service.pricing\n"
        "print('mock_llm' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "False"
