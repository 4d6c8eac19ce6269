"""gendesign: generative inverse design of inorganic crystals."""

from gendesign import moved_modules

moved_modules.install()
