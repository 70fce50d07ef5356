"""The lecture's sketches, re-implemented for the lab where more than one place needs them
(a notebook, an exercise, a benchmark). Each behaves as the lecture's code does, its bugs
included (each noted where it happens), so the lab can measure them. The production
versions live in reference_service/.
"""
