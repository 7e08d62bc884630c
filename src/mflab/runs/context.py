"""The run context: what a study writes into its (still hidden) run directory.

A run is built in a hidden directory ``.NAME.partial`` beside its final name ``NAME``
and renamed at the very end (:mod:`mflab.runs.lifecycle`), so a crash never leaves a
directory under the final name. A study writes only through its :class:`RunContext`:

* ``log_metrics(rows)`` — long-format metrics (columns ``study, optimizer, seed, step,
  metric, value`` plus any extra columns); buffered and flushed at each checkpoint,
  consolidated into ``metrics.parquet`` at the end.
* ``save_arrays(name, **arrays)`` — ``arrays/NAME.npz``.
* ``save_table(name, df)`` — ``tables/NAME.csv`` (a human-readable result table).
* ``save_checkpoint(progress, state, extra)`` / ``load_checkpoint(like)`` — resume points.
* ``record_timing(label, seconds)``, ``warn(message)``, ``note(key, value)`` — provenance
  kept in ``meta.json``.
* ``diverged(method, message, step=...)`` — every agent of one method diverged: the run
  goes on with the other methods, then ends with status ``"diverged"`` (a failure).

Resume contract: everything logged *before* a checkpoint survives a kill; metrics logged
after the last checkpoint are discarded on resume (the study redoes that work), so a
resumed run writes exactly the rows of an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mflab.errors import RunError, describe_divergence

REQUIRED_METRIC_COLUMNS = ("study", "optimizer", "seed", "step", "metric", "value")
_CKPT_JSON = "checkpoint.json"



@dataclass
class Checkpoint:
    """A resume point: a progress counter, an optional pytree and a JSON-able dict."""

    progress: int
    state: Any
    extra: dict[str, Any]


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temporary file + rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def save_npz(path: Path, arrays: dict[str, Any]) -> None:
    """Write an ``.npz`` atomically."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    os.replace(tmp, path)


