"""The comparison harness (mflab.compare) against facts known independently of it: the best
step of gradient descent on a quadratic, Wilcoxon's exact null distribution, the sample
count of an ensemble, and replicas that are copies of one another."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mflab.optimizers as O
from mflab.compare import (
    Grid,
    Method,
    Problem,
    Protocol,
    ProtocolError,
    Target,
    Tuner,
    compare,
    crossing,
    paired_test,
    record_steps,
)
from mflab.errors import RunError
from mflab.landscapes import Landscape


def _sgd(point, problem, m):
    return O.sgd(eta=point.get("eta", 0.1))


def _isgld(point, problem, m):
    return O.interacting_sgld(eta=point["eta"], beta=1e12, lam=point.get("lam", 1.0))


@dataclass(frozen=True)
class Quadratic(Problem):
    """Φ(x) = ½ h |x|² in 2-D from x0 = (1, 1) (every seed), stochastic gradient h x + σ ξ."""

    name: str = "quadratic"
    h: float = 1.0
    sigma: float = 0.0
    score_name: str = "value"
    target: Target | None = None
    agents: int = 1
    test_offset: float = 0.0
    rows: tuple = field(default=(None, None), compare=False)

    def landscape(self, m):
        value = lambda x: 0.5 * self.h * jnp.sum(x ** 2)  # noqa: E731
        if m is None or self.sigma == 0:
            return Landscape("quadratic", value, batch_size=m)
        sig = self.sigma / math.sqrt(m)
        return Landscape("quadratic", value, batch_size=m,
                         sample_grad=lambda k, x: self.h * x + sig * jax.random.normal(
                             k, x.shape, x.dtype))

    def init(self, key, agents):
        return jnp.ones((agents, 2), jnp.float64)

    def score(self, x, split):
        v = float(0.5 * self.h * np.sum(np.asarray(x) ** 2))
        return {"value": v if split == "validation" else v + self.test_offset}

    def split_rows(self, split):
        return self.rows[0 if split == "validation" else 1]


def test_grid_extends_by_a_decade_within_its_limit():
    g = Grid((1e-3, 1e-2))
    assert g.beyond("high") == pytest.approx((1e-1,))
    g = Grid((1e-3, 10 ** -2.5, 1e-2), hi=0.05)
    assert g.beyond("high") == pytest.approx((10 ** -1.5,))   # 1e-1 is past the limit
    assert Grid((0.3,)).beyond("low") == ()                   # a fixed value never moves


def test_bracketing_finds_the_known_best_step_outside_the_first_grid():
    """Exact GD on ½|x|² for n steps ends at (1 − η)^{2n}: the best step is η* = 1 (one
    step to the minimum), two decades above the first grid. The tuner must extend the
    grid until η* is interior, and flag it when its extensions run out."""
    grid = {"eta": Grid((1e-3, 10 ** -2.5, 1e-2), hi=10.0)}
    for max_ext, want_flag in ((3, False), (2, True)):
        t = Tuner(grid, max_ext)
        while True:
            for p in t.pending():
                eta = dict(p)["eta"]
                t.record(p, [(1 - eta) ** 40 * 2.0] * 3)
            if not t.advance():
                break
        # two decades of extension reach η* = 1 at the edge; a third brackets it
        assert dict(t.best())["eta"] == pytest.approx(1.0)
        assert t.flags() == (["eta@high"] if want_flag else [])


def test_an_extension_queues_each_new_point_once():
    """Extending (0.01, 0.0316, 0.1) beyond 0.1 adds 0.316 and 1; 0.316 is also the best
    point's new upper neighbour. It must be queued (and so run) once, not twice."""
    t = Tuner({"beta": Grid((0.01, 10 ** -1.5, 0.1), hi=10.0)}, 2)
    for p in t.pending():
        t.record(p, [-dict(p)["beta"]] * 3)  # the highest value is best: extend high
    assert t.advance()
    queued = t.pending()
    assert len(queued) == len(set(queued)) == 2
    assert sorted(dict(p)["beta"] for p in queued) == pytest.approx([10 ** -0.5, 1.0])


