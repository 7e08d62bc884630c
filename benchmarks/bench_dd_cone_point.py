"""Accuracy of the radial DD at the cone point w = 0 (SPEC A2, κ = 0.1), at the C2 paper grid.

    python benchmarks/bench_dd_cone_point.py [--kappa 0.1] [--t-stop 0.1] [--M 200]

From κ = 0.1 every unit falls into w = 0 (V has a cone there) by t ≈ 0.02, and the law
stays δ_0 (risk R = 1 + σ(0)² = 7.25). The C2 paper run solves the DD in four stages
(records dense early: ``solve_dd_staged`` with t_max = 10, dt_max = 1e-3, 201 records);
this script replays the stages that end by ``--t-stop`` with the same time steps (after
t = 0.1 all radii are exactly 0 at every level here, so nothing changes later).

It prints, for the projected (Filippov) scheme of :class:`~mflab.meanfield.dd.RadialDD`
and for the old scheme that let radii cross 0 (reflection, the even extension):

* the error max_t |R − R_ref| at dt, dt/2, dt/4 (M fixed) against a reference
  extrapolated from dt/8 and dt/16, and the observed order;
* the error at M/2, M, 2M (dt fixed) against a reference extrapolated from 2M and 4M;
* the solver's own estimate (:func:`~mflab.meanfield.dd.estimate_error`: Richardson with
  the observed orders) next to the reference error it must cover, and the old estimate
  (the difference to the run with dt/2 and 2M).
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from mflab.meanfield import IsotropicGaussians, sigma_a2, unit_a
from mflab.meanfield.dd import (
    DDResult,
    RadialDD,
    estimate_error,
    radial_quantiles,
    solve_dd,
)

C2 = {"t_max": 10.0, "dt_max": 1e-3, "n_records": 201, "stages": 4}  # mf-nonmonotone paper


class Reflected(RadialDD):
    """The old scheme: no projection, so a radius may cross 0 (the dynamics is even in r)."""

    def project(self, r):
        return r


def staged(system, x0, k: int, t_stop: float) -> DDResult:
    """The C2 paper stages that end by t_stop, with every time step divided by k."""
    per = (C2["n_records"] - 1) // C2["stages"]
    ends = [C2["t_max"] * 10.0 ** (j - C2["stages"] + 1) for j in range(C2["stages"])]
    x, t0, parts = np.asarray(x0), 0.0, []
    for t1 in (e for e in ends if e <= t_stop * (1 + 1e-12)):
        seg = (t1 - t0) / per
        dt = seg / (int(np.ceil(seg / C2["dt_max"] - 1e-9)) * k)
        r = solve_dd(system, x, t_max=t1 - t0, dt=dt, n_records=per + 1)
        keep = slice(0 if not parts else 1, None)
        parts.append((t0 + r.times[keep], r.risk[keep], r.mean_norm[keep], r.particles[keep]))
        x, t0 = r.particles[-1], t1
    return DDResult(*(np.concatenate([p[i] for p in parts]) for i in range(4)))


def extrapolate(a: np.ndarray, b: np.ndarray, order: float) -> np.ndarray:
    """Richardson: b + (b − a)/(2^p − 1) from levels h (a) and h/2 (b)."""
    return b + (b - a) / (2.0**order - 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kappa", type=float, default=0.1)
    ap.add_argument("--t-stop", type=float, default=0.1)
    ap.add_argument("--M", type=int, default=200)
    ap.add_argument("--d", type=int, default=320)
    a = ap.parse_args()
    jax.config.update("jax_enable_x64", True)
    t_start = time.perf_counter()
    units, data = unit_a(sigma_a2()), IsotropicGaussians(0.5, a.d)

    def init(M):
        return radial_quantiles(M, a.d, a.kappa)

    print(f"A2, d = {a.d}, κ = {a.kappa}, M = {a.M}; C2 paper stages up to t = {a.t_stop}\n")
    for name, system in (("projected (Filippov)", RadialDD(units, data)),
                         ("old: radii cross 0", Reflected(units, data))):
        lv = {k: staged(system, init(a.M), k, a.t_stop) for k in (1, 2, 4, 8, 16)}
        ms = {m: staged(system, init(m), 1, a.t_stop) for m in (a.M // 2, 2 * a.M, 4 * a.M)}
        ms[a.M] = lv[1]
        p_ref = float(np.log2(np.max(np.abs(lv[4].risk - lv[8].risk))
                              / np.max(np.abs(lv[8].risk - lv[16].risk))))
        ref_dt = extrapolate(lv[8].risk, lv[16].risk, p_ref)
        q_ref = float(np.log2(np.max(np.abs(ms[a.M].risk - ms[2 * a.M].risk))
                              / np.max(np.abs(ms[2 * a.M].risk - ms[4 * a.M].risk))))
        ref_M = extrapolate(ms[2 * a.M].risk, ms[4 * a.M].risk, q_ref)
        print(f"== {name}: final risk at t = {lv[1].times[-1]:g}: "
              + ", ".join(f"dt/{k}: {lv[k].risk[-1]:.6f}" for k in (1, 2, 4)))
        e = [float(np.max(np.abs(lv[k].risk - ref_dt))) for k in (1, 2, 4)]
        print("   dt error max_t |R − R_ref| at dt, dt/2, dt/4: "
              + ", ".join(f"{x:.3e}" for x in e)
              + f"; observed order {np.log2(e[0] / e[1]):.2f}, {np.log2(e[1] / e[2]):.2f}"
              f" (reference from dt/8, dt/16 with order {p_ref:.2f})")
        eM = [float(np.max(np.abs(ms[m].risk - ref_M))) for m in (a.M // 2, a.M, 2 * a.M)]
        print(f"   M error at M = {a.M // 2}, {a.M}, {2 * a.M}: "
              + ", ".join(f"{x:.3e}" for x in eM)
              + f" (reference from {2 * a.M}, {4 * a.M} with order {q_ref:.2f})")
        # errors add: R(M, dt) − R = (R(M, dt) − R(M, 0)) + (R(M, dt) − R(∞, dt)) + h.o.t.
        true = float(np.max(np.abs((lv[1].risk - ref_dt) + (lv[1].risk - ref_M))))
        res = estimate_error(DDResult(*(getattr(lv[1], f) for f in
                                        ("times", "risk", "mean_norm", "particles"))),
                             lambda x, k, s=system: staged(s, x, k, a.t_stop), init, a.M, 2)
        old = float(np.max(np.abs(staged(system, init(2 * a.M), 2, a.t_stop).risk
                                  - lv[1].risk)))
        print(f"   error of the run (dt, M) against the references: {true:.3e}")
        print(f"   estimate: {res.err_risk:.3e} = dt part {res.err_dt:.3e} (order "
              f"{res.order_dt:.2f}) + M part {res.err_M:.3e} (order {res.order_M:.2f}); "
              f"covers: {res.err_risk >= true}; old estimate (dt/2, 2M): {old:.3e}\n")
    print(f"wall time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
