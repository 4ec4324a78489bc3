"""The clean-tree guard and the provenance record, in a real temporary git repository."""

import os
import subprocess
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from research_rigor import provenance
from research_rigor.errors import UserError
from research_rigor.project import Project

METRIC = ("acc", 3)  # a project's reported metric and its version


def compose_config(
    mode: str = "cnn", profile: str = "fast", overrides: tuple[str, ...] = ()
) -> DictConfig:
    """A composed config as a Hydra project's training script receives it."""
    cfg = OmegaConf.create(
        {"mode": {"name": mode}, "profile": {"name": profile}, "seed": 0, "allow_dirty": False}
    )
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))


@pytest.fixture
def data_dir(tmp_path_factory) -> Path:
    """Data a run reads; its bytes define its version."""
    folder = tmp_path_factory.mktemp("data") / "digits"
    folder.mkdir()
    (folder / "images.npy").write_bytes(bytes(range(256)) * 4)
    return folder


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "--quiet")
    git(tmp_path, "config", "user.email", "test@example.com")
    git(tmp_path, "config", "user.name", "Test")
    (tmp_path / "model.py").write_text("LR = 1e-3\n")
    (tmp_path / ".gitignore").write_text("outputs/\n")
    git(tmp_path, "add", "--all")
    git(tmp_path, "commit", "--quiet", "-m", "initial")
    return tmp_path


def test_clean_tree_passes_and_names_its_commit(repo):
    state = provenance.guard(repo, allow_dirty=False)
    assert state.commit == git(repo, "rev-parse", "HEAD") and not state.dirty


def test_modified_tracked_file_is_refused_with_its_path(repo):
    (repo / "model.py").write_text("LR = 1e-2\n")
    with pytest.raises(UserError, match=r"model\.py[\s\S]*allow_dirty=true"):
        provenance.guard(repo, allow_dirty=False)


def test_untracked_file_is_refused(repo):
    (repo / "notes.txt").write_text("idea\n")
    with pytest.raises(UserError, match=r"notes\.txt"):
        provenance.guard(repo, allow_dirty=False)


def test_ignored_files_and_dvc_owned_files_do_not_count(repo):
    (repo / "params.yaml").write_text("mode: cnn\n")
    git(repo, "add", "params.yaml")
    git(repo, "commit", "--quiet", "-m", "params")
    (repo / "params.yaml").write_text("mode: mlp\n")  # `dvc exp run -S` rewrites it
    (repo / "dvc.lock").write_text("schema: '2.0'\n")  # DVC writes it between stages
    (repo / "outputs").mkdir()
    (repo / "outputs" / "run.log").write_text("ignored\n")
    assert not provenance.guard(repo, allow_dirty=False).dirty


def test_long_change_lists_are_cut_with_a_count(repo):
    for index in range(provenance.SHOWN_PATHS + 3):
        (repo / f"new_{index}.txt").write_text("x\n")
    with pytest.raises(UserError, match=r"and 3 more"):
        provenance.guard(repo, allow_dirty=False)


def test_allow_dirty_records_the_changes_and_saves_the_diff(
    repo, data_dir, split_file, tmp_path_factory
):
    (repo / "model.py").write_text("LR = 1e-2\n")
    (repo / "notes.txt").write_text("idea\n")
    state = provenance.guard(repo, allow_dirty=True)
    run_dir = tmp_path_factory.mktemp("run")
    cfg = compose_config("cnn")
    record = provenance.build_record(cfg, state, repo, data_dir, split_file, run_dir, metric=METRIC)
    provenance.save(record, repo, run_dir)
    assert record["git_dirty"] is True
    patch = (run_dir / provenance.DIFF_FILE).read_text()
    assert "+LR = 1e-2" in patch and "+idea" in patch  # an untracked file's contents too


def test_a_dirty_runs_tree_is_restored_from_its_record(repo, data_dir, split_file, tmp_path):
    """Edited, new and binary files come back with `git apply` on the commit; an untracked
    file past the size limit is named, not kept; the user's index is left as it was."""
    (repo / "model.py").write_text("LR = 1e-2\n")
    (repo / "src").mkdir()
    (repo / "src" / "new_layer.py").write_text("WIDTH = 64\n")
    (repo / "weights.bin").write_bytes(bytes(range(256)))
    (repo / "big.npy").write_bytes(b"0" * (provenance.UNTRACKED_MAX_BYTES + 1))
    state = provenance.guard(repo, allow_dirty=True)
    run_dir = tmp_path / "run"
    record = provenance.build_record(
        compose_config(), state, repo, data_dir, split_file, run_dir, metric=METRIC
    )
    provenance.save(record, repo, run_dir)
    assert git(repo, "diff", "--cached", "--name-only") == ""

    restored = tmp_path / "restored"
    git(tmp_path, "clone", "--quiet", str(repo), str(restored))
    git(restored, "checkout", "--quiet", record["git_commit"])
    git(restored, "apply", "--binary", str(run_dir / provenance.DIFF_FILE))
    for name in ("model.py", "src/new_layer.py", "weights.bin"):
        assert (restored / name).read_bytes() == (repo / name).read_bytes()
    assert not (restored / "big.npy").exists()
    patch = (run_dir / provenance.DIFF_FILE).read_text()
    assert f"larger than {provenance.UNTRACKED_MAX_BYTES} bytes, not kept: big.npy" in patch


