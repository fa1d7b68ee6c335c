"""CLI: ``extract``, ``export`` and ``import``."""

from .base import not_built

COMMANDS = [
    not_built("extract", "extract features into a feature store"),
    not_built("export", "export a store to the official XD-Violence .npy layout"),
    not_built("import", "import official XD-Violence .npy features into a store"),
]
