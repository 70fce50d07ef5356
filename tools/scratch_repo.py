"""A scratch copy of the repository's layout, for checking generated student copies.

Every top-level entry of the repository is symlinked into the scratch directory except the
student's own directories (exercises/, lessons/), which the caller generates fresh there.
Relative paths (../data/ from a lesson, `python -m exercises...` from the root) resolve as
in the real repository, and a student's files are never read.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDENT_DIRS = ("exercises", "lessons")
NOT_MIRRORED = {".git", ".venv", ".pytest_cache", ".ipynb_checkpoints", "__pycache__"}


def scratch_repo(dest: Path, root: Path = ROOT) -> Path:
    """Fill `dest` (created if needed) with symlinks to `root`'s entries; returns `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in sorted(root.iterdir()):
        if entry.name in STUDENT_DIRS or entry.name in NOT_MIRRORED:
            continue
        link = dest / entry.name
        if not link.exists():
            link.symlink_to(entry, target_is_directory=entry.is_dir())
    return dest
