"""Speech-like talkers for babble, synthesised from a seed (no speech corpus ships with the package).

A talker is a cascade formant synthesiser driven by a syllable timeline:

- **rhythm**: phrases of 0.8-2.8 s separated by pauses of 0.15-0.7 s; inside a
  phrase, syllables at the talker's rate (3-5 syllables/s, +-35 % jitter);
- **syllables**: an optional consonant onset (fricative /s/, /sh/, /f/, a plosive
  burst or a voiced nasal, 30-90 ms) then a vowel nucleus with a smooth
  attack/decay envelope and a random stress (+-4 dB);
- **voice source**: a glottal pulse train following a pitch contour (the
  talker's mean F0 of 90-240 Hz, phrase declination from +15 % to -15 %,
  per-syllable accents, slow jitter), shaped by a two-pole glottal filter and
  lip radiation, plus 3 % aspiration noise;
- **vocal tract**: five formant resonators per vowel (F1-F3 from vowel tables,
  F4/F5 fixed), scaled by a vocal-tract factor that grows with F0 (shorter
  tracts for higher voices); consonants are band-passed noise.

Everything is vectorised over samples (filters run in scipy); Python loops run
only over phrases and vowel classes. Talkers are synthesised at 16 kHz (speech
bandwidth) and resampled to the track's rate.
"""

from __future__ import annotations

import math

import numpy as np

SYNTH_RATE = 16000

# (F1, F2, F3) in Hz for an adult male voice; scaled per talker.
VOWELS: dict[str, tuple[float, float, float]] = {
    "a": (730.0, 1090.0, 2440.0),
    "i": (270.0, 2290.0, 3010.0),
    "u": (300.0, 870.0, 2240.0),
    "e": (530.0, 1840.0, 2480.0),
    "o": (570.0, 840.0, 2410.0),
    "ae": (660.0, 1720.0, 2410.0),
    "er": (490.0, 1350.0, 1690.0),
    "nasal": (250.0, 1100.0, 2300.0),
}
FORMANT_BANDWIDTHS = (70.0, 100.0, 130.0, 200.0, 250.0)
HIGH_FORMANTS = (3500.0, 4400.0)
# consonant noise bands (lo, hi) in Hz and relative amplitude
NOISE_CONSONANTS: dict[str, tuple[float, float, float]] = {
    "s": (4200.0, 7600.0, 0.35),
    "sh": (2000.0, 5000.0, 0.35),
    "f": (1200.0, 7000.0, 0.15),
    "burst": (500.0, 5000.0, 0.6),
}
_VOWEL_NAMES = [v for v in VOWELS if v != "nasal"]
_ONSETS = ["s", "sh", "f", "burst", "nasal", None]
_ONSET_P = [0.18, 0.1, 0.1, 0.22, 0.15, 0.25]


def _segments(n: int, rate: int, rng: np.random.Generator, syll_per_s: float) -> dict[str, np.ndarray]:
    """The talker's timeline as contiguous segments covering ``n`` samples.

    Returns arrays over segments: ``start``, ``length``, ``kind`` (index into
    ``kinds``: 'pause', consonant names, vowel names), ``stress`` (amplitude),
    ``accent`` (pitch factor) and ``phrase_pos`` (0..1 position of the segment
    within its phrase, for declination).
    """
    kinds: list[str] = []
    lengths: list[int] = []
    stress: list[float] = []
    accent: list[float] = []
    phrase_pos: list[float] = []
    t = int(rng.uniform(0.0, 0.6) * rate)  # talkers start at different times
    kinds.append("pause")
    lengths.append(t)
    stress.append(0.0)
    accent.append(1.0)
    phrase_pos.append(0.0)
    while t < n:
        phrase_len = rng.uniform(0.8, 2.8)
        n_syll = max(1, int(round(phrase_len * syll_per_s)))
        durs = rng.uniform(0.65, 1.35, n_syll) / syll_per_s
        onsets = rng.choice(len(_ONSETS), size=n_syll, p=_ONSET_P)
        vowels = rng.integers(0, len(_VOWEL_NAMES), n_syll)
        stresses = 10.0 ** (rng.uniform(-4.0, 4.0, n_syll) / 20.0)
        accents = 1.0 + rng.uniform(-0.08, 0.12, n_syll)
        pos = np.cumsum(durs) - durs / 2
        pos = pos / pos[-1] if pos[-1] > 0 else pos
        for k in range(n_syll):
            total = int(durs[k] * rate)
            onset = _ONSETS[onsets[k]]
            c_len = int(rng.uniform(0.03, 0.09) * rate) if onset is not None else 0
            c_len = min(c_len, total // 2)
            if c_len > 0:
                kinds.append(onset)
                lengths.append(c_len)
                stress.append(stresses[k])
                accent.append(accents[k])
                phrase_pos.append(pos[k])
            kinds.append(_VOWEL_NAMES[vowels[k]])
            lengths.append(max(1, total - c_len))
            stress.append(stresses[k])
            accent.append(accents[k])
            phrase_pos.append(pos[k])
            t += total
        pause = int(rng.uniform(0.15, 0.7) * rate)
        kinds.append("pause")
        lengths.append(pause)
        stress.append(0.0)
        accent.append(1.0)
        phrase_pos.append(1.0)
        t += pause
    length = np.asarray(lengths, dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(length)[:-1]])
    return {
        "kind": np.asarray(kinds, dtype=object),
        "start": start,
        "length": length,
        "stress": np.asarray(stress),
        "accent": np.asarray(accent),
        "phrase_pos": np.asarray(phrase_pos),
    }


