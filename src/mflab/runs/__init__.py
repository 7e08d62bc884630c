"""Run infrastructure: validated configs, atomic run directories, checkpoints, resume.

See :mod:`mflab.runs.config` (configs), :mod:`mflab.runs.context` (what a study
writes), :mod:`mflab.runs.lifecycle` (start/resume/re-plot), :mod:`mflab.runs.io`
(readers for plots and summaries), :mod:`mflab.runs.lock` (one writer per directory),
:mod:`mflab.runs.preflight` (size and path checks before anything is written),
:mod:`mflab.runs.batch` (resumable sweeps and reproductions: :mod:`mflab.runs.sweep`,
:mod:`mflab.runs.reproduce`) and :mod:`mflab.runs.executor` (serial or Dask).
"""

from mflab.errors import RunDiverged, RunError
from mflab.runs.config import (
    ConfigError,
    StudyConfig,
    build_config,
    config_from_dict,
    param,
    parse_overrides,
)
from mflab.runs.context import Checkpoint, RunContext
from mflab.runs.lifecycle import execute, prepare, prepare_resume, replot, resume, start

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
    "RunDiverged",
    "prepare",
    "prepare_resume",
    "execute",
    "start",
    "resume",
    "replot",
]