def test_outside_git_is_refused_unless_allowed(tmp_path):
    with pytest.raises(UserError, match="not inside a git repository"):
        provenance.guard(tmp_path, allow_dirty=False)
    assert provenance.guard(tmp_path, allow_dirty=True).dirty


def test_record_carries_what_a_comparison_needs(repo, data_dir, split_file, tmp_path):
    cfg = compose_config("cnn", "fast", overrides=("seed=7",))
    state = provenance.guard(repo, False)
    record = provenance.build_record(
        cfg, state, repo, data_dir, split_file, tmp_path, metric=METRIC
    )
    assert record["git_commit"] == git(repo, "rev-parse", "HEAD")
    assert record["data_version"] == provenance.data_version(repo, data_dir, split_file)
    assert record["data_dirty"] is False and record["data_dvc_md5"] is None  # not DVC-tracked
    assert (record["mode"], record["profile"], record["seed"]) == ("cnn", "fast", 7)
    assert (record["metric_name"], record["metric_version"]) == METRIC
    assert record["config"]["seed"] == 7
    assert {"python", "torch", "lightning"} <= record["versions"].keys()
    assert record["environment"]["packages"]["torch"] == record["versions"]["torch"]


def test_data_version_follows_the_content_of_the_data_and_the_split(tmp_path):
    data, split = dataset(tmp_path / "data")
    copy, copy_split = dataset(tmp_path / "copy")
    version = provenance.data_version(tmp_path, data, split)
    assert provenance.data_version(tmp_path, copy, copy_split) == version
    flip_one_byte(copy / "cat" / "0.png")
    assert provenance.data_version(tmp_path, copy, copy_split) != version
    split.write_text('{"train": [1], "val": [0], "test": [2]}')  # the split defines the metric
    assert provenance.data_version(tmp_path, data, split) != version


def test_a_missing_split_file_is_named_with_what_to_do(tmp_path):
    data, split = dataset(tmp_path / "data")
    split.unlink()
    with pytest.raises(UserError, match=r"data\.split\.json is missing: write the split of"):
        provenance.data_version(tmp_path, data, split)


@pytest.fixture
def split_file(tmp_path_factory) -> Path:
    """build_record hashes the split's bytes; their meaning is the data tests' business."""
    path = tmp_path_factory.mktemp("split") / "digits.split.json"
    path.write_text('{"train": [0], "val": [1], "test": [2]}')
    return path


def dataset(folder: Path) -> tuple[Path, Path]:
    """A tiny class-per-folder dataset and its split file beside it."""
    for label, name in enumerate(("cat", "dog")):
        (folder / name).mkdir(parents=True)
        for index in range(2):
            (folder / name / f"{index}.png").write_bytes(bytes([label, index]) * 512)
    split = folder.with_name(f"{folder.name}.split.json")
    split.write_text('{"train": [0, 1], "val": [2], "test": [3]}')
    return folder, split


def flip_one_byte(path: Path, keep_stat: bool = False) -> None:
    """Change one byte in place; with keep_stat, inode, size and mtime stay as they were."""
    before = path.stat()
    with path.open("r+b") as file:
        first = file.read(1)
        file.seek(0)
        file.write(bytes([first[0] ^ 0xFF]))
    later = 0 if keep_stat else 10**9  # a real edit's mtime moves on, even within a clock tick
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + later))


@pytest.fixture
def dvc_repo(repo: Path, tmp_path_factory) -> tuple[Path, Path, Path]:
    """A real DVC repository whose dataset `dvc add` tracked, as a user's own data is."""
    from dvc.repo import Repo

    data, split = dataset(repo / "data" / "pets")
    with Repo.init(str(repo)) as dvc, dvc.config.edit() as config:
        config["core"]["site_cache_dir"] = str(tmp_path_factory.mktemp("dvc-site"))  # its state
    with Repo(str(repo)) as dvc:
        dvc.add(str(data))
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "data")
    return repo, data, split


def test_dvc_tracked_data_takes_dvc_hashes_from_its_state_not_the_bytes(dvc_repo, monkeypatch):
    root, data, split = dvc_repo
    read = provenance.data_state(root, data, split)  # small: every byte read, DVC's hashing
    assert read.md5 == read.pinned_md5 == provenance.dvc_md5(root, data) and not read.dirty
    monkeypatch.setattr(provenance, "DVC_STATE_MIN_BYTES", 0)  # as for a large dataset
    assert provenance.data_state(root, data, split) == read  # the same version either way

    # DVC trusts a file whose inode, size and mtime it has seen: the version comes from its
    # state database, so a byte changed behind its back goes unseen, as it does for `dvc status`.
    flip_one_byte(data / "dog" / "1.png", keep_stat=True)
    assert provenance.data_state(root, data, split) == read
    monkeypatch.setattr(provenance, "DVC_STATE_MIN_BYTES", 2**62)
    assert provenance.data_state(root, data, split).md5 != read.md5  # reading sees it