def _resonator_sos(freq: float, bw: float, rate: int) -> np.ndarray:
    """One two-pole resonator (unity gain at DC) as a second-order section."""
    r = math.exp(-math.pi * bw / rate)
    theta = 2.0 * math.pi * freq / rate
    a1, a2 = -2.0 * r * math.cos(theta), r * r
    g = 1.0 + a1 + a2
    return np.array([g, 0.0, 0.0, 1.0, a1, a2])


def _bandpass_sos(lo: float, hi: float, rate: int) -> np.ndarray:
    from scipy.signal import butter

    nyq = rate / 2.0
    hi = min(hi, 0.95 * nyq)
    lo = min(lo, 0.5 * hi)
    return butter(4, [lo, hi], btype="bandpass", fs=rate, output="sos")


def _talker_filters(tract: float, rate: int) -> dict[str, np.ndarray]:
    """Second-order sections per segment kind: formant cascades for voiced kinds, band-passes for noise."""
    filters: dict[str, np.ndarray] = {}
    for name, (f1, f2, f3) in VOWELS.items():
        freqs = [f1 * tract, f2 * tract, f3 * tract, *(h * tract for h in HIGH_FORMANTS)]
        filters[name] = np.stack(
            [_resonator_sos(f, bw * tract, rate) for f, bw in zip(freqs, FORMANT_BANDWIDTHS) if f < 0.45 * rate]
        )
    for name, (lo, hi, _gain) in NOISE_CONSONANTS.items():
        filters[name] = _bandpass_sos(lo, hi, rate)
    return filters


