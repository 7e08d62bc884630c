"""The Python blocks of docs/using-the-optimisers.md run as written (in a fresh process, so
that they see mflab as a user does: no x64 switched on)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "using-the-optimisers.md"
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_the_page_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_example_runs(i):
    pytest.importorskip("equinox")
    out = subprocess.run([sys.executable, "-c", BLOCKS[i]], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    last = out.stdout.strip().splitlines()[-1]
    if i == 0:  # the least-squares fit: the residual is the float32 rounding floor
        assert float(last) < 1e-4, last
    if i == 1:  # the replicas' mean loss falls (from ≈ 0.5 to well below)
        first, final = (float(v) for v in last.strip("[]").split())
        assert final < 0.5 * first, last
