"""The CDVAE-style generator (Xie et al., ICLR 2022): a periodic GNN encoder, property
and composition heads on the latent z, and a score decoder sampled by annealed
Langevin dynamics.

``model`` holds the network, ``config`` its settings, ``sampling`` the Langevin
decoder, ``training`` fits it and ``bundle`` packs a run into a bundled model.
"""

from gendesign.moved_modules import forward_old_module_names

# Until the next release, ``gendesign.model.cdvae`` also answers for the names of the
# module it replaced (now ``gendesign.model.cdvae.model``), with a DeprecationWarning.
__getattr__ = forward_old_module_names(__name__, "gendesign.model.cdvae.model")
