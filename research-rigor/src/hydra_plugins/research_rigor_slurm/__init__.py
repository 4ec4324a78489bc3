"""research-rigor's SLURM launcher. Hydra loads launchers only from the `hydra_plugins`
namespace, hence this package beside `research_rigor`."""
