"""The Python blocks of docs/using-the-optimisers.md and docs/extending.md run as written (in
a fresh process, so that they see mflab as a user does: no x64 switched on)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = ("using-the-optimisers.md", "extending.md")
BLOCKS = {p: re.findall(r"```python\n(.*?)```", (DOCS / p).read_text(), flags=re.S)
          for p in PAGES}
CASES = [(p, i) for p in PAGES for i in range(len(BLOCKS[p]))]


def test_the_pages_have_examples():
    assert len(BLOCKS["using-the-optimisers.md"]) >= 3
    assert len(BLOCKS["extending.md"]) >= 4


def _run(page: str, i: int) -> str:
    out = subprocess.run([sys.executable, "-c", BLOCKS[page][i]], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("page,i", CASES, ids=[f"{p}-{i}" for p, i in CASES])
def test_example_runs(page, i):
    pytest.importorskip("equinox")
    last = _run(page, i)
    if page == "using-the-optimisers.md" and i == 0:
        # the least-squares fit: the residual is the float32 rounding floor
        assert float(last) < 1e-4, last
    if page == "using-the-optimisers.md" and i == 1:
        # the replicas' mean loss falls (from ≈ 0.5 to well below)
        first, final = (float(v) for v in last.strip("[]").split())
        assert final < 0.5 * first, last
    if page == "using-the-optimisers.md" and i == 2:
        # mflab.compare: exact Nesterov beats exact GD at equal steps on a quadratic of
        # condition number 100 (deterministic acceleration, each tuned on its grid)
        assert last == "True", last
    if page == "extending.md" and i == 0:
        # the heavy ball's registered blocked kernel equals its plain steps (float64:
        # rounding of 640 steps of an O(1) network)
        assert float(last) < 1e-10, last
    if page == "extending.md" and i == 3:
        # B3 on a quadratic of condition number 100 restarts (the info observable counts)
        assert int(last) > 0, last
    if page == "extending.md" and i == 2:
        # the students learn the teacher: the mean loss falls well below its start
        final, first = (float(v) for v in last.split())
        assert final < 0.5 * first, last