def test_harness_tunes_by_extension_and_never_on_the_test_split():
    """End to end on the quadratic: the harness finds η* = 1 from a grid two decades below
    it, the choice is interior (no flag), and the tuning table's scores are the validation
    scores of the final point, (1 − η)^{2n} · |x0|²/2."""
    prob = Quadratic(test_offset=1000.0)  # a scorer that tuned on "test" would see +1000
    meth = Method("B1", _sgd, {"eta": Grid((1e-3, 10 ** -2.5, 1e-2), hi=10.0)})
    proto = Protocol(budget=20, seeds=2, allow_few_seeds=True, max_extensions=3,
                     exact_controls=False)
    res = compare([prob], [meth], [1], proto)
    choice = res.choices[("quadratic", 1, "B1")]
    assert choice["point"]["eta"] == pytest.approx(1.0) and choice["flags"] == []
    assert len(res.tuning) == 3 + 3 * 2  # the grid, then three decades of two points
    for row in res.tuning:
        eta = json.loads(row["point"])["eta"]
        assert row["score"] == pytest.approx((1 - eta) ** 40, rel=1e-9, abs=1e-300)
    (row,) = [r for r in res.summary if r["variant"] == "stochastic"]
    assert row["final"] == pytest.approx(1000.0)  # the comparison scores on "test"


def test_a_validation_split_that_meets_the_test_split_is_refused():
    meth = Method("B1", _sgd, {"eta": Grid((0.1,))})
    proto = Protocol(budget=4, seeds=1, tuning_seeds=1, allow_few_seeds=True)
    bad = Quadratic(rows=(np.arange(0, 100), np.arange(90, 200)))
    with pytest.raises(ProtocolError, match="shares 10 rows with its test split"):
        compare([bad], [meth], [1], proto)
    one_sided = Quadratic(rows=(np.arange(10), None))
    with pytest.raises(ProtocolError, match="one split only"):
        compare([one_sided], [meth], [1], proto)


def test_a_target_known_worse_than_ten_percent_is_refused():
    """C5's old A3 target (0.0437 with an error estimate 0.037) must not be used."""
    meth = Method("B1", _sgd, {"eta": Grid((0.1,))})
    proto = Protocol(budget=4, seeds=1, tuning_seeds=1, allow_few_seeds=True)
    with pytest.raises(ProtocolError, match="error 0.037 > 10 %"):
        compare([Quadratic(target=Target(0.0437, 0.037))], [meth], [1], proto)


def test_protocol_refuses_too_few_seeds_and_coarse_records():
    with pytest.raises(ProtocolError, match="tuning_seeds must be >= 3"):
        Protocol(budget=10, tuning_seeds=1)
    with pytest.raises(ProtocolError, match=">= 10 comparison seeds"):
        Protocol(budget=10, seeds=5)
    with pytest.raises(ProtocolError, match=r"record_ratio must be in \(1, 1.2\]"):
        Protocol(budget=10, record_ratio=2.5)


def test_budget_per_ensemble_coupled_replicas_and_their_sgd_control_draw_equal_samples():
    """R = 3 interacting replicas at batch m = 2 and SGD at batch R·m = 6 (the control the
    harness adds) spend the same budget; the count is the optimisers' own oracle counter."""
    prob = Quadratic(sigma=0.5)
    methods = [Method("B1", _sgd, {"eta": Grid((0.05, 0.1))}),
               Method("B6", _isgld, {"eta": Grid((0.05, 0.1))}, replicas=3)]
    proto = Protocol(budget=600, seeds=2, tuning_seeds=1, allow_few_seeds=True,
                     max_extensions=0, exact_controls=False)
    res = compare([prob], methods, [2], proto)
    end = {k[2]: int(a["samples"][0, -1]) for k, a in res.curves.items()}
    assert set(end) == {"B1", "B6", "B1@m=6"}
    assert end["B6"] == end["B1@m=6"] == end["B1"] == 600
    steps = {k[2]: int(a["steps"][0, -1]) for k, a in res.curves.items()}
    assert steps == {"B1": 300, "B6": 100, "B1@m=6": 100}


