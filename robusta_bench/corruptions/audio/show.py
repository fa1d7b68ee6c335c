"""Log-mel spectrogram grid: one row per audio corruption, severities 0 (clean) to 5 left to right."""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_MELS = 80
N_FFT_S = 0.025
HOP_S = 0.010
FLOOR_DB = -80.0


def log_mel(mono: np.ndarray, rate: int, *, n_mels: int = N_MELS) -> np.ndarray:
    """``(n_mels, frames)`` power log-mel spectrogram in dB (25 ms Hann windows, 10 ms hop, up to rate/2)."""
    import librosa

    n_fft = int(2 ** np.ceil(np.log2(N_FFT_S * rate)))
    hop = max(1, int(round(HOP_S * rate)))
    mel = librosa.feature.melspectrogram(
        y=np.asarray(mono, dtype=np.float32), sr=rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels, power=2.0
    )
    return 10.0 * np.log10(np.maximum(mel, 1e-12))


def spectrogram_grid(
    video_path: str | Path,
    types: list[str],
    out_png: str | Path,
    seed: int = 0,
    *,
    max_seconds: float = 10.0,
    progress: bool | None = None,
) -> Path:
    """Draw log-mel spectrograms of ``video_path``'s audio for severities 0-5 of each audio corruption in ``types``.

    The first ``max_seconds`` of the track are corrupted (all channels, with the
    per-item seed ``corrupt`` uses: ``corruption_seed(<file stem>, type,
    severity, seed)``; SNRs, dropout fractions etc. then refer to the excerpt),
    downmixed to mono and shown on one dB scale per row
    (0 dB = the clean excerpt's maximum). ``progress`` shows a tqdm bar over the
    corrupted panels (default: only on a terminal, ``progress_enabled()``). Returns the PNG path (written atomically).
    Raises :class:`ValueError` for an empty or non-audio ``types`` list and
    :class:`~robusta_bench.media.decode.MediaError` when the video has no usable audio.
    """
    from matplotlib.figure import Figure

    from ...files import atomic_path
    from ...media.decode import read_audio
    from ...seeding import corruption_seed
    from ..base import CORRUPTIONS, SEVERITIES, corruption_names

    video_path, out_png = Path(video_path), Path(out_png)
    types = list(types)
    if not types:
        raise ValueError("spectrogram_grid: give at least one audio corruption type")
    audio_types = set(corruption_names("audio"))
    wrong = [t for t in types if t not in audio_types]
    if wrong:
        raise ValueError(
            f"spectrogram_grid: not audio corruptions: {', '.join(wrong)} (audio: {', '.join(sorted(audio_types))})"
        )
    samples, rate = read_audio(video_path)
    total = samples.shape[1] / rate
    samples = samples[:, : max(2, int(max_seconds * rate))]
    clean = log_mel(samples.mean(axis=0), rate)
    ref = float(clean.max())
    duration = samples.shape[1] / rate

    # a bare Figure (no pyplot): no global backend or figure state is touched
    fig = Figure(figsize=(3.0 * (1 + len(SEVERITIES)), 0.6 + 2.2 * len(types)), layout="constrained")
    axes = fig.subplots(len(types), 1 + len(SEVERITIES), squeeze=False)
    if progress is None:
        from ...progress import progress_enabled

        progress = progress_enabled()
    from ...progress import progress_bar as tqdm

    bar = tqdm(total=len(types) * len(SEVERITIES), desc="spectrograms", unit="panel", disable=not progress)
    image = None
    for row, name in enumerate(types):
        corruption = CORRUPTIONS.get(name)()
        for col in range(1 + len(SEVERITIES)):
            ax = axes[row, col]
            if col == 0:
                spec, title = clean, f"{name}: clean"
            else:
                y = corruption.apply(samples, col, corruption_seed(video_path.stem, name, col, seed), rate=rate)
                spec = log_mel(y.mean(axis=0), rate)
                bar.update(1)
                title = f"s{col}\n" + _format_params(corruption.params(col))
            image = ax.imshow(
                np.maximum(spec - ref, FLOOR_DB),
                origin="lower",
                aspect="auto",
                vmin=FLOOR_DB,
                vmax=0.0,
                cmap="magma",
                extent=(0.0, duration, 0, spec.shape[0]),
            )
            ax.set_title(title, fontsize=6)
            ax.tick_params(labelsize=6)
            if col == 0:
                ax.set_ylabel("mel bin", fontsize=7)
            if row == len(types) - 1:
                ax.set_xlabel("time (s)", fontsize=7)
    bar.close()
    excerpt = f"excerpt 0.0-{duration:.1f} s of {total:.1f} s" + (" (the whole track)" if duration >= total else "")
    fig.suptitle(f"{video_path.name}: log-mel spectrograms, {excerpt} ({rate} Hz, {samples.shape[0]} ch downmixed), "
                 f"seed {seed}", fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=min(0.8, 3.0 / len(types)), aspect=15, label="dB re clean max")
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return out_png


def _format_params(params: dict) -> str:
    """``snr_db=20, talkers=3`` style text, floats without trailing zeros."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
