"""Models: Sequential (and the functional Model), with compile / fit / evaluate / predict."""

from kerasette.models.sequential import Sequential

__all__ = ["Sequential"]
