"""`research-rigor`: the library's commands, run inside a declared project.

    research-rigor seeds [CHANGE...]                  # one variant over N seeds: mean, CI, MDE
    research-rigor compare --experiment CHANGE...     # against main, re-run now: a verdict
    research-rigor shadow --a CHANGE... --b CHANGE... # baseline, A, B, A+B
    research-rigor affected                           # the modes a change moves: re-run them
    research-rigor behaviour record                   # re-record every mode's fingerprint
    research-rigor metric lock                        # lock the metric version after a bump
    research-rigor lock [--check]                     # write or check requirements.lock
    research-rigor where                              # the project found, and its code's place
    research-rigor ci-data                            # CI: pull every dataset DVC tracks
    research-rigor report RUN...                      # bias/variance table and figures of runs

A CHANGE is a git ref (a branch, a commit) and/or Hydra overrides (`key=value`).

Every command finds the project once (`Project.find` from the working directory)
and acts on that checkout; a problem that is the user's to fix is one line.
"""

import argparse
import sys
from pathlib import Path

from research_rigor import __version__, behaviour, ci_data, lock, metric_lock, report
from research_rigor.errors import UserError
from research_rigor.experiments import cli as experiments
from research_rigor.project import Project

PROGRAM = "research-rigor"


def where(project: Project) -> None:
    project.check_code()
    print(f"project: {project.root}")
    print(f"package: {project.package} (imported from {project.code_location()})")
    print(f"train:   {project.train_script}")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.splitlines()[0])
    root.add_argument("--version", action="version", version=f"{PROGRAM} {__version__}")
    commands = root.add_subparsers(dest="command", required=True)
    experiments.add_commands(commands)
    commands.add_parser("where", help="the project found from here, and its code's location")
    lock.add_arguments(commands.add_parser("lock", help="write or check requirements.lock"))
    behaviour.add_arguments(commands.add_parser("behaviour", help="every mode's fingerprint"))
    metric_lock.add_arguments(commands.add_parser("metric", help="the metric version's lock"))
    commands.add_parser("ci-data", help="CI's data step: pull every dataset DVC tracks")
    report.add_arguments(commands.add_parser("report", help="bias/variance table and figures"))
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        project = Project.find(Path.cwd())
        if hasattr(args, "run"):  # an experiments command
            project.check_code()  # the working tree's variants train this checkout's code
            args.run(args, project)
        elif args.command == "where":
            where(project)
        elif args.command == "lock":
            lock.run(project.root, args.check, args.python_version)
        elif args.command == "behaviour":
            behaviour.run(project, args)
        elif args.command == "metric":
            metric_lock.run(project, args.action)
        elif args.command == "ci-data":
            ci_data.run(project)
        elif args.command == "report":
            project.check_code()  # the runs are evaluated with this checkout's code
            report.report(args, project)
    except UserError as error:  # the user's to fix: one line, no traceback
        sys.exit(f"error: {error}")