def test_data_that_differs_from_its_dvc_pin_is_refused_unless_allowed(dvc_repo, monkeypatch):
    root, data, split = dvc_repo
    pinned = provenance.data_state(root, data, split)
    monkeypatch.setattr(provenance, "DVC_STATE_MIN_BYTES", 0)
    flip_one_byte(data / "cat" / "0.png")  # an edit DVC sees: the file's mtime changed
    edited = provenance.data_state(root, data, split)
    assert edited.dirty and edited.version != pinned.version
    assert edited.md5 != pinned.md5 and edited.pinned_md5 == pinned.md5
    state = provenance.guard(root, allow_dirty=False)
    with pytest.raises(UserError, match=r"dvc add .*pets.*dvc checkout .*allow_dirty=true"):
        provenance.build_record(
            compose_config("cnn"), state, root, data, split, root / "run", metric=METRIC
        )
    cfg = compose_config("cnn", overrides=("allow_dirty=true",))
    record = provenance.build_record(cfg, state, root, data, split, root / "run", metric=METRIC)
    assert record["data_dirty"] is True and record["data_version"] == edited.version


# What DVC writes: a stage output pinned in dvc.lock, and a `dvc add` of a user's dataset.
LOCKED_MD5 = "0123456789abcdef0123456789abcdef.dir"
ADDED_MD5 = "fedcba9876543210fedcba9876543210.dir"
DVC_LOCK_TEXT = f"""schema: '2.0'
stages:
  prepare:
    cmd: python -m package.data.digits data/digits
    outs:
    - path: data/digits
      hash: md5
      md5: {LOCKED_MD5}
"""
DVC_FILE_TEXT = f"""outs:
- md5: {ADDED_MD5}
  size: 1234
  nfiles: 3
  hash: md5
  path: my_dataset
"""


def test_dvc_hash_comes_from_the_lock_or_from_the_dvc_file(tmp_path):
    data = tmp_path / "data"
    for name in ("digits", "my_dataset", "untracked"):
        (data / name).mkdir(parents=True)
    assert provenance.dvc_md5(tmp_path, data / "digits") is None  # nothing tracks it yet
    (tmp_path / "dvc.lock").write_text(DVC_LOCK_TEXT)
    (data / "my_dataset.dvc").write_text(DVC_FILE_TEXT)
    assert provenance.dvc_md5(tmp_path, data / "digits") == LOCKED_MD5
    assert provenance.dvc_md5(tmp_path, data / "my_dataset") == ADDED_MD5
    assert provenance.dvc_md5(tmp_path, data / "untracked") is None


def test_secrets_from_the_environment_are_redacted(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "0123456789abcdef")
    cleaned = provenance.redact(
        {"command": ["train.py", "note=0123456789abcdef"], "api_key": "x", "lr": 0.1}
    )
    assert "0123456789abcdef" not in str(cleaned)
    assert cleaned["api_key"] == provenance.REDACTED and cleaned["lr"] == 0.1


def test_resume_refuses_another_commit_and_extends_the_same_record(
    repo, data_dir, split_file, tmp_path_factory
):
    cfg = compose_config("cnn", "fast")
    run_dir = tmp_path_factory.mktemp("run")

    def record() -> dict:
        state = provenance.guard(repo, False)
        return provenance.build_record(
            cfg, state, repo, data_dir, split_file, run_dir, metric=METRIC
        )

    provenance.save(record(), repo, run_dir)
    again = record()
    assert provenance.continue_record(run_dir, again)["resumed_at"] == [again["started_at"]]
    (repo / "model.py").write_text("LR = 1e-2\n")
    git(repo, "commit", "--quiet", "-am", "another commit")
    with pytest.raises(UserError, match=r"cannot resume .* git_commit="):
        provenance.continue_record(run_dir, record())


def test_record_carries_each_sources_seed_and_the_dataset(repo, data_dir, split_file, tmp_path):
    cfg = compose_config(overrides=("seeds.init=7", "seeds.order=2", "data.name=letters"))
    project = Project(repo, "probe", seed_sources={"init": "seeds.init", "order": "seeds.order"})
    state = provenance.guard(repo, False)
    record = provenance.build_record(
        cfg,
        state,
        repo,
        data_dir,
        split_file,
        tmp_path,
        metric=METRIC,
        seeds=project.source_seeds(cfg),
    )
    assert record["seeds"] == {"init": 7, "order": 2} and record["dataset"] == "letters"
