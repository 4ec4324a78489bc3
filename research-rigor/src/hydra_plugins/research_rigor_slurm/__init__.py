"""The project's SLURM launcher (configs/hydra/launcher/slurm.yaml). Hydra loads launchers
only from the `hydra_plugins` namespace, hence this package beside the project's own."""
