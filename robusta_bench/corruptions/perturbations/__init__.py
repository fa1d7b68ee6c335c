"""Self-made perturbations: degradations that are NOT benchmark corruptions, for training reliability models.

RobustA's ``learned`` weighting (:mod:`robusta_bench.detectors.weighting`)
learns what a degraded modality looks like in feature space from clean
TRAINING videos and these perturbations of them. They are kept apart from the
benchmark's 16 corruptions on purpose (other families, other code), so the
benchmark stays honest: no reliability model ever sees a benchmark corruption
type or a test video.

Each is a registered corruption (``perturbation = True``, no ``rank``), so
``robusta-bench extract --variants perturb_jpeg@4`` stores its features like
any variant; ``corrupt --type all`` and the benchmark tables leave them out.

Visual: ``perturb_gaussian_blur``, ``perturb_pixelate``, ``perturb_jpeg``,
``perturb_impulse_noise``, ``perturb_occlusion``, ``perturb_posterize``.
Audio: ``perturb_lowpass``, ``perturb_highpass``, ``perturb_clipping``,
``perturb_brown_noise``, ``perturb_hum``, ``perturb_tremolo``.
"""

#: the variants the learned weighting is trained on by default (severities 2 and 4 of every perturbation)
TRAINING_SEVERITIES = (2, 4)
VISUAL_PERTURBATIONS = (
    "perturb_gaussian_blur",
    "perturb_pixelate",
    "perturb_jpeg",
    "perturb_impulse_noise",
    "perturb_occlusion",
    "perturb_posterize",
)
AUDIO_PERTURBATIONS = (
    "perturb_lowpass",
    "perturb_highpass",
    "perturb_clipping",
    "perturb_brown_noise",
    "perturb_hum",
    "perturb_tremolo",
)


def training_variants(modality: str, severities: tuple[int, ...] = TRAINING_SEVERITIES) -> list[str]:
    """``NAME@SEVERITY`` strings of the perturbations of ``modality`` (``visual``/``audio``) for ``extract --variants``."""
    names = {"visual": VISUAL_PERTURBATIONS, "audio": AUDIO_PERTURBATIONS}[modality]
    return [f"{n}@{s}" for n in names for s in severities]