def synth_talker(n: int, rng: np.random.Generator, *, rate: int = SYNTH_RATE) -> np.ndarray:
    """One speech-like talker: ``n`` samples at ``rate`` Hz (float64, unit RMS; silence if all pauses).

    The talker's voice (mean F0, vocal-tract scale, speaking rate) and its whole
    utterance are drawn from ``rng``.
    """
    from scipy.signal import sosfilt

    f0_mean = rng.uniform(90.0, 240.0)
    tract = 1.0 + 0.18 * np.clip((f0_mean - 100.0) / 120.0, 0.0, 1.2)
    syll_per_s = rng.uniform(3.0, 5.0)
    seg = _segments(n, rate, rng, syll_per_s)

    seg_id = np.repeat(np.arange(len(seg["length"])), seg["length"])[:n]
    if len(seg_id) < n:  # cannot happen (timeline covers n), kept for safety
        seg_id = np.pad(seg_id, (0, n - len(seg_id)), mode="edge")
    pos = (np.arange(n) - seg["start"][seg_id]) / seg["length"][seg_id]  # 0..1 within segment

    # pitch contour: declination over the phrase, syllable accents, slow jitter
    declination = 1.15 - 0.3 * seg["phrase_pos"][seg_id]
    jitter_ctrl = rng.normal(0.0, 0.02, n // (rate // 20) + 2)
    jitter = np.interp(np.arange(n) / (rate // 20), np.arange(len(jitter_ctrl)), jitter_ctrl)
    f0 = f0_mean * declination * seg["accent"][seg_id] * (1.0 + jitter)
    phase = np.cumsum(f0 / rate)
    pulses = np.diff(np.floor(phase), prepend=0.0)
    glottal = sosfilt(np.array([[1.0, 0.0, 0.0, 1.0, -1.94, 0.9409]]), pulses)  # double pole at 0.97
    source = np.diff(glottal, prepend=0.0)  # lip radiation
    source = source / (np.std(source) + 1e-12) + 0.03 * rng.standard_normal(n)

    # envelopes: vowels rise over 15 % and fall over 35 % of the nucleus, consonants shorter ramps
    vowel_env = np.clip(np.minimum(pos / 0.15, (1.0 - pos) / 0.35), 0.0, 1.0) ** 1.5
    cons_env = np.clip(np.minimum(pos / 0.2, (1.0 - pos) / 0.3), 0.0, 1.0)

    # filter each voiced or noisy segment on its own (plus a ringing tail): one
    # filter pass over the track instead of one per vowel class
    noise = rng.standard_normal(n)
    tail = int(0.03 * rate)
    out = np.zeros(n + tail)
    filters = _talker_filters(tract, rate)
    for k in np.flatnonzero(seg["kind"] != "pause"):
        name = seg["kind"][k]
        a = int(seg["start"][k])
        b = min(n, a + int(seg["length"][k]))
        if a >= b:
            continue
        p = pos[a:b]
        if name in NOISE_CONSONANTS:
            env = np.exp(-6.0 * p) if name == "burst" else cons_env[a:b]
            excitation = noise[a:b] * env * (NOISE_CONSONANTS[name][2] * 3.0)
        else:
            env = cons_env[a:b] * 0.5 if name == "nasal" else vowel_env[a:b]
            excitation = source[a:b] * env
        excitation = np.concatenate([excitation * seg["stress"][k], np.zeros(tail)])
        out[a : b + tail] += sosfilt(filters[name], excitation)
    out = out[:n]
    rms = math.sqrt(float(np.mean(out**2)))
    return out / rms if rms > 0 else out


def synth_babble_sources(n_talkers: int, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_talkers, n)`` independent speech-like talkers at ``rate`` Hz (each unit RMS, float64).

    Talkers are synthesised at :data:`SYNTH_RATE` (16 kHz), 2 s longer than
    needed, and each is read from a seeded offset that falls on active speech
    (so even a very short track gets audible babble); then resampled to ``rate``.
    """
    from ...media.decode import resample_audio

    n_need = int(math.ceil(n * SYNTH_RATE / rate)) + 32
    lead = 2 * SYNTH_RATE
    rows = []
    for _ in range(n_talkers):
        talker = synth_talker(n_need + lead, rng)
        start = active_offset(talker, n_need, rng)
        rows.append(talker[start : start + n_need])
    talkers = np.stack(rows)
    if rate != SYNTH_RATE:
        talkers = resample_audio(talkers, SYNTH_RATE, rate).astype(np.float64)
    talkers = talkers[:, :n]
    if talkers.shape[1] < n:
        talkers = np.pad(talkers, ((0, 0), (0, n - talkers.shape[1])))
    rms = np.sqrt(np.mean(talkers**2, axis=1, keepdims=True))
    return np.divide(talkers, rms, out=np.zeros_like(talkers), where=rms > 0)


def active_offset(signal: np.ndarray, n: int, rng: np.random.Generator) -> int:
    """A seeded start in ``[0, len(signal) - n]`` whose sample is active (|x| above 10 % of the RMS).

    Falls back to a uniform start when no such sample exists in that range.
    """
    last = max(0, len(signal) - n)
    rms = math.sqrt(float(np.mean(signal**2))) if len(signal) else 0.0
    active = np.flatnonzero(np.abs(signal[: last + 1]) > 0.1 * rms) if rms > 0 else np.empty(0, dtype=np.int64)
    if len(active):
        return int(active[rng.integers(0, len(active))])
    return int(rng.integers(0, last + 1))
