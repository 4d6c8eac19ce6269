"""What both generator families share: the user's constraints (elements, atom counts,
property ranges), steering latents toward property targets, snapping a decoded
crystal onto its space group, and writing a sampling run folder."""
