"""Generate exercises/ from solutions/: every `# BEGIN SOLUTION: hint` .. `# END SOLUTION`
block becomes `raise NotImplementedError("TODO: hint")` at the same indentation.

    python -m tools.make_exercises           # write exercises/
    python -m tools.make_exercises --check   # exit 1 if exercises/ is stale (CI)

exercises/ is never edited by hand: edit solutions/ and run this.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?::\s*(?P<hint>.*))?$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
HEADER = "# Generated from solutions/ by `python -m tools.make_exercises`: do not edit here.\n"


def strip(text: str, source: str) -> str:
    """The scaffold of one solution file."""
    out, inside = [], False
    for n, line in enumerate(text.splitlines(keepends=True), 1):
        m = BEGIN.match(line.rstrip("\n"))
        if m:
            if inside:
                raise ValueError(f"{source}:{n}: BEGIN SOLUTION inside another block")
            inside = True
            hint = (m.group("hint") or "implement this").replace('"', "'")
            out.append(f'{m.group("indent")}raise NotImplementedError("TODO: {hint}")\n')
        elif END.match(line):
            if not inside:
                raise ValueError(f"{source}:{n}: END SOLUTION without BEGIN")
            inside = False
        elif not inside:
            out.append(line.replace("solutions.", "exercises.").replace(
                "python -m solutions", "python -m exercises"))
    if inside:
        raise ValueError(f"{source}: BEGIN SOLUTION never ended")
    body = "".join(out)
    return HEADER + body if source.endswith(".py") else body


def generated() -> dict[Path, str]:
    files = {}
    for src in sorted((ROOT / "solutions").rglob("*")):
        if src.is_dir() or "__pycache__" in src.parts:
            continue
        rel = src.relative_to(ROOT / "solutions")
        text = src.read_text()
        files[ROOT / "exercises" / rel] = strip(text, str(src)) if src.suffix == ".py" else text
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    want = generated()
    have = {p: p.read_text() for p in (ROOT / "exercises").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}
    stale = sorted(str(p.relative_to(ROOT)) for p in set(want) | set(have)
                   if want.get(p) != have.get(p))
    if args.check:
        if stale:
            print("exercises/ is stale; run `python -m tools.make_exercises`:\n  " +
                  "\n  ".join(stale))
            return 1
        print(f"exercises/ is up to date ({len(want)} files)")
        return 0
    for p in set(have) - set(want):
        p.unlink()
    for p, text in want.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    print(f"wrote {len(want)} files to exercises/ ({len(stale)} changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
