"""Visual corruptions (Yi et al. 2021, Mini-Kinetics-C), registered on import."""