class RunContext:
    """Handle through which a study writes its run directory.

    Attributes:
      study: the study's registry name.
      config: the validated config (a frozen :class:`~mflab.runs.config.StudyConfig`).
      seed: the run's integer seed; :attr:`key` is ``jax.random.PRNGKey(seed)``.
      dir: the directory being written (the hidden partial directory).
      final_dir: the name the run gets when it completes.
      progress: whether studies should show progress bars.
      resumed: whether this context continues an interrupted run.
      executor: where a study may send independent jobs (``map(fn, items)``, see
        :mod:`mflab.runs.executor`; ``mflab run --dask``), or ``None``: run them here.
        Jobs must derive their randomness and their precision from their own
        description (a worker runs them outside the run's float64 context; C5's
        ``run_job`` enables it itself), so that the results do not depend on the executor.
    """

    def __init__(self, study: str, config, seed: int, partial_dir: Path, final_dir: Path,
                 *, progress: bool = True, resumed: bool = False, lock=None):
        self.study = study
        self.config = config
        self.seed = int(seed)
        self.dir = Path(partial_dir)
        self.final_dir = Path(final_dir)
        self.progress = progress
        self.resumed = resumed
        self.lock = lock  # the held mflab.runs.lock.RunLock of the directory, if any
        self.executor = None
        self._rows: list[Any] = []
        self._parts = 0
        self._timings: dict[str, float] = {}
        self._warnings: list[str] = []
        self._notes: dict[str, Any] = {}
        self._divergences: list[dict[str, Any]] = []
        self.run_complete = False
        for sub in ("arrays", "tables", "figures", "metrics-parts", "checkpoint"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        if resumed:
            self._restore_bookkeeping()

    # ------------------------------------------------------------------ randomness
    @property
    def key(self):
        """``jax.random.PRNGKey(seed)``: the root key of the run."""
        import jax

        return jax.random.PRNGKey(self.seed)

    # --------------------------------------------------------------------- metrics
    def log_metrics(self, rows, **common) -> None:
        """Buffer long-format metric rows (a DataFrame, a dict or a list of dicts).

        ``study`` and ``seed`` are filled in when absent; ``common`` adds constant
        columns (e.g. ``optimizer="sgd"``). Each row needs ``optimizer, step, metric,
        value``; extra columns are kept.
        """
        import pandas as pd

        df = pd.DataFrame([rows] if isinstance(rows, dict) else rows).copy()
        for k, v in common.items():
            df[k] = v
        if "study" not in df:
            df["study"] = self.study
        if "seed" not in df:
            df["seed"] = self.seed
        missing = [c for c in REQUIRED_METRIC_COLUMNS if c not in df]
        if missing:
            raise ValueError(f"metric rows miss columns {missing}; need {REQUIRED_METRIC_COLUMNS}.")
        extra = [c for c in df.columns if c not in REQUIRED_METRIC_COLUMNS]
        df = df[list(REQUIRED_METRIC_COLUMNS) + extra]
        df["step"] = df["step"].astype("int64")
        df["seed"] = df["seed"].astype("int64")
        df["value"] = df["value"].astype("float64")
        self._rows.append(df)

    def _flush_metrics(self) -> None:
        if not self._rows:
            return
        import pandas as pd

        df = pd.concat(self._rows, ignore_index=True)
        path = self.dir / "metrics-parts" / f"part-{self._parts:05d}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        self._parts += 1
        self._rows = []

    def consolidate_metrics(self) -> Path:
        """Flush the buffer and merge every part into ``metrics.parquet`` (idempotent)."""
        import pandas as pd

        self._flush_metrics()
        parts = sorted((self.dir / "metrics-parts").glob("part-*.parquet"))
        out = self.dir / "metrics.parquet"
        if parts:
            df = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        elif out.exists():
            return out
        else:
            df = pd.DataFrame({c: [] for c in REQUIRED_METRIC_COLUMNS})
        tmp = out.with_name(out.name + ".tmp")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, out)
        return out

    # ---------------------------------------------------------------- arrays, tables
    def save_arrays(self, name: str, **arrays) -> Path:
        """Write ``arrays/NAME.npz`` (atomically; rewriting the same name replaces it)."""
        path = self.dir / "arrays" / f"{name}.npz"
        save_npz(path, arrays)
        return path

    def save_table(self, name: str, df) -> Path:
        """Write a result table to ``tables/NAME.csv``."""
        path = self.dir / "tables" / f"{name}.csv"
        tmp = path.with_name(path.name + ".tmp")
        df.to_csv(tmp, index=False)
        os.replace(tmp, path)
        return path

    # ------------------------------------------------------------------ provenance
    def record_timing(self, label: str, seconds: float) -> None:
        """Wall time of one piece of work (kept in ``meta.json`` under ``timings``)."""
        self._timings[label] = float(seconds)

    def timing(self, label: str) -> float | None:
        """A timing recorded earlier in this run (also before a resume)."""
        return self._timings.get(label)

    def warn(self, message: str) -> None:
        """Print a warning on stderr and keep it in ``meta.json`` (and the summary)."""
        if message not in self._warnings:
            self._warnings.append(message)
        print(f"warning: {message}", file=sys.stderr)

    def note(self, key: str, value: Any) -> None:
        """Keep a JSON-able fact about the run in ``meta.json`` under ``notes``."""
        self._notes[key] = value

    def diverged(self, method: str, message: str, *, step: int | None = None) -> None:
        """Record that ``method`` diverged — every agent of it, or its run was stopped, so
        it has no result — at ``step`` if known (``message`` says more).

        The study goes on with its other methods; when it ends, the runner finishes the
        run directory with status ``"diverged"`` in ``meta.json`` (which lists every
        such method, step and message) and raises :class:`RunDiverged`, so the command
        exits non-zero naming the method and the step. The record survives a resume.
        """
        entry = {"method": method, "step": None if step is None else int(step),
                 "message": " ".join(str(message).split())}
        if entry not in self._divergences:
            self._divergences.append(entry)
        self.warn(describe_divergence(entry))

    @property
    def divergences(self) -> list[dict[str, Any]]:
        """The divergences recorded so far (see :meth:`diverged`)."""
        return list(self._divergences)

    def bookkeeping(self) -> dict[str, Any]:
        """Timings, warnings, notes and divergences so far (what goes into ``meta.json``)."""
        return {"timings": dict(self._timings), "warnings": list(self._warnings),
                "notes": dict(self._notes), "divergences": list(self._divergences)}

    # ----------------------------------------------------------------- checkpoints
    def save_checkpoint(self, progress: int, state: Any = None,
                        extra: dict[str, Any] | None = None) -> None:
        """Make a resume point: flush metrics, save ``state`` (a pytree) and ``extra``.

        The JSON file is written last and names the leaves file, so a kill at any
        moment leaves the previous checkpoint or the new one, never a mixture.
        """
        import jax

        self._flush_metrics()
        leaves = jax.tree_util.tree_leaves(state) if state is not None else []
        leaves = [_key_data(x) for x in leaves]
        ck_dir = self.dir / "checkpoint"
        npz_name = f"state-{int(progress):08d}.npz"
        save_npz(ck_dir / npz_name, {f"leaf_{i:05d}": np.asarray(x) for i, x in enumerate(leaves)})
        old = read_checkpoint_info(self.dir)
        write_json(ck_dir / _CKPT_JSON, {
            "progress": int(progress), "state_file": npz_name, "n_leaves": len(leaves),
            "has_state": state is not None, "extra": extra or {}, "metric_parts": self._parts,
            "run_complete": self.run_complete, **self.bookkeeping(),
        })
        if old and old.get("state_file") not in (None, npz_name):
            (ck_dir / old["state_file"]).unlink(missing_ok=True)

    def load_checkpoint(self, like: Any = None) -> Checkpoint | None:
        """The last checkpoint, or None. With ``like`` (a pytree of the same structure)
        the state is rebuilt with its tree structure and dtypes as JAX arrays; without
        it, the state is the list of leaves as NumPy arrays."""
        import jax

        info = read_checkpoint_info(self.dir)
        if not info or info.get("state_file") is None:
            return None
        state = None
        if info["has_state"]:
            leaves = _read_leaves(self.dir / "checkpoint" / info["state_file"], info["n_leaves"])
            if like is not None:
                ref, treedef = jax.tree_util.tree_flatten(like)
                if len(ref) != len(leaves):
                    raise RunError(
                        f"checkpoint has {len(leaves)} arrays but the state template has "
                        f"{len(ref)}; the study code changed since the run started."
                    )
                leaves = [_like(v, r) for v, r in zip(leaves, ref, strict=True)]
                state = jax.tree_util.tree_unflatten(treedef, leaves)
            else:
                state = leaves
        return Checkpoint(progress=info["progress"], state=state, extra=info["extra"])

    def mark_complete(self) -> None:
        """Record that ``study.run`` finished (a resume then only redoes the final steps)."""
        self.run_complete = True
        self._flush_metrics()
        info = read_checkpoint_info(self.dir) or {"progress": -1, "state_file": None, "n_leaves": 0,
                                          "has_state": False, "extra": {}}
        info.update(run_complete=True, metric_parts=self._parts, **self.bookkeeping())
        write_json(self.dir / "checkpoint" / _CKPT_JSON, info)

    def _restore_bookkeeping(self) -> None:
        """On resume: drop metric parts written after the last checkpoint, reload provenance."""
        info = read_checkpoint_info(self.dir) or {}
        self._parts = int(info.get("metric_parts", 0))
        for p in (self.dir / "metrics-parts").glob("part-*.parquet"):
            if int(p.stem.split("-")[1]) >= self._parts:
                p.unlink()
        self._timings = dict(info.get("timings", {}))
        self._warnings = list(info.get("warnings", []))
        self._notes = dict(info.get("notes", {}))
        self._divergences = list(info.get("divergences", []))
        self.run_complete = bool(info.get("run_complete", False))


