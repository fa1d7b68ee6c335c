"""Babble: several simultaneous independent talkers mixed in at an exact SNR.

Talkers are synthesised speech-like voices (:mod:`.speech_synth`) by default,
or real recordings from a user folder (``babble_dir``, the CLI's ``--babble-dir``).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ..base import CORRUPTIONS
from . import functional as F
from .common import AudioCorruption
from .overlay import OverlayNoise
from .speech_synth import active_offset

BABBLE_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".mp4", ".mkv", ".webm", ".mov", ".avi")


@CORRUPTIONS.register("babble", rank=1)
class Babble(OverlayNoise, AudioCorruption):
    """``talkers`` independent talkers summed and added at ``snr_db`` over the whole track.

    Each talker is normalised to unit RMS, given a random level (+-3 dB) and a
    random gain on every channel (0.5-1.0, a fixed position in the room), so all
    channels hear the same crowd with different balances. The mixture is then
    scaled so the track-to-babble power ratio over all channels is exactly ``snr_db``.

    ``babble_dir``: a folder of speech recordings (audio or video files, read
    with :func:`robusta_bench.media.decode.read_audio`, downmixed to mono and
    resampled to the track's rate). Talkers are drawn from the sorted file list
    with the item's seed (without replacement while enough files exist), each
    starting at a seeded offset and looped to the track's length.

    ``noise_dir``: a folder with a ``babble.*`` recording (the NOISEX-92 name:
    a crowd already), overlaid whole at ``snr_db`` instead of the talkers
    (:mod:`.overlay`); it takes precedence over ``babble_dir``.
    """

    version = 1
    description = "several independent talkers (synthetic speech or --babble-dir recordings) at an SNR"
    levels = (
        {"snr_db": 20.0, "talkers": 3},
        {"snr_db": 15.0, "talkers": 4},
        {"snr_db": 10.0, "talkers": 5},
        {"snr_db": 5.0, "talkers": 6},
        {"snr_db": 0.0, "talkers": 8},
    )
    cache_files = 16

    def __init__(self, babble_dir: str | Path | None = None, noise_dir: str | Path | None = None) -> None:
        self._init_noise(noise_dir)
        self.babble_dir = Path(babble_dir) if babble_dir is not None else None
        self._files: list[Path] | None = None
        self._cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        if self.babble_dir is not None:
            self._files = babble_files(self.babble_dir)

    def source_id(self) -> str:
        """Provenance of the talkers, for manifests and caches: ``synthetic`` or ``dir:<sha256[:16]>``.

        The hash covers the babble files' names, sizes and modification times, so
        a changed folder gives a different id (outputs made with it differ).
        """
        if self._files is None:
            return "synthetic"
        import hashlib

        h = hashlib.sha256()
        for path in self._files:
            st = path.stat()
            h.update(f"{path.name}\x1f{st.st_size}\x1f{int(st.st_mtime)}\n".encode())
        return "dir:" + h.hexdigest()[:16]

    def noise_source(self) -> str:
        """``file:babble.<ext>:sha256:<hex>`` (``noise_dir``), ``dir:<hash>`` (``babble_dir``) or ``generated``."""
        if self.noise is not None:
            return self.noise.source()
        return "generated" if self._files is None else self.source_id()

    def corrupt(self, x: np.ndarray, rate: int, params: dict[str, Any], seed: int) -> np.ndarray:
        """Add ``params['talkers']`` talkers (or the ``noise_dir`` recording) at ``params['snr_db']``."""
        recorded = self.recorded_overlay(x, rate, params, seed)
        if recorded is not None:
            return recorded
        rng = np.random.default_rng(seed)
        n_talkers = int(params["talkers"])
        c, n = x.shape
        if self._files is None:
            from .speech_synth import synth_babble_sources

            sources = synth_babble_sources(n_talkers, n, rate, rng)
        else:
            sources = self._recorded_sources(n_talkers, n, rate, rng)
        levels = 10.0 ** (rng.uniform(-3.0, 3.0, n_talkers) / 20.0)
        gains = rng.uniform(0.5, 1.0, (c, n_talkers)) * levels[None, :]
        babble = gains @ sources  # (C, N)
        if F.power(x) > 0 and F.power(babble) == 0:
            raise ValueError("babble: the selected talkers are silent over this track")
        return F.mix_at_snr(x, babble, float(params["snr_db"]))

    def _recorded_sources(self, n_talkers: int, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
        files = self._files or []
        replace = len(files) < n_talkers
        picks = rng.choice(len(files), size=n_talkers, replace=replace)
        out = np.empty((n_talkers, n))
        for row, idx in enumerate(picks):
            mono = self._load(files[int(idx)], rate)
            reps = -(-n // len(mono)) + 1  # loop the recording so any offset covers n samples
            looped = np.tile(mono, reps)
            offset = active_offset(looped[: len(mono) + n], n, rng)
            out[row] = looped[offset : offset + n]
            rms = np.sqrt(np.mean(out[row] ** 2))
            if rms > 0:
                out[row] /= rms
        return out

    def _load(self, path: Path, rate: int) -> np.ndarray:
        key = (str(path), rate)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        from ...media.decode import MediaError, read_audio

        try:
            samples, _ = read_audio(path, rate=rate, mono=True)
        except MediaError as exc:
            raise ValueError(f"babble: cannot use babble recording {path.name}: {exc}") from exc
        mono = samples[0].astype(np.float64)
        if len(mono) == 0 or not np.any(mono):
            raise ValueError(f"babble: babble recording {path.name} is silent")
        self._cache[key] = mono
        while len(self._cache) > self.cache_files:
            self._cache.popitem(last=False)
        return mono


def babble_files(folder: str | Path) -> list[Path]:
    """Sorted audio/video files directly inside ``folder`` (extensions in :data:`BABBLE_EXTENSIONS`).

    Raises :class:`ValueError` when the folder does not exist or holds none.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"babble: --babble-dir {folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in BABBLE_EXTENSIONS)
    if not files:
        raise ValueError(
            f"babble: --babble-dir {folder} holds no audio or video files ({', '.join(BABBLE_EXTENSIONS)})"
        )
    return files