def test_perfectly_correlated_replicas_are_one_unit():
    """With exact gradients and a common start, the R replicas of an ensemble are copies:
    its statistics are those of one replica — one unit per seed, not R."""
    prob = Quadratic()
    one = Method("B1", _sgd, {"eta": Grid((0.05,))})
    three = Method("B1x3", _sgd, {"eta": Grid((0.05,))}, replicas=3)
    proto = Protocol(budget=90, seeds=4, tuning_seeds=1, allow_few_seeds=True,
                     exact_controls=False)
    res = compare([prob], [one, three], [1], proto)
    rows = {r["entry"]: r for r in res.summary}
    assert rows["B1x3"]["units"] == rows["B1"]["units"] == 4
    # the same per-ensemble budget: 30 steps of 3 copies against 90 steps of one
    assert rows["B1x3"]["final"] == pytest.approx(0.95 ** 60)
    assert rows["B1"]["final"] == pytest.approx(0.95 ** 180)


def test_paired_test_matches_wilcoxons_exact_null():
    """All 10 differences of one sign: p = 2 / 2^10 exactly (the signed-rank null)."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=10)
    assert paired_test(y + 1 + rng.random(10), y)["p"] == pytest.approx(2 / 1024)
    assert paired_test(y, y)["p"] == 1.0
    # unreached targets (+inf) rank beyond every finite value
    x = np.array([np.inf] * 10)
    assert paired_test(x, y)["p"] == pytest.approx(2 / 1024)


def test_paired_test_with_zeros_and_tied_ranks_is_the_sign_flip_law():
    """With zero differences and tied |d|, p is the exact conditional law of the signed-rank
    sum: drop the zeros, rank |d| with mid-ranks, and count the 2^n equally likely sign
    patterns whose sum is at least as far from its mean; enumerated here by a plain loop.
    (scipy 1.13 would give the normal approximation here and 1.17 the exact law.)"""
    import itertools

    from scipy.stats import rankdata

    d = np.array([0.3, 0.1, 0.0, 0.1, -0.2, 0.2, 0.4, 0.0, 0.1, -0.1, 0.5])
    x, y = d + 0.7, np.full_like(d, 0.7)  # 0.8 − 0.7 ≠ 0.1 in floats: ties up to rounding
    dz = d[d != 0]
    r = rankdata(np.abs(dz))
    t_obs = r[dz > 0].sum()
    mean = r.sum() / 2
    hits = 0
    for signs in itertools.product((0, 1), repeat=dz.size):
        t = sum(ri for ri, s in zip(r, signs, strict=True) if s)
        hits += abs(t - mean) >= abs(t_obs - mean) - 1e-12
    assert paired_test(x, y)["p"] == pytest.approx(hits / 2 ** dz.size, rel=1e-12)
    assert paired_test(x, y)["pairs"] == d.size


def test_records_resolve_the_crossing_within_twenty_percent():
    steps = np.array((0,) + record_steps(100_000, 1.2, 1e-3) + (100_000,))
    gaps = steps[2:] / steps[1:-1]
    assert gaps.max() <= 1.2 + 1e-9 and steps[1] == 100
    # a power law crossing between records is interpolated exactly in log-log
    s = steps[1:].astype(float)
    v = 1e3 / s
    assert crossing(s, v, 0.5) == pytest.approx(2000.0, rel=1e-9)


class Counting:
    """A serial executor that records the jobs it is handed."""

    def __init__(self):
        self.calls = []

    def map(self, fn, items):
        items = list(items)
        self.calls.extend(items)
        return [fn(i) for i in items]


def test_comparison_runs_through_a_store_and_resumes(tmp_path):
    prob = Quadratic(sigma=0.3)
    meth = Method("B1", _sgd, {"eta": Grid((0.05, 0.1, 0.2))})
    proto = Protocol(budget=50, seeds=2, tuning_seeds=1, allow_few_seeds=True)
    first = compare([prob], [meth], [1], proto, store=tmp_path / "jobs")
    n_files = len(list((tmp_path / "jobs").glob("*.npz")))
    assert n_files > 0

    counting = Counting()
    again = compare([prob], [meth], [1], proto, store=tmp_path / "jobs", executor=counting)
    assert counting.calls == []  # every job came from the store
    for k, a in first.curves.items():
        np.testing.assert_array_equal(a["value"], again.curves[k]["value"])


def test_records_aligned_to_a_block_keep_the_ratio():
    steps = np.array(record_steps(50_000, 1.15, 1e-3, align=32) + (50_000,))
    assert np.all(steps[2:] / steps[1:-1] <= 1.15 + 1e-12)
    assert all(s % 32 == 0 for s in steps[:-1] if s >= 640)


def test_pairs_test_one_method_against_another_paired_by_seed():
    """``Protocol.pairs``: a method against another (not SGD) at the same batch. On ½|x|² with
    small noise, η = 0.1 ends below η = 0.05 on every one of 10 seeds (deterministic parts
    0.9^60 against 0.95^60), so the paired two-sided Wilcoxon p is its exact minimum
    2/2^10, with the sign of the difference; a pair with a method not compared is skipped."""
    prob = Quadratic(sigma=0.01, target=Target(0.1))
    methods = [Method("B1", _sgd, {"eta": Grid((0.05,))}),
               Method("fast", _sgd, {"eta": Grid((0.1,))})]
    proto = Protocol(budget=30, seeds=10, tuning_seeds=1, allow_few_seeds=True,
                     max_extensions=0, exact_controls=False,
                     pairs=(("fast", "B1"), ("B1", "fast"), ("fast", "absent")))
    rows = {r["entry"]: r for r in compare([prob], methods, [1], proto).summary}
    assert rows["fast"]["p_final_vs_B1"] == pytest.approx(2 / 1024)
    assert rows["fast"]["diff_final_vs_B1"] < 0 < rows["B1"]["diff_final_vs_fast"]
    assert rows["B1"]["p_final_vs_fast"] == pytest.approx(2 / 1024)
    # ½|x|² = q^(2k), q = 1 − η, reaches 0.1 after k = ln 10 / (2 ln(1/q)) steps: 10.9 at
    # η = 0.1, 22.4 at η = 0.05 (noise 1 % of the start): a paired ratio of samples 0.49
    assert rows["fast"]["ratio_target_vs_B1"] == pytest.approx(0.5, rel=0.1)
    assert rows["fast"]["p_target_vs_B1"] == pytest.approx(2 / 1024)
    assert not any("absent" in k for r in rows.values() for k in r)
    with pytest.raises(ProtocolError, match="pairs must be"):
        Protocol(budget=10, pairs=(("B1", "B1"),))


def test_exact_gradient_control_runs_the_tuned_point_without_noise():
    """The mechanism control: the chosen η with the exact gradient, same steps — on ½|x|²
    every seed ends at (1 − η)^{2n} from x0 = (1, 1)."""
    prob = Quadratic(sigma=0.5)
    meth = Method("B1", _sgd, {"eta": Grid((0.02, 0.05))})
    proto = Protocol(budget=30, seeds=3, tuning_seeds=1, allow_few_seeds=True,
                     max_extensions=0)
    res = compare([prob], [meth], [1], proto)
    eta = res.choices[("quadratic", 1, "B1")]["point"]["eta"]
    exact = res.curves[("quadratic", 1, "B1", "exact")]
    np.testing.assert_allclose(exact["value"][:, -1, 0], (1 - eta) ** 60, rtol=1e-12)
    noisy = res.curves[("quadratic", 1, "B1", "stochastic")]
    assert not np.allclose(noisy["value"][:, -1, 0], (1 - eta) ** 60)


def test_exact_controls_run_on_their_seeds_and_not_for_the_batch_controls():
    # exact_seeds = 2 of 4 comparison seeds: the exact runs are those seeds' (paired with
    # the same seeds of the reference); a coupled method's batch-R·m control has no exact
    # run (no samples, no sample count to control)
    prob = Quadratic(sigma=0.5)
    methods = [Method("B1", _sgd, {"eta": Grid((0.05, 0.1))}),
               Method("B6", _isgld, {"eta": Grid((0.05, 0.1))}, replicas=3)]
    proto = Protocol(budget=600, seeds=4, tuning_seeds=1, allow_few_seeds=True,
                     max_extensions=0, exact_seeds=2)
    res = compare([prob], methods, [2], proto)
    exact = {k[2]: a["seeds"].tolist() for k, a in res.curves.items() if k[3] == "exact"}
    assert exact == {"B1": [1, 2], "B6": [1, 2]}
    rows = {(r["entry"], r["variant"]): r for r in res.summary}
    assert rows[("B6", "exact")]["units"] == 2 and ("B1@m=6", "exact") not in rows
    assert rows[("B6", "stochastic")]["units"] == 4
    with pytest.raises(ValueError, match="exact_seeds must be an integer >= 1"):
        Protocol(budget=10, exact_seeds=0)


def test_quantiles_treat_infinity_as_beyond_every_finite_value():
    """Runs that never reach a target count +inf: a quantile between two infinite order
    statistics, or a finite and an infinite one, is infinite; finite ones are numpy's."""
    from mflab.compare.stats import quantiles

    x = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(quantiles(x, [0.25, 0.5, 0.75]), np.quantile(x, [0.25, 0.5, 0.75]))
    y = np.array([1.0, 2.0, np.inf, np.inf])
    q = quantiles(y, [0.25, 0.5, 0.75])
    assert q[0] == pytest.approx(1.75) and q[1] == np.inf and q[2] == np.inf
    assert np.all(quantiles(np.full(3, np.inf), [0.5]) == np.inf)


