"""Size guard: every study config estimates its memory; what exceeds the machine (or
--max-memory) is refused before anything is allocated or written; integers stay in
JAX's int32 range."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mflab.cli import main
from mflab.runs import ConfigError, build_config
from mflab.runs.preflight import check_memory, format_size, machine_memory, parse_size
from mflab.studies import registry

GiB = 2**30


def _listing(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def test_sizes_parse_and_print():
    assert parse_size("8G") == 8 * GiB and parse_size("512M") == 512 * 2**20
    assert parse_size("1.5GiB") == int(1.5 * GiB) and parse_size("2000") == 2000
    assert parse_size("3kb") == 3072
    for bad in ("", "-1G", "0", "8X", "lots", "1e30T"):
        with pytest.raises(ValueError):
            parse_size(bad)
    assert format_size(1.5 * GiB) == "1.5 GiB" and format_size(512) == "512 B"


def test_machine_memory_is_at_most_the_physical_memory():
    mem = machine_memory()
    assert mem is not None and 0 < mem <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@pytest.mark.parametrize("name", registry.names())
def test_every_study_estimates_its_memory(name):
    """Every preset fits a small machine (quick < 1 GiB, paper < 16 GiB), and the estimate
    grows with the sizes: linearly in the agents of C6; in the width N of the mean-field
    studies through the particles (their exact risk forms its pairs of units in blocks of
    bounded size, so it does not grow like N², and the DD's part does not grow at all)."""
    cls = registry.get(name).Config
    quick, paper = build_config(cls, "quick"), build_config(cls, "paper")
    assert 0 < quick.memory_bytes() < GiB and 0 < paper.memory_bytes() < 16 * GiB
    field = {"mueller-brown": "n_agents", "mf-isotropic": "N", "mf-nonmonotone": "N",
             "mf-anisotropic": "N"}.get(name)
    if field is not None:
        big = build_config(cls, "quick", {field: 100 * getattr(quick, field)})
        ratio = big.memory_bytes() / quick.memory_bytes()
        assert (90 < ratio <= 100) if name == "mueller-brown" else 2 < ratio < 100


def test_a_config_over_the_limit_is_refused_with_its_estimate():
    cfg = build_config(registry.get("mueller-brown").Config, "quick", ["n_agents=1000000000"])
    with pytest.raises(ConfigError, match=r"needs about 5\.\d+ TiB .* more than"):
        check_memory("mueller-brown", cfg)
    small = build_config(registry.get("mueller-brown").Config, "quick")
    assert check_memory("mueller-brown", small) == small.memory_bytes()
    with pytest.raises(ConfigError, match=r"more than --max-memory \(1 KiB\)"):
        check_memory("mueller-brown", small, max_memory=1024)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["run", "mueller-brown", "--set", "n_agents=1000000000"],
         "mueller-brown needs about 5.5 TiB of memory by its config's estimate, more than "
         "this machine's memory"),
        (["run", "mueller-brown", "--max-memory", "1M"], "more than --max-memory (1 MiB)"),
        (["sweep", "mueller-brown", "--seeds", "0-3", "--max-memory", "1M"],
         "more than --max-memory (1 MiB)"),
        (["reproduce", "--max-memory", "1M"], "more than --max-memory (1 MiB)"),
        (["run", "mueller-brown", "--max-memory", "lots"], "a size like 8G, 512M"),
        (["run", "mueller-brown", "--set", "n_agents=1e30"],
         "n_agents must be <= 2147483647 (JAX indexes with int32); got 1e+30."),
        (["run", "mf-isotropic", "--set", "n_steps=4294967296"],
         "n_steps must be <= 2147483647 (JAX indexes with int32); got 4294967296."),
    ],
)
def test_size_refusals_exit_2_with_one_line_and_write_nothing(argv, fragment, tmp_path, capsys,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and err.count("\n") == 1, err
    assert _listing(tmp_path) == []
