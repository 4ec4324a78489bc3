"""What a SLURM job asks for, worked out from the trainer config before Hydra submits it.

Free of torch, like run_dirs: Hydra resolves the launcher config before the
training code loads.
"""

from omegaconf import OmegaConf

GPUS_RESOLVER = "slurm_gpus"
GPU_ACCELERATORS = ("gpu", "cuda")


def gpus_per_node(accelerator: str, devices: int | str) -> int | None:
    """One GPU per device when the trainer trains on GPUs, none otherwise: a CPU partition
    refuses any GPU request ("Invalid generic resource (gres) specification")."""
    return int(devices) if accelerator in GPU_ACCELERATORS else None


def register_resolver() -> None:
    if not OmegaConf.has_resolver(GPUS_RESOLVER):
        OmegaConf.register_new_resolver(GPUS_RESOLVER, gpus_per_node)