def test_lower_median_is_a_value_of_the_sample():
    from mflab.compare.stats import lower_median

    # two agents in two basins: the midpoint −127.43 is an energy neither has
    assert lower_median([-108.17, -146.70]) == -146.70
    assert lower_median([3.0, 1.0, 2.0]) == 2.0  # an odd count: the ordinary median
    assert lower_median([4.0, 1.0, 3.0, 2.0]) == 2.0


def test_each_job_is_stored_as_it_ends_so_a_cut_run_keeps_the_finished_ones(tmp_path):
    # an executor that loses the last job of every map: the jobs that ended are in the
    # store (the run raises), and a rerun runs only what is missing
    prob = Quadratic(sigma=0.3)
    meth = Method("B1", _sgd, {"eta": Grid((0.05, 0.1, 0.2))})
    proto = Protocol(budget=50, seeds=2, tuning_seeds=1, allow_few_seeds=True)

    class LosesTheLast:
        def map(self, fn, items, on_result=None):
            items = list(items)
            out = []
            for i, it in enumerate(items):
                r = RuntimeError("worker lost") if i == len(items) - 1 else fn(it)
                out.append(r)
                on_result(i, r)
            return out

    with pytest.raises(RunError, match="job was lost"):
        compare([prob], [meth], [1], proto, store=tmp_path / "jobs", executor=LosesTheLast())
    stored = {f.stem for f in (tmp_path / "jobs").glob("*.npz")}
    assert len(stored) == 2  # the first round's 3 tuning jobs, 1 lost
    counting = Counting()
    compare([prob], [meth], [1], proto, store=tmp_path / "jobs", executor=counting)
    ran = {j.key() for j in counting.calls}
    assert ran and not stored & ran  # none of the stored jobs ran again


