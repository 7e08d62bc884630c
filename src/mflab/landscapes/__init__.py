"""Objectives Φ with their ground truth (minima, stationary points, closed forms)."""

from mflab.landscapes.base import Landscape, LandscapeProtocol, StationaryPoint
from mflab.landscapes.from_loss import from_loss
from mflab.landscapes.mueller_brown_potential import mueller_brown
from mflab.landscapes.simple import double_well, ill_conditioned_quadratic, quadratic, quartic

__all__ = [
    "Landscape",
    "LandscapeProtocol",
    "StationaryPoint",
    "from_loss",
    "mueller_brown",
    "quadratic",
    "ill_conditioned_quadratic",
    "double_well",
    "quartic",
]
