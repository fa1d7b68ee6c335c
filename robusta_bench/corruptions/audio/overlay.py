"""Noise overlays: a noise recording (the user's, ``--noise-dir``) mixed into the track at an SNR.

The paper's audio corruptions are grouped as "Overlay, bit error, pitch shift,
random dropout, and reverb", and its Table II names ``babble``, ``hfchannel``,
``pink`` and ``white``: the NOISEX-92 noise recordings, overlaid at a given
SNR. NOISEX-92 cannot be shipped, so each overlay type generates its noise by
default (:mod:`.babble`, :mod:`.hf_channel`, :mod:`.pink_noise`,
:mod:`.white_noise`); ``--noise-dir DIR`` replaces the generated noise by the
user's recordings, found by their NOISEX-92 names (:data:`NOISEX_NAMES`:
``babble.wav``, ``hfchannel.wav``, ``pink.wav``, ``white.wav``; any audio or
video file extension). A recording is read as mono at the track's rate,
looped to the track's length and started at a seeded offset, independently per
channel (each channel starts elsewhere in the recording).

Since the noise changes the benchmark, every output records its noise source
(:meth:`NoiseRecording.source`: ``generated`` or ``file:<name>:sha256:<hex>``)
in the corrupt manifest and in the feature store's variant metadata.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from . import functional as F

#: corruption name -> NOISEX-92 file stem
NOISEX_NAMES: dict[str, str] = {"babble": "babble", "hf_channel": "hfchannel", "pink_noise": "pink", "white_noise": "white"}
NOISE_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".mp4", ".mkv", ".webm", ".mov", ".avi")
GENERATED = "generated"


def noise_file(noise_dir: str | Path, corruption: str) -> Path | None:
    """The recording for ``corruption`` in ``noise_dir`` (``<NOISEX name>.<ext>``, case-insensitive), or None.

    Raises :class:`ValueError` if ``noise_dir`` is not a folder, holds none of
    the four NOISEX-92 names, or holds two files for the same name.
    """
    folder = Path(noise_dir)
    if not folder.is_dir():
        raise ValueError(f"--noise-dir {folder} is not a folder")
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in NOISE_EXTENSIONS and p.stem.lower() in NOISEX_NAMES.values():
            found.setdefault(p.stem.lower(), []).append(p)
    if not found:
        names = ", ".join(f"{s}.wav" for s in NOISEX_NAMES.values())
        raise ValueError(f"--noise-dir {folder} holds none of the NOISEX-92 noise files ({names}; any audio extension)")
    hits = found.get(NOISEX_NAMES[corruption], [])
    if len(hits) > 1:
        raise ValueError(f"--noise-dir {folder}: several files for {corruption}: {', '.join(p.name for p in hits)}")
    return hits[0] if hits else None


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class NoiseRecording:
    """One noise recording: decoded lazily per sample rate (mono float64), identified by its sha256."""

    cache_rates = 4

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.sha256 = file_sha256(self.path)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def source(self) -> str:
        """``file:<name>:sha256:<hex>`` (for manifests and store metadata)."""
        return f"file:{self.path.name}:sha256:{self.sha256}"

    def mono(self, rate: int) -> np.ndarray:
        """The recording as mono float64 at ``rate`` Hz (one-line errors naming the file)."""
        if rate in self._cache:
            self._cache.move_to_end(rate)
            return self._cache[rate]
        from ...media.decode import MediaError, read_audio

        try:
            samples, _ = read_audio(self.path, rate=rate, mono=True)
        except MediaError as exc:
            raise ValueError(f"cannot use noise recording {self.path.name}: {exc}") from exc
        mono = np.asarray(samples[0], dtype=np.float64)
        if len(mono) == 0 or not np.any(mono):
            raise ValueError(f"noise recording {self.path.name} is silent")
        self._cache[rate] = mono
        while len(self._cache) > self.cache_rates:
            self._cache.popitem(last=False)
        return mono

    def segment(self, channels: int, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
        """``(channels, n)`` noise: the recording looped to length from a seeded offset per channel."""
        return loop_crop(self.mono(rate), channels, n, rng)


def loop_crop(mono: np.ndarray, channels: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(channels, n)`` slices of ``mono`` repeated end to end, each starting at a seeded offset."""
    offsets = rng.integers(0, len(mono), size=channels)
    idx = (offsets[:, None] + np.arange(n)[None, :]) % len(mono)
    return mono[idx]


class OverlayNoise:
    """Mixin of the overlay corruptions: ``noise_dir`` replaces the generated noise by a recording.

    Subclasses call :meth:`recorded_overlay` first in ``corrupt`` and fall
    back to their generated noise when it returns None.
    """

    uses_noise_dir = True
    noise: NoiseRecording | None = None

    def _init_noise(self, noise_dir: str | Path | None) -> None:
        path = noise_file(noise_dir, self.name) if noise_dir is not None else None
        self.noise = NoiseRecording(path) if path is not None else None

    def noise_source(self) -> str:
        """``generated`` or ``file:<name>:sha256:<hex>``."""
        return self.noise.source() if self.noise is not None else GENERATED

    def recorded_overlay(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray | None:
        """``x`` plus the recording at ``params['snr_db']`` (None without a recording)."""
        if self.noise is None:
            return None
        rng = np.random.default_rng([int(seed), 0x4E4F4953])  # "NOIS": its own stream of the item seed
        noise = F.equal_channel_power(self.noise.segment(x.shape[0], x.shape[1], rate, rng))
        if F.power(x) > 0 and F.power(noise) == 0:
            raise ValueError(f"{self.name}: noise recording {self.noise.path.name} is silent over this track")
        return F.mix_at_snr(x, noise, float(params["snr_db"]))


def make_corruption(name: str, noise_dir: str | Path | None = None) -> Any:
    """The registered corruption ``name``; an overlay type gets ``noise_dir`` (others ignore it)."""
    from ..base import CORRUPTIONS, get_corruption

    cls = CORRUPTIONS.get(name) if noise_dir is not None else None
    if cls is not None and getattr(cls, "uses_noise_dir", False):
        return cls(noise_dir=noise_dir)
    return get_corruption(name)


def noise_source(name: str, noise_dir: str | Path | None = None) -> str | None:
    """The noise source ``name`` uses with ``noise_dir`` (None for a corruption that overlays no noise)."""
    from ..base import CORRUPTIONS, corruption_names

    corruption_names()
    if name not in CORRUPTIONS or not getattr(CORRUPTIONS.get(name), "uses_noise_dir", False):
        return None
    return make_corruption(name, noise_dir).noise_source()
