"""Model sets: the demo model generator, the Xet download, verification and publishing."""