class _Curve:
    """One unit's score curve (record index → value; ``agents`` copies of it, offset by
    ``spread`` each), with an estimate off by ``noise`` at a stated standard error ``se``;
    counts the exact scorings."""

    score_name = "value"
    target_name = None

    def __init__(self, values, noise, se, target, agents=1, spread=0.0):
        self.values, self.noise, self.se, self.target = values, noise, se, target
        self.agents, self.spread, self.scored = agents, spread, 0

    def records(self):
        return [[(r, a) for a in range(self.agents)] for r in range(len(self.values))]

    def _value(self, x):
        r, a = x
        return self.values[r] * (1 + self.spread * (a - (self.agents - 1) / 2))

    def score(self, x, split):
        self.scored += 1
        return {"value": self._value(x)}

    def estimate(self, x, split):
        return {"value": (self._value(x) + self.noise[x[0]] * self.se[x[0]], self.se[x[0]])}


@pytest.mark.parametrize("higher", [False, True])
def test_screened_scoring_finds_the_crossing_and_final_of_scoring_every_record(higher):
    """200 noisy non-monotone curves (log-normal random walks, 40 records, 2 agents), their
    estimates off by N(0, SE²) with SE = 5 % of the value: screening gives exactly the first
    crossing and final score of scoring every record, with far fewer exact scorings."""
    from mflab.compare.jobs import score_records

    rng = np.random.default_rng(0)
    samples = np.geomspace(10, 1e4, 40)
    scored = []
    for _ in range(200):
        walk = np.exp(np.cumsum(rng.normal(-0.04, 0.08, 40)))
        values = 1 / walk if higher else walk
        target = Target(float(rng.uniform(1.3, 4.0)) if higher else float(rng.uniform(0.25, 0.8)),
                        higher=higher)
        c = _Curve(values, rng.normal(size=40), 0.05 * values, target, agents=2, spread=0.1)
        out = score_records(c, c.records())
        u_full, u = values, out["value"].mean(axis=1)  # the agents' mean is the curve
        assert u[-1] == pytest.approx(u_full[-1], rel=1e-14)
        assert crossing(samples, u, target.value, higher) == pytest.approx(
            crossing(samples, u_full, target.value, higher), rel=1e-12)
        assert out["value_estimate"].shape == (40, 2)
        scored.append(c.scored / 2)
    assert np.mean(scored) < 10  # records exactly scored per curve, of 40


