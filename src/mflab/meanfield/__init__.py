"""The mean-field side of mflab (SPEC Part A): data models, unit types, exact risk, the network
as a landscape (online SGD is B1 on it, SPEC A5), and the distributional-dynamics solver;
:mod:`mflab.meanfield.weak_error` fits the SGD → DD bias a N^−p + b ε^q (issue 23).

Shape convention: particles (hidden units) are ``(N, D)`` arrays, one row per unit,
``[extra..., w...]`` (type a: w; type b: a, b, w; type c: c, w); many seeds add a
leading axis ``(S, N, D)``.
"""

from mflab.meanfield.activations import (
    RELU,
    UNIT_RELU,
    UNIT_SIGMOID,
    RampSum,
    UnitType,
    piecewise_linear,
    relu_gaussian_mean,
    sigma_a1,
    sigma_a2,
    sigmoid,
    sigmoid_deriv,
    unit_a,
)
from mflab.meanfield.data import AnisotropicGaussians, IsotropicGaussians
from mflab.meanfield.dd import (
    DDResult,
    DDSystem,
    FullDD,
    RadialDD,
    cosine_moments,
    radial_density,
    radial_quantiles,
    radial_ubar,
    radial_v,
    solve_dd,
)
from mflab.meanfield.dd_aniso import (
    AnisotropicDD,
    aniso_quantiles,
    aniso_ubar,
    aniso_v,
)
from mflab.meanfield.kernels import NetworkOracle, network_kernels
from mflab.meanfield.landscape import (
    FiniteData,
    data_accuracy,
    data_risk,
    data_risk_accuracy,
    histogram_density,
    mean_norm,
    network_landscape,
    network_observables,
    reduced_coordinates,
    risk_estimate,
)
from mflab.meanfield.network import batch_grad, batch_risk, init_particles, predict
from mflab.meanfield.risk import (
    exact_risk,
    hermite_coeffs,
    interaction_U,
    pair_expectation,
    potential_V,
    risk_terms,
)

__all__ = [
    "RELU", "UNIT_RELU", "UNIT_SIGMOID", "RampSum", "UnitType", "piecewise_linear",
    "relu_gaussian_mean", "sigma_a1", "sigma_a2", "sigmoid", "sigmoid_deriv", "unit_a",
    "AnisotropicGaussians", "IsotropicGaussians",
    "DDResult", "DDSystem", "FullDD", "RadialDD", "cosine_moments", "radial_density",
    "radial_quantiles",
    "radial_ubar", "radial_v", "solve_dd",
    "AnisotropicDD", "aniso_quantiles", "aniso_ubar", "aniso_v",
    "exact_risk", "hermite_coeffs", "interaction_U", "pair_expectation", "potential_V",
    "risk_terms",
    "FiniteData", "network_landscape", "network_observables", "mean_norm",
    "reduced_coordinates", "histogram_density", "data_risk", "data_accuracy",
    "data_risk_accuracy", "risk_estimate",
    "init_particles", "predict", "batch_risk", "batch_grad",
    "network_kernels", "NetworkOracle",
]
