"""The ``crystalflow`` generator: a chemistry VAE (latent z → integer stoichiometry →
lattice), then flow matching of fractional coordinates on the 3-torus inside
space-group templates of the training crystals.

``model`` holds the network, ``config`` its settings, ``sampling`` turns latents
into crystals, ``training`` fits either stage and ``bundle`` packs two runs into a
bundled model.
"""
