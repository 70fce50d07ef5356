# Generated from solutions/ by `python -m tools.make_exercises`: do not edit here.
"""The lab's exercises. solutions/ is the source of truth; exercises/ is generated from it."""
