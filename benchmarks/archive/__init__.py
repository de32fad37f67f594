"""Archive performance benchmark: radhub against Orthanc on the same machine, in the same run.

Run ``python -m benchmarks.archive run --help`` from the repository root;
``benchmarks/README.md`` gives the command for every published figure.
"""
