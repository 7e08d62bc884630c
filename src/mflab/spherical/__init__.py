"""SPEC C7: kernel networks on the sphere S^{d−1}(√d) learning the spherical 3-spin energy.

* :mod:`~mflab.spherical.sphere`: the uniform law μ, tangent projection, retraction, the
  slice of report eq. 47;
* :mod:`~mflab.spherical.three_spin`: the seeded target f and E_μ f²;
* :mod:`~mflab.spherical.kernel_network`: f_n = (1/n) Σ c_i φ(·, z_i), its initial law;
* :mod:`~mflab.spherical.bessel`: the sphere's moment generating function (log form);
* :mod:`~mflab.spherical.exact_loss`: K, F and the exact loss L;
* :mod:`~mflab.spherical.spectrum`: K's eigenvalues by Funk–Hecke, the weights' time scales;
* :mod:`~mflab.spherical.converged`: converged training (exact weights, L-BFGS centres);
* :mod:`~mflab.spherical.landscape`: L as a Landscape (Riemannian gradient, mini-batch
  oracle, retraction); the mean-field time mapping η = n·dt is
  :func:`mflab.schedules.meanfield_learning_rate`.

Derivations and the choice of the initial weights: ``docs/three-spin-model.md``.
"""

from mflab.spherical.bessel import (
    log_mgf_and_ratios,
    log_sphere_mgf,
    recurrence_depth,
    scaled_sphere_mgf,
)
from mflab.spherical.converged import Converged, converge_centres, reduced_loss
from mflab.spherical.exact_loss import (
    exact_loss,
    kernel_mean,
    kernel_overlap,
    kernel_quadratic,
    matched_weight_scale,
    random_feature_loss,
    target_overlap,
)
from mflab.spherical.kernel_network import (
    KernelParams,
    default_alpha,
    gaussian_kernel,
    init_kernel_params,
    kernel_network,
)
from mflab.spherical.landscape import three_spin_landscape
from mflab.spherical.spectrum import (
    harmonic_multiplicity,
    initial_excess,
    overlap_eigenvalues,
    overlap_profile,
)
from mflab.spherical.sphere import (
    eq47_angles,
    eq47_slice,
    retract_to_sphere,
    tangent_project,
    uniform_sphere,
)
from mflab.spherical.three_spin import (
    symmetrise,
    three_spin,
    three_spin_couplings,
    three_spin_second_moment,
    trace_vector,
)

__all__ = [
    "Converged",
    "KernelParams",
    "converge_centres",
    "default_alpha",
    "eq47_angles",
    "eq47_slice",
    "exact_loss",
    "gaussian_kernel",
    "harmonic_multiplicity",
    "init_kernel_params",
    "initial_excess",
    "kernel_mean",
    "kernel_network",
    "kernel_overlap",
    "kernel_quadratic",
    "log_mgf_and_ratios",
    "log_sphere_mgf",
    "matched_weight_scale",
    "overlap_eigenvalues",
    "overlap_profile",
    "random_feature_loss",
    "recurrence_depth",
    "reduced_loss",
    "retract_to_sphere",
    "scaled_sphere_mgf",
    "symmetrise",
    "tangent_project",
    "target_overlap",
    "three_spin",
    "three_spin_couplings",
    "three_spin_landscape",
    "three_spin_second_moment",
    "trace_vector",
    "uniform_sphere",
]
