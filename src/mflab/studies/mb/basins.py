"""A run's basin on the Müller–Brown potential, decided without distance thresholds on the
final iterate: plain GD from the final point until every gradient norm is small, then the
stationary point reached matched to the landscape's tabulated ``stationary_points``."""

from __future__ import annotations

import numpy as np

BASINS = ("A", "B", "C", "elsewhere")
OUTCOMES = (*BASINS, "diverged")


def descend(landscape, x: np.ndarray, *, eta: float, tol: float, max_steps: int,
            check_every: int = 100):
    """Plain GD (B1, ``sgd(eta)``) from every row of ``x`` until all ``|∇V| < tol`` or
    ``max_steps``; the gradient norms are checked every ``check_every`` steps.

    Returns (points, converged mask, steps taken). Runs through :func:`mflab.run` in chunks
    of ``10 · check_every`` steps (one compiled chunk for the whole descent); converged
    agents keep stepping (a fixed point of GD).
    """
    import jax

    import mflab

    opt, obs = _descent_tools(landscape, float(eta))
    per_call = 10 * check_every
    x = np.asarray(x, dtype=np.float64)
    state, k = None, 0
    while True:
        tr = mflab.run(opt, landscape, x, per_call, jax.random.key(0), record_every=check_every,
                       observables=obs, record_positions=True, state=state, start_step=k)
        gn = tr.records["grad_norm"]  # (R, A); record 0 is this call's start
        below = np.all(gn < tol, axis=1)
        if below.any() or k + per_call >= max_steps:
            r = int(np.argmax(below)) if below.any() else gn.shape[0] - 1
            return tr.records["x"][r], gn[r] < tol, k + r * check_every
        state, k = tr.state, k + per_call


_DESCENT_TOOLS: dict = {}


def _descent_tools(landscape, eta):
    """The descent's optimiser and observable, made once per (landscape, η) so that every
    descent reuses one compiled chunk."""
    key = (id(landscape), eta)
    if key not in _DESCENT_TOOLS or _DESCENT_TOOLS[key][0] is not landscape:
        import jax.numpy as jnp

        from mflab.optimizers import sgd

        obs = {"grad_norm": lambda p: jnp.linalg.norm(landscape.grad(p))}
        _DESCENT_TOOLS[key] = (landscape, sgd(eta), obs)
    return _DESCENT_TOOLS[key][1:]


def classify(landscape, points: np.ndarray, converged: np.ndarray, match_tol: float):
    """Name of the stationary point each converged descent reached ('' if none)."""
    sp = landscape.stationary_points
    where = np.stack([p.x for p in sp])
    d = np.linalg.norm(points[:, None, :] - where[None], axis=-1)
    nearest = d.argmin(axis=1)
    names = np.array([p.name for p in sp])[nearest]
    ok = converged & (d[np.arange(len(points)), nearest] < match_tol)
    return np.where(ok, names, "")


def basin_fractions(names: np.ndarray) -> dict[str, float]:
    """Fractions of runs in basins A, B, C, elsewhere (saddles, unconverged) and diverged
    (name ``"div"``: the run became non-finite)."""
    n = len(names)
    out = {b: float(np.sum(names == b)) / n for b in BASINS[:3]}
    out["diverged"] = float(np.sum(names == "div")) / n
    out["elsewhere"] = float(np.sum(~np.isin(names, [*BASINS[:3], "div"]))) / n
    return out
