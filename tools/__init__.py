"""Maintainer tools: the student's copies (exercises/, lessons/) and the grader; see tools/README.md."""
