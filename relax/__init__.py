"""Interatomic potentials (MACE first, CHGNet offline fallback), relaxation and energy above hull.

from relax import load_potential, relax_structures
table = relax_structures(structures, potential="auto", out_dir="outputs/relax-run")
"""

from relax.potentials import load_potential
from relax.relaxation import RelaxSettings, relax_structure
from relax.runner import relax_structures

__all__ = ["RelaxSettings", "load_potential", "relax_structure", "relax_structures"]
