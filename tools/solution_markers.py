"""The solution markers shared by solutions/ and the solved notebooks, and their stripping.

A solution region is the lines between `# BEGIN SOLUTION: <hint>` and `# END SOLUTION`
(the hint is what the student reads). Stripping replaces each region with
`raise NotImplementedError("TODO: <hint>")` at the indentation of its BEGIN line, so the
student's copy still imports and fails, when called, with a message naming the task.
"""

from __future__ import annotations

import re

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?::[ \t]*(?P<hint>.*?))?[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
# Anything that mentions a marker but is not one (a typo, a missing "# ", a lowercase word)
# is an error: silently leaving a solution in a student's copy is the failure to avoid.
MENTION = re.compile(r"(BEGIN|END)[ _]?SOLUTION", re.IGNORECASE)
DEFAULT_HINT = "implement this"


class MarkerError(ValueError):
    """The markers of a source are not well formed; the message says where and why."""


def has_markers(text: str) -> bool:
    """True if `text` mentions a solution marker (well formed or not)."""
    return bool(MENTION.search(text))


def strip_solutions(text: str, source: str) -> tuple[str, int]:
    """(the student's version of `text`, the number of regions replaced).

    `source` names the text in error messages ("solutions/x.py", "03_cache.ipynb cell 7").
    Raises MarkerError for a BEGIN inside a region, an END without a BEGIN, a region never
    ended, or a line that mentions a marker without being one.
    """
    out: list[str] = []
    inside_since: int | None = None
    regions = 0
    for n, line in enumerate(text.splitlines(keepends=True), 1):
        bare = line.rstrip("\r\n")
        begin, end = BEGIN.match(bare), END.match(bare)
        if begin:
            if inside_since is not None:
                raise MarkerError(
                    f"{source}, line {n}: BEGIN SOLUTION inside the region "
                    f"opened on line {inside_since} (close it with # END SOLUTION)"
                )
            inside_since, regions = n, regions + 1
            hint = (begin.group("hint") or DEFAULT_HINT).replace("\\", "\\\\").replace('"', "'")
            newline = line[len(bare) :] or "\n"
            out.append(f'{begin.group("indent")}raise NotImplementedError("TODO: {hint}"){newline}')
        elif end:
            if inside_since is None:
                raise MarkerError(
                    f"{source}, line {n}: # END SOLUTION without a # BEGIN SOLUTION before it"
                )
            inside_since = None
        elif MENTION.search(bare):
            raise MarkerError(
                f"{source}, line {n}: {bare.strip()!r} looks like a solution "
                f"marker but is not one: write '# BEGIN SOLUTION: <hint>' or "
                f"'# END SOLUTION' on a line of its own"
            )
        elif inside_since is None:
            out.append(line)
    if inside_since is not None:
        raise MarkerError(
            f"{source}, line {inside_since}: # BEGIN SOLUTION is never closed by # END SOLUTION"
        )
    return "".join(out), regions
