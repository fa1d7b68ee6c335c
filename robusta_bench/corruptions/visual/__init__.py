"""Visual corruptions (Yi et al. 2021, Mini-Kinetics-C): one module per corruption.

Every module here is imported by the corruption registry on first use, so a new
corruption is one new file (see docs/architecture.md); :mod:`.functional` holds
the shared vectorised operations. Data layout: ``(T, H, W, 3)`` uint8 RGB in,
same out.
"""
