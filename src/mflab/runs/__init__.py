"""Run infrastructure: validated configs, atomic run directories, checkpoints, resume.

See :mod:`mflab.runs.config` (configs), :mod:`mflab.runs.context` (what a study
writes), :mod:`mflab.runs.lifecycle` (start/resume/re-plot), :mod:`mflab.runs.io`
(readers for plots and summaries), :mod:`mflab.runs.reproduce` and
:mod:`mflab.runs.executor` (the seam for distributed sweeps).
"""

from mflab.runs.config import (
    ConfigError,
    StudyConfig,
    build_config,
    config_from_dict,
    param,
    parse_overrides,
)
from mflab.runs.context import Checkpoint, RunContext, RunError
from mflab.runs.lifecycle import execute, prepare, replot, resume, start

__all__ = [
    "ConfigError",
    "StudyConfig",
    "build_config",
    "config_from_dict",
    "param",
    "parse_overrides",
    "Checkpoint",
    "RunContext",
    "RunError",
    "prepare",
    "execute",
    "start",
    "resume",
    "replot",
]
