"""One console: each fact printed once, and no warning that no one using the project can act on.

Under Hydra (train.py) every log record already reaches the console and the run's log file
through Hydra's logging, so the console handlers Lightning and torchmetrics add would print
each of their lines a second time: their records go through Hydra's alone. Without Hydra
(evaluate.py) their own handlers are the only ones, and stay.
"""

import logging
import warnings

LIBRARY_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "torchmetrics")
RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"  # Lightning's info lines
ADVERTS = ("💡 Tip:",)  # Lightning advertises its hosted logger whenever a Trainer is built
IGNORED_WARNINGS = (
    # CSVLogger warns whenever its directory holds other files, as the run directory always
    # does (Hydra's config, provenance.json); it appends to metrics.csv and deletes nothing.
    r"Experiment logs directory .* exists and is not empty",
    # Lightning's own use of a torch API that torch now deprecates: nothing to fix here.
    r".*LeafSpec.* is deprecated",
)


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(ADVERTS)


def configure() -> None:
    """Call once Lightning is imported: its import adds the handlers this removes."""
    if logging.getLogger().hasHandlers():
        for name in LIBRARY_LOGGERS:
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
    rank_zero = logging.getLogger(RANK_ZERO_LOGGER)
    if not any(isinstance(existing, _DropAdverts) for existing in rank_zero.filters):
        rank_zero.addFilter(_DropAdverts())
    for message in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