def test_without_an_estimate_every_record_is_scored():
    from mflab.compare.jobs import score_records

    q = Quadratic(target=Target(0.1))
    recs = [[np.full(2, v)] for v in (1.0, 0.5, 0.1)]
    out = score_records(q, recs)
    np.testing.assert_allclose(out["value"][:, 0], [1.0, 0.25, 0.01])
    assert set(out) == {"value"}


def test_the_choice_is_bracketed_by_scored_neighbours_on_every_axis():
    """f = (log a)² + ½ (log b − log a)², minimum at a = b = 1. The first product
    (a ∈ {0.01, 0.1}, b ∈ {0.01, 0.1, 1}) is best at (0.1, 0.1), at a's upper edge;
    extending a moves the best to (1, 0.1), off the product, whose neighbour (1, 1) was
    never scored. The tuner must score it and choose the minimum (an extension along a
    alone would stop at (1, 0.1)); the chosen point's neighbours on each axis are scored and
    no better."""
    def f(a, b):
        la, lb = math.log10(a), math.log10(b)
        return la ** 2 + 0.5 * (lb - la) ** 2

    t = Tuner({"a": Grid((0.01, 0.1)), "b": Grid((0.01, 0.1, 1.0))}, 2)
    while True:
        for p in t.pending():
            t.record(p, [f(**dict(p))] * 3)
        if not t.advance():
            break
    best = dict(t.best())
    assert best == pytest.approx({"a": 1.0, "b": 1.0}) and t.flags() == []
    for n, g in t.grids.items():
        i = g.values.index(best[n])
        for j in (i - 1, i + 1):
            p = tuple(sorted({**best, n: g.values[j]}.items()))
            assert p in t.scores and t.scores[p] > t.scores[t.best()]
