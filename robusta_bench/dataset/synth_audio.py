"""Render the sound track of a synthetic video plan (float32 mono in [-1, 1]).

Calm bed (every video): coloured noise (1/f^alpha, a random alpha) around
-32 dBFS plus one to three slowly modulated tonal hums.

Inside anomalous segments, scaled by the segment's ``audio_strength``: a rough
broadband bed (amplitude-modulated noise) and one synthesised sound per hit —
shot (sharp broadband crack), punch (low thud), bang (mid crack), boom (long
low rumble with a falling tone), crash (noise plus inharmonic metallic
partials), scream (harmonic tone with vibrato). Sounds are cut with a short
fade at the segment end so the annotation stays exact.

Distractors (some normal videos only): a door slam, a car horn or clatter at a
moderate level, with no visual counterpart.
"""

from __future__ import annotations

import numpy as np

from .synth_plan import Hit, VideoPlan

AMBIENCE_DBFS = -32.0
EVENT_BED_DBFS = -17.0
HIT_PEAK = 0.7
PEAK_LIMIT = 0.95
FADE_S = 0.01


def db(x: float) -> float:
    """Linear gain of ``x`` dB."""
    return float(10.0 ** (x / 20.0))


def _rms_normalise(x: np.ndarray, dbfs: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x * x))) or 1.0
    return x * (db(dbfs) / rms)


def coloured_noise(rng: np.random.Generator, n: int, alpha: float) -> np.ndarray:
    """Noise with power spectrum ~ 1/f^alpha (alpha 0 white, 1 pink, 2 brown), zero mean, unit RMS."""
    spec = np.fft.rfft(rng.normal(0, 1, n))
    f = np.arange(spec.shape[0], dtype=np.float64)
    f[0] = 1.0
    spec *= f ** (-alpha / 2.0)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x * x)) or 1.0)


def _lowpass(x: np.ndarray, cutoff: float, rate: int) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    cutoff = min(cutoff, 0.45 * rate)
    return sosfilt(butter(2, cutoff, btype="low", fs=rate, output="sos"), x)


def _highpass(x: np.ndarray, cutoff: float, rate: int) -> np.ndarray:
    from scipy.signal import butter, sosfilt

    return sosfilt(butter(2, min(cutoff, 0.45 * rate), btype="high", fs=rate, output="sos"), x)


def ambience(plan: VideoPlan, rate: int, n: int) -> np.ndarray:
    """The calm background sound of the whole video."""
    rng = np.random.default_rng(plan.scene["ambience_seed"])
    t = np.arange(n) / rate
    bed = coloured_noise(rng, n, rng.uniform(0.8, 2.0))
    bed = _rms_normalise(bed, AMBIENCE_DBFS + rng.uniform(-3, 3))
    tones = np.zeros(n)
    for _ in range(int(rng.integers(1, 4))):
        f0 = rng.uniform(70, 420)
        am = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.05, 0.4) * t + rng.uniform(0, 2 * np.pi))
        for k in range(1, 4):
            tones += am * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k
    tones = _rms_normalise(tones, AMBIENCE_DBFS - 4 + rng.uniform(-3, 3))
    return bed + tones


