"""Rigor tools for Lightning + Hydra research projects.

A project declares itself once, in the `[tool.research-rigor]` table of its
`pyproject.toml`; every tool finds it through `research_rigor.project.Project`.
Semantic versioning: a project pins the exact version in its lock file.
"""

__version__ = "0.1.0"
