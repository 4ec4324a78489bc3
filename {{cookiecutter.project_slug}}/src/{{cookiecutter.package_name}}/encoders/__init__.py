"""Backbones. Each module here defines one `Encoder` subclass; adding a backbone
means adding one module here and one `configs/mode/<name>.yaml`, nothing else."""

import importlib
import pkgutil

from {{ cookiecutter.package_name }}.encoders.base import Encoder


def registry() -> dict[str, type[Encoder]]:
    """Every encoder class in this package, by name (imports each module once)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return dict(Encoder.registered)


__all__ = ["Encoder", "registry"]
