"""Config validation: every refusal is one line naming what was given and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from mflab.runs.config import (
    ConfigError,
    StudyConfig,
    build_config,
    config_from_dict,
    param,
    parse_overrides,
)


@dataclass(frozen=True)
class Cfg(StudyConfig):
    n: int = param(10, ge=1, doc="count")
    eta: float = param(1e-4, gt=0, lt=1)
    flag: bool = param(True)
    mode: str = param("a", choices=("a", "b"))
    kappas: tuple[float, ...] = param((0.1, 0.4), ge=0)
    sizes: tuple[int, ...] = param((10, 100), ge=1)
    names: tuple[str, ...] = param(("x", "y"), choices=("x", "y", "z"))
    beta: float | None = param(None, gt=0)

    PRESETS: ClassVar[dict] = {"paper": {}, "quick": {"n": 2, "sizes": (3,)}}

    def check(self):
        if self.n < len(self.sizes):
            raise ConfigError(f"n must be >= len(sizes) = {len(self.sizes)}; got {self.n}.")


def test_presets_and_overrides_parse_into_field_types():
    c = build_config(Cfg, "quick", ["eta=0.5", "flag=false", "kappas=0.2,1", "sizes=1e2",
                                    "names=z", "beta=none", "mode=b"])
    assert (c.n, c.eta, c.flag, c.kappas, c.sizes, c.names, c.beta, c.mode) == (
        2, 0.5, False, (0.2, 1.0), (100,), ("z",), None, "b")
    assert isinstance(c.kappas[1], float) and isinstance(c.sizes[0], int)
    assert build_config(Cfg, "paper").n == 10


def test_json_round_trip_rebuilds_the_same_config():
    c = build_config(Cfg, "quick", {"beta": 2.0})
    assert config_from_dict(Cfg, c.to_dict()) == c


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["nope=1"], "unknown config key 'nope'; allowed keys: n, eta"),
        (["n=abc"], "n must be int; got 'abc'"),
        (["n=1.5"], "n must be int; got '1.5'"),
        (["n=0"], "n must be >= 1; got 0"),
        (["eta=1"], "eta must be < 1; got 1.0"),
        (["eta=nan"], "eta must be a finite number; got nan"),
        (["flag=maybe"], "flag must be bool; got 'maybe'"),
        (["mode=c"], "mode: 'c' is not allowed; choose from: a, b"),
        (["kappas=0.1,-1"], "kappas must be >= 0; got -1.0"),
        (["names=x,w"], "names: 'w' is not allowed; choose from: x, y, z"),
        (["beta=0"], "beta must be > 0; got 0.0"),
        (["n=1", "sizes=1,2"], "n must be >= len(sizes) = 2; got 1"),
        (["n"], "--set needs key=value; got 'n'"),
    ],
)
def test_bad_values_are_refused_in_one_line(overrides, fragment):
    with pytest.raises(ConfigError) as e:
        build_config(Cfg, "paper", overrides)
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_preset_and_bad_json_types_are_refused():
    with pytest.raises(ConfigError, match="unknown preset 'huge'; choose from: paper, quick"):
        build_config(Cfg, "huge")
    with pytest.raises(ConfigError, match="n must be int; got '3'"):
        config_from_dict(Cfg, {"n": "3"})
    with pytest.raises(ConfigError, match="flag must be bool; got 1"):
        config_from_dict(Cfg, {"flag": 1})
    with pytest.raises(ConfigError, match="unknown config key 'extra'"):
        config_from_dict(Cfg, {"extra": 1})
    # constructing directly in Python validates too
    with pytest.raises(ConfigError, match="n must be >= 1"):
        Cfg(n=-3)


def test_parse_overrides_only_parses():
    assert parse_overrides(Cfg, ["sizes=4, 5", "eta=1e-3"]) == {"sizes": (4, 5), "eta": 1e-3}
