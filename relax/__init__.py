"""Interatomic potentials (MACE first, CHGNet offline fallback), relaxation and energy above hull."""
