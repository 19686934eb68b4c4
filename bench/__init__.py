"""Benchmarks of the image app on the devstack: figures side by side, never pass/fail on time.

Each scenario starts its own devstack (Azurite + emulator + Functions host on free ports), sets
the emulator's latency and quota for what it measures (``coldstart`` needs none: it times fresh
interpreters importing the app), and returns a :class:`bench.report.Result`
that ``python -m bench`` prints, writes to ``bench/results/NAME.json`` and folds into
``bench/LATEST.md``.
"""
