"""Liu & Belkin's MaSS parameters for batch m, and the curvature constants they need, estimated
at a point of a model (Liu & Belkin, ICLR 2020, §2 and §4; SPEC C5 "the report's methods").

For the square loss ½ E[(ŷ(x; θ) − y)²] linearised at θ, with tangent features
φ(x) = ∇_θ ŷ(x; θ) and curvature H = E[φ φᵀ], Liu & Belkin's constants are

    L  = λ_max(H),   μ = λ_min(H),
    L₁ = the least L₁ with E[‖φ‖² φ φᵀ] ≼ L₁ H                 (per-sample smoothness),
    κ̃  = the least κ̃ with E[‖φ‖²_{H⁻¹} φ φᵀ] ≼ κ̃ H             (statistical condition number),

and at batch m (their §4): L₁(m) = L₁/m + (m − 1)/m · L, κ_m = L₁(m)/μ,
κ̃_m = κ̃/m + (m − 1)/m. MaSS with η = 1/L₁(m), α = 1/√(κ_m κ̃_m), δ = η/(α κ̃_m)
converges like (1 − 1/√(κ_m κ̃_m))^t, SGD at its step 1/L₁(m) like (1 − 1/κ_m)^t: an
acceleration √(κ_m/κ̃_m) (their Theorems 1–2; :func:`liu_belkin_mass`). For Gaussian
features x ~ N(0, H) in p dimensions, L₁ = tr H + 2λ_max and κ̃ = p + 2 (the fourth
moments E[xᵀAx · x xᵀ] = tr(AH) H + 2 H A H): the closed forms the tests use.

**On a network** μ is not a usable number: the tangent curvature of a wide network has a
continuum of eigenvalues down to 0, and a sample of n < |θ| features has μ = 0 exactly.
:func:`tangent_curvature` therefore returns the constants on each top-j eigenspace of the
sample curvature H_n (j = 1 … ``modes``): with V_j its top eigenvectors, Λ_j their
eigenvalues and z = V_jᵀ φ, L₁(j) and κ̃(j) are the largest eigenvalues of
Λ_j^{-1/2} E[‖φ‖² z zᵀ] Λ_j^{-1/2} and Λ_j^{-1/2} E[‖z‖²_{Λ_j⁻¹} z zᵀ] Λ_j^{-1/2} (the
full ‖φ‖²: a sample moves every direction, whatever subspace is watched), and μ(j) = λ_j.
Which j to use is a choice the caller states; C5 takes μ = L₁(m)/T, the smallest curvature
SGD's step resolves within a budget of T steps (so κ_m = T), or λ_K if that is smaller, and
the subspace of the modes above it (:meth:`TangentCurvature.at`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from mflab.optimizers.critical_batch import tangent_operators
from mflab.optimizers.mass import mass_parameters
from mflab.validation import check_int, check_positive


class LiuBelkinMaSS(NamedTuple):
    """MaSS's parameters at batch m (:func:`liu_belkin_mass`): the two-variable (η1, η2, γ)
    of :func:`~mflab.optimizers.mass`, Liu & Belkin's α, L₁(m), κ_m, κ̃_m, and the
    per-step contraction factors their theory gives MaSS and SGD (at step 1/L₁(m))."""

    eta1: float
    eta2: float
    gamma: float
    alpha: float
    L1_m: float
    kappa_m: float
    kappa_tilde_m: float
    rate: float
    rate_sgd: float


def liu_belkin_mass(m: int, *, L1: float, L: float, mu: float, kappa_tilde: float
                    ) -> LiuBelkinMaSS:
    """Liu & Belkin's MaSS parameters at batch m (ICLR 2020, §4, Theorem 2)::

        L₁(m) = L₁/m + (m − 1) L/m,   κ_m = L₁(m)/μ,   κ̃_m = κ̃/m + (m − 1)/m,
        η = 1/L₁(m),   α = 1/√(κ_m κ̃_m),   δ = η/(α κ̃_m),

    mapped to the two-variable form by :func:`~mflab.optimizers.mass.mass_parameters`:
    η1 = η, η2 = η (1 − 1/κ̃_m)/(1 + α), γ = (1 − α)/(1 + α). The loss is the one whose
    Hessian the constants describe (for ½(ŷ − y)², H = E[φφᵀ]; for (ŷ − y)², 2H).

    Args:
      m: mini-batch size (≥ 1).
      L1, L, mu: the per-sample smoothness L₁, λ_max and λ_min of the Hessian, with
        0 < μ ≤ L ≤ L₁.
      kappa_tilde: the statistical condition number κ̃ ≥ 1.

    Returns a :class:`LiuBelkinMaSS`; ``rate`` = 1 − 1/√(κ_m κ̃_m) bounds MaSS's
    contraction per step, ``rate_sgd`` = 1 − 1/κ_m SGD's at step 1/L₁(m).
    """
    m = check_int("m", m)
    L1, L, mu = (check_positive(n, v) for n, v in (("L1", L1), ("L", L), ("mu", mu)))
    if not mu <= L <= L1:
        raise ValueError(f"need 0 < mu <= L <= L1; got mu={mu!r}, L={L!r}, L1={L1!r}.")
    kt = float(kappa_tilde)
    if not kt >= 1.0:
        raise ValueError(f"kappa_tilde must be >= 1; got {kappa_tilde!r}.")
    L1_m = L1 / m + (m - 1) * L / m
    kappa_m = L1_m / mu
    kt_m = kt / m + (m - 1) / m
    alpha = min(1.0, 1.0 / np.sqrt(kappa_m * kt_m))
    eta1, eta2, gamma = mass_parameters(1.0 / L1_m, alpha, kt_m)
    return LiuBelkinMaSS(eta1, eta2, gamma, alpha, L1_m, kappa_m, kt_m, 1.0 - alpha,
                         1.0 - 1.0 / kappa_m)


class TangentCurvature(NamedTuple):
    """Liu & Belkin's constants of a model's square loss at θ, on the top-j eigenspaces of
    the sample curvature H_n, j = 1 … K (module docstring); every curvature is × the
    ``loss_scale`` it was computed with.

    ``lam`` (K,): the top eigenvalues of H_n, descending (μ(j) = ``lam[j-1]``);
    ``L1`` (K,), ``kappa_tilde`` (K,): L₁(j), κ̃(j); ``trace``: the mean ‖φ(x_i)‖²
    (L₁'s Gaussian-free estimate of :func:`~mflab.optimizers.critical_batch`)."""

    lam: np.ndarray
    L1: np.ndarray
    kappa_tilde: np.ndarray
    trace: float
    samples: int

    def at(self, mu: float) -> dict:
        """The constants on the eigenspace of the modes with λ ≥ ``mu`` (at least the top
        one): ``L1``, ``L``, ``mu`` (= ``mu``), ``kappa_tilde``, ``modes`` (j) and
        ``capped`` (True when every computed mode lies above ``mu``: more modes might
        belong, and κ̃ is then a lower estimate)."""
        mu = check_positive("mu", mu)
        j = max(1, int(np.sum(self.lam >= mu)))
        return {"L1": float(self.L1[j - 1]), "L": float(self.lam[0]), "mu": mu,
                "kappa_tilde": float(self.kappa_tilde[j - 1]), "modes": j,
                "capped": bool(self.lam[-1] >= mu)}


def tangent_curvature(predict, params: Any, x, *, modes: int = 32, loss_scale: float = 1.0,
                      chunk: int = 128, tol: float = 1e-6) -> TangentCurvature:
    """L₁(j), κ̃(j) and λ_j of the square loss of ``predict`` at ``params`` on the top-j
    eigenspaces of H_n = (1/n) Σ φ(x_i) φ(x_i)ᵀ, j = 1 … ``modes`` (Liu & Belkin 2020, §2;
    module docstring). The top eigenpairs come from Lanczos (``scipy.sparse.linalg.eigsh``)
    on the matrix-free H_n v; the features are projected chunk by chunk.

    Args:
      predict: ``predict(params, x_batch) -> (n,)`` model outputs (a pure JAX function).
      params: the point θ (any pytree of arrays).
      x: the n input samples, leading axis n (n > 2 · ``modes``).
      modes: K, the number of top eigenpairs (1 ≤ K < |θ|).
      loss_scale: the factor of the loss's Hessian over H (1 for ½(ŷ − y)², 2 for
        (ŷ − y)², the risk of the networks of SPEC Part A).
      chunk: samples per chunk of per-sample gradients.
      tol: relative tolerance of the Lanczos eigenvalues.
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    n = check_int("samples", int(jnp.shape(x)[0]), minimum=3)
    K = check_int("modes", modes)
    chunk = check_int("chunk", chunk)
    scale = check_positive("loss_scale", loss_scale)
    flat, matvec, per_sample = tangent_operators(predict, params)
    if not (K < flat.size and 2 * K < n):
        raise ValueError(f"modes must be below the parameter count ({flat.size}) and half "
                         f"the samples ({n}); got modes={K}.")
    dtype = np.dtype(flat.dtype)
    op = LinearOperator((flat.size, flat.size), dtype=dtype, matvec=lambda v: np.asarray(
        matvec(flat, x, jnp.asarray(v.ravel(), dtype))))
    v0 = np.ones(flat.size, dtype)
    lam, vec = eigsh(op, k=K, which="LA", tol=tol, v0=v0)
    order = np.argsort(lam)[::-1]
    lam, vec = lam[order].astype(np.float64), vec[:, order]
    vj = jnp.asarray(vec, dtype)
    z, norms = [], []
    for i in range(0, n, chunk):
        g = per_sample(flat, x[i:i + chunk])
        z.append(np.asarray(g @ vj, np.float64))
        norms.append(np.sum(np.asarray(g, np.float64) ** 2, axis=1))
    u = np.concatenate(z) / np.sqrt(lam)  # whitened: (1/n) Σ u uᵀ = I on the sample
    w1 = np.concatenate(norms)
    big = (u * w1[:, None]).T @ u / n  # Λ^{-1/2} E[‖φ‖² z zᵀ] Λ^{-1/2}, every j a block
    cum = np.cumsum(u ** 2, axis=1)  # ‖z‖²_{Λ_j⁻¹} for each j
    L1 = np.empty(K)
    kt = np.empty(K)
    for j in range(1, K + 1):
        L1[j - 1] = np.linalg.eigvalsh(big[:j, :j])[-1]
        uj = u[:, :j]
        kt[j - 1] = np.linalg.eigvalsh((uj * cum[:, j - 1, None]).T @ uj / n)[-1]
    return TangentCurvature(lam * scale, L1 * scale, kt, float(w1.mean()) * scale, n)
