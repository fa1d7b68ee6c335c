"""Audio corruptions, registered on import (8 types x 5 severities; see docs/corruptions-audio.md).

Each works on a whole decoded track, ``(C, N)`` float32 in [-1, 1] at ``rate``
Hz, and returns the same shape, dtype and rate.
"""

from . import (  # noqa: F401  (imported to register)
    babble,
    bitrate,
    hf_channel,
    pink_noise,
    pitch_shift,
    random_dropout,
    reverb,
    white_noise,
)

AUDIO_CORRUPTIONS = (
    "babble",
    "bitrate",
    "hf_channel",
    "pink_noise",
    "pitch_shift",
    "random_dropout",
    "reverb",
    "white_noise",
)

__all__ = ["AUDIO_CORRUPTIONS"]
