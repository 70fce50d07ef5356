"""Write the student's exercises/ from solutions/: each solution region of a .py file
becomes `raise NotImplementedError("TODO: <hint>")` (see tools/solution_markers.py);
other files are copied as they are.

    python -m tools.make_exercises            # write the files of exercises/ that are missing
    python -m tools.make_exercises --force    # overwrite every file (a student's work is lost)
    python -m tools.make_exercises --out DIR  # write DIR/exercises instead (the tests do this)

exercises/ is the student's: it is not in git, `make exercises` (and `make grade`) create it
on first use, and a file that already exists is never overwritten without --force, except
the READMEs (instructions, not work: a student always gets the current ones). When the
scaffold of a file the student kept has changed since it was generated (the hashes in
exercises/.scaffold.json), the run says so, with the command that shows the new version.
The tests never read exercises/: they grade solutions/ and a scaffold freshly generated into
a temporary directory. Maintainers edit solutions/ only (tools/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from .solution_markers import MarkerError, strip_solutions

ROOT = Path(__file__).resolve().parents[1]
SKIP_PARTS = {"__pycache__", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc", ".png"}


def scaffold_text(path: Path, text: str) -> str:
    """The student's version of one file of solutions/ (`path` only names it in errors)."""
    if path.suffix != ".py":
        return text
    stripped, _ = strip_solutions(text, str(path))
    # The scaffold imports itself, never the reference solution.
    stripped = stripped.replace("solutions.", "exercises.").replace(
        "python -m solutions", "python -m exercises"
    )
    compile(stripped, f"exercises/{path.name} (from {path})", "exec")  # still valid Python
    return stripped


def scaffold(solutions: Path = ROOT / "solutions") -> dict[Path, str]:
    """Relative path -> text of every file of the scaffold."""
    files = {}
    for src in sorted(solutions.rglob("*")):
        rel = src.relative_to(solutions)
        if src.is_dir() or SKIP_PARTS & set(rel.parts) or src.suffix in SKIP_SUFFIXES:
            continue
        files[rel] = scaffold_text(src, src.read_text())
    return files


HASHES = ".scaffold.json"  # relative path -> sha256 of the scaffold text it was written from


def is_instructions(rel: Path) -> bool:
    """Files the student reads but does not edit: refreshed on every run."""
    return rel.name == "README.md"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write(
    files: dict[Path, str], dest: Path, force: bool
) -> tuple[list[Path], list[Path], list[Path]]:
    """Write `files` under `dest`; (written, kept because they existed, kept although their
    scaffold changed since they were written)."""
    hashes_path = dest / HASHES
    hashes = json.loads(hashes_path.read_text()) if hashes_path.exists() else {}
    written, kept, stale = [], [], []
    for rel, text in files.items():
        target = dest / rel
        if target.exists() and not force and not is_instructions(rel):
            kept.append(rel)
            recorded = hashes.get(str(rel))
            if recorded is None and target.read_text() == text:
                hashes[str(rel)] = _sha(text)  # made before hashes were kept, still untouched
            elif recorded is not None and recorded != _sha(text):
                stale.append(rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if not (target.exists() and target.read_text() == text):
            target.write_text(text)
            written.append(rel)
        hashes[str(rel)] = _sha(text)
    dest.mkdir(parents=True, exist_ok=True)
    hashes_path.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
    return written, kept, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.make_exercises",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite files that exist (your edits in them are lost)",
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT, help="write OUT/exercises (default: the repository)"
    )
    args = parser.parse_args(argv)
    try:
        files = scaffold()
    except (MarkerError, SyntaxError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    dest = args.out / "exercises"
    legacy = dest.exists() and not (dest / HASHES).exists()  # made before hashes were kept
    written, kept, stale = write(files, dest, args.force)
    where = dest if args.out != ROOT else Path("exercises")
    print(
        f"{where}/: {len(written)} file(s) written, {len(kept)} kept as they were"
        + (" (--force regenerates them)" if kept else "")
    )
    if legacy and kept:
        print(
            f"note: {where}/ was made by an older version of this tool: from now on a change "
            "to the scaffold of a file you keep is named here; one made before now cannot be."
        )
    for rel in stale:
        print(
            f"note: the scaffold of {where / rel} changed since yours was written; your file "
            f"is kept. See the new one: .venv/bin/python -m tools.make_exercises --force "
            f"--out /tmp/new && diff {where / rel} /tmp/new/exercises/{rel}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
