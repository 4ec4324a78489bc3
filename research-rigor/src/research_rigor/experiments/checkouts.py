"""Where a variant's code comes from: the working tree, or a temporary git worktree of a ref.

The baseline is re-run: it is `main` checked out now, in a
worktree next to (not inside) the project, trained now, on this machine, with
the same profile and seeds as the experiment. The worktrees are removed when
the comparison ends; the runs themselves are written under the project's
`outputs/`, so they outlive them.
"""

import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from research_rigor.errors import UserError

MERGE_IDENTITY = ("-c", "user.name=experiments", "-c", "user.email=experiments@localhost")


def git(repo: Path, *args: str) -> str:
    """Run git; a failure is the user's to fix (unknown ref, conflict), so it is a UserError."""
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise UserError(f"`git {' '.join(args)}` failed: {done.stderr.strip()}")
    return done.stdout.strip()


def resolve(repo: Path, ref: str) -> str:
    """The commit a ref names, or a UserError that says which refs exist."""
    done = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{ref}^0"],  # ^0: the commit it names
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        branches = git(repo, "branch", "--format=%(refname:short)").split()
        raise UserError(
            f"no commit or branch named {ref!r} in {repo} (branches: {', '.join(branches)})."
        )
    return done.stdout.strip()


class Checkouts:
    """Temporary worktrees, one per ref, all removed on exit (also after an error)."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self._scratch = tempfile.TemporaryDirectory(prefix="experiments-")
        self._paths: dict[str, Path] = {}

    def __enter__(self) -> "Checkouts":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for path in self._paths.values():
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(path)],
                cwd=self.repo,
                capture_output=True,
                check=False,
            )
        self._scratch.cleanup()
        git(self.repo, "worktree", "prune")

    def path(self, ref: str | None) -> Path:
        """The directory holding `ref`'s code (None: the working tree as it is)."""
        if ref is None:
            return self.repo
        if ref not in self._paths:
            commit = resolve(self.repo, ref)
            path = Path(self._scratch.name) / f"{len(self._paths)}" / self.repo.name
            git(self.repo, "worktree", "add", "--detach", "--quiet", str(path), commit)
            self._paths[ref] = path
        return self._paths[ref]

    def merged(self, first: str, second: str) -> str:
        """Merge two refs in a worktree (for A+B); returns the name `path` knows it by."""
        path = self.path(first)
        done = subprocess.run(
            ["git", *MERGE_IDENTITY, "merge", "--no-edit", "--quiet", resolve(self.repo, second)],
            cwd=path,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            subprocess.run(["git", "merge", "--abort"], cwd=path, capture_output=True, check=False)
            raise UserError(
                f"{first} and {second} do not merge cleanly ({done.stdout.strip()}): "
                "commit a branch that combines them and pass it instead."
            )
        name = f"{first}+{second}"
        self._paths[name] = self._paths.pop(first)  # that worktree now holds the merge
        return name