def hit_sound(kind: str, rate: int, rng: np.random.Generator) -> np.ndarray:
    """One synthesised sound of ``kind`` (peak about 1)."""
    def env(dur: float, tau: float, attack: float = 0.002) -> tuple[np.ndarray, np.ndarray]:
        t = np.arange(int(dur * rate)) / rate
        return t, np.minimum(1.0, t / attack) * np.exp(-t / tau)

    if kind == "shot":
        t, e = env(0.35, rng.uniform(0.015, 0.04))
        x = rng.normal(0, 1, t.size) * e + 0.8 * np.sin(2 * np.pi * 110 * t) * np.exp(-t / 0.06)
    elif kind == "bang":
        t, e = env(0.5, rng.uniform(0.04, 0.09))
        x = _lowpass(rng.normal(0, 1, t.size), rng.uniform(2500, 5000), rate) * e * 2.0
    elif kind in ("punch", "slam"):
        t, e = env(0.3, rng.uniform(0.03, 0.07), 0.004)
        f = rng.uniform(55, 120)
        x = _lowpass(rng.normal(0, 1, t.size), 900, rate) * e * 3.0 + np.sin(2 * np.pi * f * t) * np.exp(-t / 0.08)
    elif kind == "boom":
        t, e = env(1.6, rng.uniform(0.35, 0.7), 0.01)
        f = rng.uniform(45, 80) * np.exp(-t / 0.8)
        phase = 2 * np.pi * np.cumsum(f) / rate
        x = np.sin(phase) * e + _lowpass(rng.normal(0, 1, t.size), 400, rate) * e * 3.0 + rng.normal(0, 1, t.size) * np.exp(-t / 0.05) * 0.5
    elif kind == "crash":
        t, e = env(1.0, rng.uniform(0.15, 0.35))
        x = rng.normal(0, 1, t.size) * e
        for _ in range(5):
            x += 0.4 * np.sin(2 * np.pi * rng.uniform(800, min(4500, 0.45 * rate)) * t) * np.exp(-t / rng.uniform(0.2, 0.6))
    elif kind == "scream":
        dur = rng.uniform(0.5, 1.2)
        t = np.arange(int(dur * rate)) / rate
        e = np.minimum(1.0, t / 0.05) * np.minimum(1.0, (dur - t) / 0.15)
        f0 = rng.uniform(650, 1100) * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(5, 7) * t)) * (1 + 0.15 * t / dur)
        phase = 2 * np.pi * np.cumsum(f0) / rate
        x = sum(np.sin(k * phase) / k for k in range(1, 5) if k * 1200 < 0.45 * rate) * e
        x = x + 0.15 * _highpass(rng.normal(0, 1, t.size), 1500, rate) * e
    elif kind == "horn":
        dur = rng.uniform(0.5, 1.3)
        t = np.arange(int(dur * rate)) / rate
        e = np.minimum(1.0, t / 0.03) * np.minimum(1.0, (dur - t) / 0.05)
        f = rng.uniform(300, 480)
        x = sum(np.sin(2 * np.pi * f * k * t) / k for k in range(1, 4)) * e
    elif kind == "clatter":
        dur = rng.uniform(0.8, 1.6)
        n = int(dur * rate)
        x = np.zeros(n)
        for _ in range(int(rng.integers(6, 14))):
            s = int(rng.integers(0, max(1, n - rate // 20)))
            m = min(n - s, rate // 20)
            tt = np.arange(m) / rate
            x[s : s + m] += np.sin(2 * np.pi * rng.uniform(1500, min(5000, 0.45 * rate)) * tt) * np.exp(-tt / 0.008) * rng.uniform(0.3, 1.0)
    else:
        raise ValueError(f"unknown sound kind {kind!r}")
    peak = float(np.max(np.abs(x))) or 1.0
    return x / peak


def _add(buf: np.ndarray, sound: np.ndarray, start: int, stop: int, rate: int) -> None:
    """Add ``sound`` at sample ``start``, cut (with a short fade) at sample ``stop``."""
    stop = min(stop, buf.size)
    m = min(sound.size, stop - start)
    if m <= 0 or start < 0:
        return
    piece = sound[:m].copy()
    if start + sound.size > stop:
        fade = min(m, int(FADE_S * rate))
        piece[m - fade :] *= np.linspace(1.0, 0.0, fade)
    buf[start : start + m] += piece


def _hit_sound(hit: Hit, rate: int) -> np.ndarray:
    return hit_sound(hit.kind, rate, np.random.default_rng(hit.seed)) * hit.gain


def render_audio(plan: VideoPlan, rate: int = 16000) -> np.ndarray:
    """The plan's sound track: float32 mono samples in [-1, 1], exactly ``n_frames / fps`` seconds long."""
    n = int(round(plan.n_frames * rate / plan.fps))
    out = ambience(plan, rate, n)
    rng = np.random.default_rng(plan.seed + 7)
    for seg in plan.segments:
        a0 = int(round(seg.start * rate / plan.fps))
        a1 = min(n, int(round(seg.end * rate / plan.fps)))
        m = a1 - a0
        if m <= 0:
            continue
        t = np.arange(m) / rate
        # rough bed: band-limited noise with a fast random amplitude modulation
        bed = _highpass(coloured_noise(rng, m, 0.6), 150, rate)
        am = np.repeat(rng.uniform(0.4, 1.0, m // (rate // 20) + 1), rate // 20)[:m]
        ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / FADE_S + 1e-9)
        out[a0:a1] += _rms_normalise(bed, EVENT_BED_DBFS) * am * ramp * seg.audio_strength
        for hit in seg.hits:
            start = int(round(hit.t * rate))
            _add(out, _hit_sound(hit, rate) * HIT_PEAK * seg.audio_strength, start, a1, rate)
    for hit in plan.distractors:
        start = int(round(hit.t * rate))
        _add(out, _hit_sound(hit, rate) * HIT_PEAK, start, n, rate)
    peak = float(np.max(np.abs(out))) if n else 0.0
    if peak > PEAK_LIMIT:
        out *= PEAK_LIMIT / peak
    return out.astype(np.float32)
