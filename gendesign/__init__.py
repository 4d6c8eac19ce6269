"""gendesign: generative inverse design of inorganic crystals."""
