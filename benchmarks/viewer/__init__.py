"""Viewer benchmark: OHIF against radhub and against Orthanc (same OHIF, same machine, same run), and the study list.

Run ``python -m benchmarks.viewer run [--smoke] [--slices 300] [--repeat N]``
from the repository root; ``benchmarks/README.md`` ("Viewer") says what is
measured and how.
"""
