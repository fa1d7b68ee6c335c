"""Visual corruptions (Yi et al. 2021, Mini-Kinetics-C), registered on import.

One module per corruption; :mod:`.functional` holds the shared vectorised
operations. Data layout: ``(T, H, W, 3)`` uint8 RGB in, same out.
"""

from . import bit_error, brightness, contrast, fog, motion_blur, rain, saturate, shot_noise  # noqa: F401

#: the eight visual corruptions of the benchmark, in the paper's order
VISUAL_CORRUPTIONS = ("bit_error", "brightness", "contrast", "fog", "rain", "motion_blur", "saturate", "shot_noise")

__all__ = ["VISUAL_CORRUPTIONS"]
