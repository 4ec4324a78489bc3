"""Hyperparameter search support: a Hydra callback for the Optuna sweeper's sqlite storage.

A project's search configs select the Optuna sweeper with a persistent sqlite
study, so a second invocation adds trials to the same study. This callback
(`hydra.callbacks.<name>._target_: research_rigor.search.StudyStorage`) runs before
the sweeper opens the storage: it creates the database's directory (sqlite will
not) and refuses to add trials measured by a different metric version than the
study's first ones (metric versioning). Needs the Optuna sweeper
(`pip install research-rigor[search]`).
"""

import sys
from pathlib import Path
from typing import Any

import optuna
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from sqlalchemy.engine import make_url

from research_rigor.project import Project, load

METRIC_VERSION_ATTR = "metric_version"


class StudyStorage(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweeper = config.hydra.sweeper
        if not sweeper.storage:  # an in-memory study: nothing to create or to check
            return
        url = make_url(sweeper.storage)
        if url.drivername.startswith("sqlite") and url.database:
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        study = optuna.create_study(
            study_name=sweeper.study_name,
            storage=sweeper.storage,
            direction=sweeper.direction,
            load_if_exists=True,
        )
        version = load(Project.find(Path.cwd()).metric_version_ref)  # where Hydra started
        recorded = study.user_attrs.get(METRIC_VERSION_ATTR)
        if recorded is None:
            study.set_user_attr(METRIC_VERSION_ATTR, version)
        elif recorded != version:
            sys.exit(
                f"error: study {sweeper.study_name!r} in {sweeper.storage} holds trials of metric "
                f"version {recorded}, this code measures version {version}: their values "
                "are not comparable. Start a new study (hydra.sweeper.study_name=...)."
            )
