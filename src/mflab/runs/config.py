"""Study configurations: frozen dataclasses validated when they are built.

A study's config is a frozen dataclass deriving from :class:`StudyConfig`. Each field
is declared with :func:`param`, which records its allowed range or choices and a
one-line description in the field's metadata. A config is validated whenever it is
constructed — directly in Python, from a preset plus ``--set key=value`` overrides
(:func:`build_config`), or from a saved ``config.json`` (:func:`config_from_dict`) —
and every refusal is a :class:`ConfigError` whose one-line message says what was given
and what is allowed.

Supported field types: ``int``, ``float``, ``bool``, ``str``, ``tuple[int, ...]``,
``tuple[float, ...]``, ``tuple[str, ...]`` and any of these ``| None``. On the command
line a tuple is written comma-separated (``kappas=0.1,0.4``; an empty item is refused)
and ``None`` as ``none``. Every integer lies in ``[-INDEX_MAX - 1, INDEX_MAX]``
(:data:`INDEX_MAX` = 2**31 − 1, what JAX indexes with int32), so ``n_agents=1e30`` is a
one-line config error rather than an overflow deep inside JAX.

Size: :meth:`StudyConfig.memory_bytes` estimates the memory a run of the config needs;
the runner refuses a config whose estimate exceeds the machine's memory (or the user's
``--max-memory``) before anything is allocated (:mod:`mflab.runs.preflight`).

Presets: ``PRESETS = {"paper": {}, "quick": {...}}`` holds overrides of the field
defaults; the defaults themselves are the paper-scale values (SPEC: "every parameter
named here is a config field with the stated default").
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

from mflab.errors import ConfigError

#: Largest integer a config field may hold: JAX indexes arrays with int32.
INDEX_MAX = 2**31 - 1


def is_seed(value) -> bool:
    """A root seed: an integer (not a bool) in [0, INDEX_MAX], ``jax.random.PRNGKey``'s range.
    The one seed check of runs, sweeps and the command line."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INDEX_MAX


def param(
    default: Any,
    *,
    doc: str = "",
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple | None = None,
) -> Any:
    """A config field with its default, description and allowed range.

    Args:
      default: the (paper-scale) default; must itself be allowed.
      doc: one-line description (shown by ``mflab list -v`` and in error messages' context).
      ge, gt, le, lt: bounds (≥, >, ≤, <) on a number, or on every element of a tuple.
      choices: the allowed values (for strings, or every element of a tuple of strings).
    """
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices}
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Base class of study configs: validates every field on construction.

    Subclasses are frozen dataclasses; they may override :meth:`check` for constraints
    that involve several fields (raise :class:`ConfigError` there).
    """

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}}

    def __post_init__(self):
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(f.name, getattr(self, f.name), hints[f.name])
            _check_range(f.name, value, f.metadata)
            object.__setattr__(self, f.name, value)
        self.check()

    def check(self) -> None:
        """Cross-field constraints (none by default)."""

    def memory_bytes(self) -> int:
        """Estimated peak memory (bytes) of a run of this config, from its sizes alone.

        An order-of-magnitude upper estimate of the largest arrays a run holds at once
        (with their temporaries), used to refuse a run that cannot fit before anything
        is allocated. Studies override it; the default, 0, means "small" (never refused).
        """
        return 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _jsonable(v):
    return list(v) if isinstance(v, tuple) else v


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _split_optional(tp) -> tuple[Any, bool]:
    """(inner type, whether None is allowed)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported config field type {tp!r}")
        return args[0], True
    return tp, False


def type_name(tp) -> str:
    """Human name of a supported field type, for error messages."""
    inner, optional = _split_optional(tp)
    if typing.get_origin(inner) is tuple:
        name = f"comma-separated list of {typing.get_args(inner)[0].__name__}"
    else:
        name = inner.__name__
    return name + (" or none" if optional else "")


def _coerce(name: str, value: Any, tp) -> Any:
    """Check the type of an already-parsed value (Python or JSON); ints are accepted as floats."""
    inner, optional = _split_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name} must be {type_name(tp)}; got None.")
    if typing.get_origin(inner) is tuple:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ConfigError(f"{name} must be a {type_name(tp)}; got {value!r}.")
        elem = typing.get_args(inner)[0]
        if not value:
            raise ConfigError(f"{name} must be a non-empty {type_name(tp)}; got {value!r}.")
        return tuple(_scalar(name, v, elem, tp) for v in value)
    return _scalar(name, value, inner, tp)


def _scalar(name: str, value: Any, tp, full_tp) -> Any:
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }
    if tp not in ok:
        raise TypeError(f"unsupported config field type {tp!r} for {name}")
    if not ok[tp](value):
        raise ConfigError(f"{name} must be {type_name(full_tp)}; got {value!r}.")
    if tp is float:
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number; got {value}.")
    if tp is int and not -INDEX_MAX - 1 <= value <= INDEX_MAX:
        shown = value if abs(value) < 10**15 else f"{value:.3g}"
        bound = f"<= {INDEX_MAX}" if value > 0 else f">= {-INDEX_MAX - 1}"
        raise ConfigError(f"{name} must be {bound} (JAX indexes with int32); got {shown}.")
    return value


