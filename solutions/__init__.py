"""The lab's exercises, solved: the source of the student's exercises/ (python -m tools.make_exercises)."""
