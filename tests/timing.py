"""CPU time of a child process, for the tests' budgets on the quick presets.

A budget on wall time fails on a loaded machine (CI shares its cores) although the work
did not grow; the CPU seconds of the child and the processes it waited for grow only with
the work. ``getrusage(RUSAGE_CHILDREN)`` counts children that have been waited for, which
``subprocess.run`` does before it returns.
"""

from __future__ import annotations

import resource
import subprocess


def run_cpu_timed(cmd, **kwargs) -> tuple[subprocess.CompletedProcess, float]:
    """``subprocess.run(cmd, **kwargs)`` and the CPU seconds (user + system) it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, **kwargs)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
