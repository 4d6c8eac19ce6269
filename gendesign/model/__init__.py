"""The generative models.

- :mod:`gendesign.model.generator`: what users call (``Generator.from_pretrained``),
  whichever family the bundle holds.
- :mod:`gendesign.model.crystalflow`: the default family; a chemistry VAE (z →
  stoichiometry → lattice) and a flow of fractional coordinates on the torus.
- :mod:`gendesign.model.cdvae`: the CDVAE family; one VAE with a score decoder sampled
  by annealed Langevin dynamics.
- :mod:`gendesign.model.common`: what both families share: the user's constraints,
  latent steering, symmetrising and writing a sampling run.

The two families never import each other (the import contract in ``pyproject.toml``).
"""