def _check_range(name: str, value: Any, meta: Mapping[str, Any]) -> None:
    if value is None:
        return
    items = value if isinstance(value, tuple) else (value,)
    for v in items:
        choices = meta.get("choices")
        if choices is not None and v not in choices:
            allowed = ", ".join(map(str, choices))
            raise ConfigError(f"{name}: {v!r} is not allowed; choose from: {allowed}.")
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        for key, op, sym in (
            ("ge", lambda a, b: a >= b, ">="),
            ("gt", lambda a, b: a > b, ">"),
            ("le", lambda a, b: a <= b, "<="),
            ("lt", lambda a, b: a < b, "<"),
        ):
            bound = meta.get(key)
            if bound is not None and not op(v, bound):
                raise ConfigError(f"{name} must be {sym} {bound}; got {v!r}.")


def parse_value(name: str, text: str, tp) -> Any:
    """Parse a command-line string into a field of type ``tp``."""
    inner, optional = _split_optional(tp)
    if optional and text.strip().lower() in ("none", "null"):
        return None
    if typing.get_origin(inner) is tuple:
        elem = typing.get_args(inner)[0]
        parts = [p.strip() for p in text.split(",")]
        if "" in parts:
            raise ConfigError(f"{name} must be a {type_name(tp)} without empty items; "
                              f"got {text!r}.")
        return tuple(_parse_scalar(name, p, elem, tp) for p in parts)
    return _parse_scalar(name, text, inner, tp)


def _parse_scalar(name: str, text: str, tp, full_tp) -> Any:
    t = text.strip()
    try:
        if tp is bool:
            low = t.lower()
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            f = float(t)  # accept 1e5
            if not f.is_integer():
                raise ValueError
            return int(f)
        if tp is float:
            return float(t)
        return t
    except ValueError:
        raise ConfigError(f"{name} must be {type_name(full_tp)}; got {text!r}.") from None


def overrides_from_file(path) -> list[str]:
    """The ``key=value`` overrides written in a config file (``--config FILE``): a TOML
    (``.toml``) or JSON (``.json``) table of config fields — numbers, strings, booleans,
    lists for tuples, ``null`` (JSON) for None — turned into the very strings ``--set``
    takes, so that a file and the same ``--set`` flags are validated alike and give the
    same config. Raises :class:`ConfigError` naming the file and what is wrong."""
    import json
    import tomllib
    from pathlib import Path

    path = Path(path)
    kinds = {".toml": "TOML", ".json": "JSON"}
    if path.suffix.lower() not in kinds:
        raise ConfigError(f"config file {path} must end in .toml or .json; got "
                          f"{path.suffix or 'no suffix'!r}.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file {path} cannot be read: {e.__class__.__name__}: "
                          f"{' '.join(str(e).split())}.") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"config file {path} is not valid {kinds[path.suffix.lower()]}: "
                          f"{' '.join(str(e).split())}.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table of config fields; got a "
                          f"{type(data).__name__}.")

    def text_of(key, v) -> str:
        if v is None:
            return "none"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float | str):
            return str(v)
        if isinstance(v, list) and all(isinstance(x, int | float | str) and
                                       not isinstance(x, bool) for x in v):
            return ",".join(map(str, v))
        raise ConfigError(f"config file {path}: {key} must be a number, string, boolean or "
                          f"a list of numbers/strings; got {v!r}.")

    return [f"{k}={text_of(k, v)}" for k, v in data.items()]


def _unknown(cls, key: str) -> ConfigError:
    allowed = ", ".join(f.name for f in dataclasses.fields(cls))
    return ConfigError(f"unknown config key {key!r}; allowed keys: {allowed}.")


def _construct(cls, values: dict[str, Any]):
    try:
        return cls(**values)
    except TypeError as e:  # should not happen after key checks; keep the one-line contract
        raise ConfigError(str(e)) from None


def parse_overrides(cls, pairs: list[str] | None) -> dict[str, Any]:
    """Turn ``["key=value", ...]`` into typed values (unknown keys and bad values refused)."""
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"--set needs key=value; got {pair!r}.")
        key, text = pair.split("=", 1)
        key = key.strip()
        if key not in names:
            raise _unknown(cls, key)
        out[key] = parse_value(key, text, hints[key])
    return out


def build_config(cls, preset: str = "paper", overrides: dict[str, Any] | list[str] | None = None):
    """A validated config: field defaults, then the preset's overrides, then the user's.

    ``overrides`` is either a dict of typed values or a list of ``key=value`` strings.
    """
    if preset not in cls.PRESETS:
        allowed = ", ".join(cls.PRESETS)
        raise ConfigError(f"unknown preset {preset!r}; choose from: {allowed}.")
    if isinstance(overrides, list):
        overrides = parse_overrides(cls, overrides)
    values = dict(cls.PRESETS[preset])
    names = {f.name for f in dataclasses.fields(cls)}
    for key, v in (overrides or {}).items():
        if key not in names:
            raise _unknown(cls, key)
        values[key] = v
    return _construct(cls, values)


def config_from_dict(cls, data: Mapping[str, Any]):
    """Rebuild a config from its JSON form (``config.json``); validates it like any other."""
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise _unknown(cls, key)
    return _construct(cls, dict(data))


def describe_fields(cls) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, doc) of every field, for ``mflab list -v``."""
    hints = _hints(cls)
    return [
        (f.name, type_name(hints[f.name]), f.default, f.metadata.get("doc", ""))
        for f in dataclasses.fields(cls)
    ]
