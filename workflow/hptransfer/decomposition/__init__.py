"""The trajectory decomposition (paper §4.2–4.6): alignment spectra of one step (:mod:`.spectra`),
Φ[k] accumulated over layers and EMA points (:mod:`.accumulator`), and its per-example form
(:mod:`.samplewise`)."""

from .accumulator import ParamSpec, SpectrumAccumulator, StepDecomposition, param_specs
from .samplewise import mean_component_index, per_sample_components
from .spectra import alignment_eigenvalues, alignment_eigh

__all__ = [
    "ParamSpec",
    "SpectrumAccumulator",
    "StepDecomposition",
    "alignment_eigenvalues",
    "alignment_eigh",
    "mean_component_index",
    "param_specs",
    "per_sample_components",
]