def read_checkpoint_info(run_dir: Path) -> dict[str, Any] | None:
    """``checkpoint/checkpoint.json`` of a (partial) run, or None; a damaged file is a
    one-line :class:`RunError` naming it."""
    path = Path(run_dir) / "checkpoint" / _CKPT_JSON
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
        if not isinstance(info, dict):
            raise ValueError(f"expected a JSON object, got {type(info).__name__}")
    except (OSError, ValueError) as e:
        raise RunError(f"{path} is damaged ({type(e).__name__}: {e}); the run cannot be "
                       "resumed.") from None
    return info


def check_resumable(run_dir: Path) -> None:
    """Refuse (one line naming the file) a partial directory whose checkpoint is
    unreadable or whose checkpointed metric parts or state file are missing."""
    run_dir = Path(run_dir)
    info = read_checkpoint_info(run_dir) or {}
    n_parts = int(info.get("metric_parts", 0))
    for i in range(n_parts):
        part = run_dir / "metrics-parts" / f"part-{i:05d}.parquet"
        if not part.is_file():
            raise RunError(f"{part} is missing (the checkpoint counts {n_parts} metric parts); "
                           "the run cannot be resumed.")
    if info.get("has_state") and info.get("state_file"):
        state = run_dir / "checkpoint" / info["state_file"]
        if not state.is_file():
            raise RunError(f"{state} is missing; the run cannot be resumed.")


def _read_leaves(path: Path, n: int) -> list[np.ndarray]:
    """The ``n`` arrays of a checkpoint state file (a damaged file: one-line RunError)."""
    try:
        with np.load(path) as z:
            return [z[f"leaf_{i:05d}"] for i in range(n)]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise RunError(f"{path} is damaged ({type(e).__name__}); the run cannot be "
                       "resumed.") from None


def _is_key(x) -> bool:
    import jax

    dtype = getattr(x, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _key_data(x):
    """Typed PRNG keys are stored as their raw data."""
    import jax

    return jax.random.key_data(x) if _is_key(x) else x


def _like(value: np.ndarray, ref):
    """``value`` as a JAX array with the dtype of ``ref`` (typed keys re-wrapped)."""
    import jax
    import jax.numpy as jnp

    if _is_key(ref):
        return jax.random.wrap_key_data(jnp.asarray(value), impl=jax.random.key_impl(ref))
    return jnp.asarray(value, dtype=jnp.result_type(ref))
