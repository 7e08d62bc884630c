"""The registry of studies: name → (module:attribute, one-line description).

Entries are strings so that ``mflab list`` imports no study module. To add a study,
write ``mflab/studies/<module>.py`` defining a :class:`~mflab.studies.base.Study`
subclass instance (conventionally ``STUDY``) and add one line to :data:`STUDIES`
(its description must equal the study's own ``description``; a test checks it).
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

from mflab.errors import UnknownStudyError


class Entry(NamedTuple):
    """Where a study lives and what it does."""

    target: str  # "module:attribute"
    description: str
    #: Seconds its quick preset takes (measured, 2 cores, two studies at a time): a pool
    #: starts the heaviest members first (longest-processing-time order), so the last one
    #: to finish does not run alone. Only the order of work depends on it, never a result.
    quick_s: float = 0.0


def cost(study: str) -> float:
    """The expected relative cost of a study's run (:attr:`Entry.quick_s`; 0 if unknown)."""
    entry = STUDIES.get(study)
    return entry.quick_s if entry is not None else 0.0


#: Every registered study, in the order ``mflab reproduce`` lists them (a pool starts the
#: heaviest first, :func:`cost`).
STUDIES: dict[str, Entry] = {
    "mueller-brown": Entry(
        "mflab.studies.mueller_brown:STUDY",
        "C6: every Part B optimiser on the Müller–Brown potential from uniform starts "
        "at equal gradient cost; basin fractions, final values, trajectories.",
        quick_s=20,
    ),
    "mf-isotropic": Entry(
        "mflab.studies.mf_isotropic:MF_ISOTROPIC",
        "C1: isotropic Gaussians, piecewise-linear units (A1): SGD on N units vs "
        "the radial distributional dynamics",
        quick_s=31,
    ),
    "mf-nonmonotone": Entry(
        "mflab.studies.mf_isotropic:MF_NONMONOTONE",
        "C2: non-monotone activation (A2): two initialisations κ reach a good and "
        "a bad stationary point, in SGD and in the DD",
        quick_s=67,
    ),
    "mf-anisotropic": Entry(
        "mflab.studies.mf_anisotropic:STUDY",
        "C3: anisotropic Gaussians, ReLU units (A3): one initialisation trains, "
        "one stalls; SGD vs the DD in (a, b, r1, r2)",
        quick_s=45,
    ),
    "mf-radial-minimum": Entry(
        "mflab.studies.mf_radial_minimum:STUDY",
        "C2 companion: the global minimum of the A2 risk over radial laws "
        "(convex QP, KKT certificate) and the DD's end points placed against it",
        quick_s=41,
    ),
    "mf-convergence": Entry(
        "mflab.studies.mf_convergence:STUDY",
        "SGD → DD as N grows and ε shrinks: risk gaps at fixed times (per run and "
        "seed-averaged) and their local log-log slopes (Theorem 2.1: "
        "sqrt(max(1/N, ε)))",
        quick_s=61,
    ),
    "optimizers-networks": Entry(
        "mflab.studies.optimizers_networks:STUDY",
        "C5: Part B optimisers on the networks of A1–A4 (both starts of A2, A3) "
        "at equal budget per ensemble, tuned alike, paired seeds; m = 1, 100.",
        quick_s=115,
    ),
    "mnist-lln": Entry(
        "mflab.studies.mnist_lln:STUDY",
        "C4: mean-field sigmoid networks on real MNIST for growing width N; "
        "the units' law settles (W1 to the largest N), test accuracy.",
        quick_s=10,
    ),
    "three-spin": Entry(
        "mflab.studies.three_spin:STUDY",
        "C7: kernel networks on the sphere learn the spherical 3-spin energy: "
        "each d's constants, f and a trained f_n on the slice of eq. 47 (exact "
        "loss).",
        quick_s=12,
    ),
    "three-spin-optimizers": Entry(
        "mflab.studies.three_spin_optimizers:STUDY",
        "C7 fig. 15: Part B optimisers on the 3-spin kernel networks (d = 3, 4, "
        "5) through C5's harness: equal budget, tuned alike, paired seeds, "
        "exact-gradient controls.",
        quick_s=40,
    ),
    "three-spin-scaling": Entry(
        "mflab.studies.three_spin_scaling:STUDY",
        "D2: Rotskoff–Vanden-Eijnden's O(1/n) on the 3-spin kernel networks: the "
        "excess loss vs n at fixed times and at convergence, fitted with intervals.",
        quick_s=20,
    ),
}


def names() -> list[str]:
    """Registered study names, in registry order."""
    return list(STUDIES)


def describe(name: str) -> str:
    """One-line description of a study (a registered one without importing it)."""
    if name in STUDIES:
        return STUDIES[name].description
    study = get(name)
    doc = getattr(study, "description", None) or (type(study).__doc__ or name).strip()
    return doc.splitlines()[0]


def get(name: str):
    """The study registered as ``name`` (imports its module), or a user's study given as
    ``module:attribute`` (an importable module on ``sys.path``, the attribute a
    :class:`~mflab.studies.base.Study` instance or subclass): ``mflab run my_module:MyStudy``
    runs it without editing this registry."""
    from mflab.studies.base import Study

    if name in STUDIES:
        module, attr = STUDIES[name].target.split(":")
        return getattr(importlib.import_module(module), attr)
    if ":" not in name:
        raise UnknownStudyError(
            f"unknown study {name!r}; registered studies: {', '.join(STUDIES)} "
            "(or a study of your own as module:attribute)."
        )
    module, _, attr = name.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise UnknownStudyError(f"cannot load study {name!r}: {type(e).__name__}: {e}.") from None
    if isinstance(obj, type) and issubclass(obj, Study):
        obj = obj()
    if not isinstance(obj, Study):
        raise UnknownStudyError(f"{name!r} is a {type(obj).__name__}, not a mflab Study (a "
                                "subclass of mflab.studies.base.Study or an instance of one).")
    return obj
