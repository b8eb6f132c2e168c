"""Workspace registry: versions, content-addressed artifacts, aliases, audit log, concurrency."""

from __future__ import annotations

import getpass
import multiprocessing
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tailorkit.registry import ModelVersion, Registry, RegistryError
from tailorkit.registry.tables import SCHEMA_VERSION

PROJECT = "credit"


def make_model_dir(folder: Path, content: str) -> Path:
    """A small model folder with a nested file, so relative paths matter to the hash."""
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(f'{{"family": "gbm", "content": "{content}"}}')
    (folder / "weights").mkdir()
    (folder / "weights" / "booster.txt").write_text(f"tree {content}\n" * 50)
    return folder


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    registry = Registry(tmp_path / "ws")
    registry.ensure_project(PROJECT, "credit_risk")
    yield registry
    registry.close()


def register(registry: Registry, tmp_path: Path, content: str, **keywords) -> ModelVersion:
    model_dir = make_model_dir(tmp_path / f"model-{content}", content)
    return registry.register_model(PROJECT, model_dir, family="gbm", **keywords)


def test_workspace_layout_and_schema_version(tmp_path: Path) -> None:
    Registry(tmp_path / "ws").close()
    database = tmp_path / "ws" / "tailorkit.db"
    assert database.is_file() and (tmp_path / "ws" / "artifacts").is_dir()
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [
            (SCHEMA_VERSION,)
        ]
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    Registry(tmp_path / "ws").close()  # reopening keeps a single schema row
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 1


def test_versions_are_numbered_per_project(registry: Registry, tmp_path: Path) -> None:
    first = register(registry, tmp_path, "a", metrics={"auc": 0.81})
    second = register(registry, tmp_path, "b")
    registry.ensure_project("fraud", "fraud")
    other = registry.register_model(
        "fraud", make_model_dir(tmp_path / "fraud-model", "f"), family="logistic"
    )

    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert first.metrics == {"auc": 0.81} and first.family == "gbm"
    assert first.path != second.path
    assert (second.path / "weights" / "booster.txt").read_text().startswith("tree b")
    listed = registry.versions(PROJECT)
    assert [v.version for v in listed] == [1, 2]
    assert [(v.project, v.version) for v in registry.versions()] == [
        ("credit", 1),
        ("credit", 2),
        ("fraud", 1),
    ]
    reopened = Registry(registry.workspace)
    assert reopened.resolve("credit:2") == second
    reopened.close()


def test_identical_content_is_stored_once(registry: Registry, tmp_path: Path) -> None:
    model_dir = make_model_dir(tmp_path / "model", "same")
    first = registry.register_model(PROJECT, model_dir, family="gbm")
    second = registry.register_model(PROJECT, model_dir, family="gbm")
    copy = make_model_dir(tmp_path / "copy-elsewhere", "same")
    third = registry.register_model(PROJECT, copy, family="gbm")

    assert (first.version, second.version, third.version) == (1, 2, 3)
    assert first.path == second.path == third.path
    assert first.path.parent == registry.workspace / "artifacts"
    assert [p.name for p in (registry.workspace / "artifacts").iterdir()] == [first.path.name]
    assert (first.path / "model.json").read_bytes() == (model_dir / "model.json").read_bytes()

    (copy / "weights" / "booster.txt").rename(copy / "booster.txt")  # same bytes, new path
    moved = registry.register_model(PROJECT, copy, family="gbm")
    assert moved.path != first.path


def test_register_rejects_missing_or_empty_folder(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        registry.register_model(PROJECT, tmp_path / "nowhere", family="gbm")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RegistryError, match="is empty"):
        registry.register_model(PROJECT, tmp_path / "empty", family="gbm")
    with pytest.raises(RegistryError, match="no model 'unknown'"):
        registry.register_model("unknown", make_model_dir(tmp_path / "m", "x"), family="gbm")


def test_resolve_by_alias_number_and_latest(registry: Registry, tmp_path: Path) -> None:
    for content in "abc":
        register(registry, tmp_path, content)
    registry.set_alias(PROJECT, "champion", 2, reason="best auc")
    registry.set_alias(PROJECT, "shadow_v-1", 2)

    champion = registry.resolve("credit@champion")
    assert champion.version == 2
    assert champion.aliases == ("champion", "shadow_v-1")
    assert registry.resolve("credit:1").version == 1
    assert registry.resolve("credit/3").version == 3
    assert registry.resolve("credit").version == 3
    assert registry.resolve("credit:3").aliases == ()
    assert registry.aliases(PROJECT) == {"champion": 2, "shadow_v-1": 2}
    assert [v.aliases for v in registry.versions(PROJECT)] == [(), ("champion", "shadow_v-1"), ()]


def test_alias_moves_are_audited_in_order(registry: Registry, tmp_path: Path) -> None:
    for content in "abc":
        register(registry, tmp_path, content)
    registry.set_alias(PROJECT, "champion", 1, actor="alice", reason="first model")
    registry.set_alias(PROJECT, "champion", 3, actor="bob", reason="better auc")
    registry.set_alias(PROJECT, "champion", 3, actor="bob", reason="again")  # no-op: not logged
    registry.set_alias(PROJECT, "challenger", 2, reason="A/B test")
    registry.set_alias(PROJECT, "champion", 2, actor="carol", reason="rollback")

    moves = [
        (row["alias"], row["from_version"], row["to_version"], row["actor"], row["reason"])
        for row in registry.audit_log(PROJECT)
    ]
    assert moves == [
        ("champion", None, 1, "alice", "first model"),
        ("champion", 1, 3, "bob", "better auc"),
        ("challenger", None, 2, getpass.getuser(), "A/B test"),
        ("champion", 3, 2, "carol", "rollback"),
    ]
    log = registry.audit_log()
    assert [row["id"] for row in log] == sorted(row["id"] for row in log)
    assert all(row["project"] == PROJECT and row["at"].tzinfo for row in log)
    assert registry.aliases(PROJECT) == {"challenger": 2, "champion": 2}


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("credit:7", r"credit has no version 7; versions: 1-2"),
        ("credit/0", r"credit has no version 0"),
        ("credit@champion", r"credit has no alias 'champion'; aliases: staging"),
        ("unknown@champion", r"no model 'unknown' in workspace .*: run `tailorkit run` first"),
        ("unknown", r"no model 'unknown'"),
        ("credit:", r"malformed version"),
        ("credit:two", r"malformed version"),
        ("credit:-1", r"malformed version"),
        ("credit@", r"malformed alias"),
        ("credit@a@b", r"malformed alias"),
        ("credit@bad alias", r"malformed alias"),
        ("", r"malformed"),
        ("@champion", r"malformed"),
        ("cre dit", r"malformed"),
    ],
)
def test_bad_refs_raise_registry_error(
    registry: Registry, tmp_path: Path, ref: str, message: str
) -> None:
    register(registry, tmp_path, "a")
    register(registry, tmp_path, "b")
    registry.set_alias(PROJECT, "staging", 1)
    with pytest.raises(RegistryError, match=message):
        registry.resolve(ref)


def test_project_without_versions_and_bad_alias_calls(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="credit has no model versions"):
        registry.resolve(PROJECT)
    with pytest.raises(RegistryError, match="credit has no version 1; versions: none"):
        registry.set_alias(PROJECT, "champion", 1)
    register(registry, tmp_path, "a")
    for bad_alias in ("", "has space", "dot.ted", "slash/ed", "x" * 65):
        with pytest.raises(RegistryError, match="alias .* is invalid"):
            registry.set_alias(PROJECT, bad_alias, 1)
    with pytest.raises(RegistryError, match="no model 'ghost'"):
        registry.set_alias("ghost", "champion", 1)
    assert registry.audit_log(PROJECT) == []
    for listing in (registry.versions, registry.aliases, registry.audit_log, registry.runs):
        with pytest.raises(RegistryError, match="no model 'ghost'"):
            listing("ghost")


def test_projects_are_unique_and_keep_their_solution(registry: Registry) -> None:
    registry.ensure_project(PROJECT, "credit_risk")  # idempotent
    registry.ensure_project("pumps", "maintenance")
    assert [(p["name"], p["solution"], p["versions"]) for p in registry.projects()] == [
        ("credit", "credit_risk", 0),
        ("pumps", "maintenance", 0),
    ]
    with pytest.raises(RegistryError, match="is a 'credit_risk' project, not 'fraud'"):
        registry.ensure_project(PROJECT, "fraud")
    with pytest.raises(RegistryError, match="project name 'a b' is invalid"):
        registry.ensure_project("a b", "fraud")


def test_runs_record_status_summary_and_metrics(registry: Registry, tmp_path: Path) -> None:
    failed = registry.start_run(PROJECT, {"models": ["logistic"]})
    registry.finish_run(failed, status="failed")
    run_id = registry.start_run(PROJECT, {"models": ["logistic", "lightgbm"]})
    assert registry.runs(PROJECT)[-1]["status"] == "running"
    registry.log_metrics(run_id, "logistic", {"auc": 0.74, "ks": 0.3})
    registry.log_metrics(run_id, "lightgbm", {"auc": 0.79, "brier": float("nan")})
    version = register(registry, tmp_path, "a", run_id=run_id)
    registry.finish_run(run_id, status="succeeded", summary={"best": "lightgbm"}, report_path="r")

    runs = registry.runs(PROJECT)
    assert [(r["id"], r["status"]) for r in runs] == [(failed, "failed"), (run_id, "succeeded")]
    latest = runs[-1]
    assert latest["spec"] == {"models": ["logistic", "lightgbm"]}
    assert latest["summary"] == {"best": "lightgbm"} and latest["report_path"] == "r"
    assert latest["metrics"] == {
        "logistic": {"auc": 0.74, "ks": 0.3},
        "lightgbm": {"auc": 0.79, "brier": None},
    }
    assert latest["finished_at"] >= latest["started_at"]
    assert version.run_id == run_id
    with pytest.raises(RegistryError, match="must be 'succeeded' or 'failed'"):
        registry.finish_run(run_id, status="done")
    with pytest.raises(RegistryError, match="no run 999"):
        registry.log_metrics(999, "logistic", {"auc": 0.5})
    with pytest.raises(RegistryError, match="no run 999"):
        register(registry, tmp_path, "b", run_id=999)


def test_url_overrides_database_but_not_artifacts(tmp_path: Path) -> None:
    database = tmp_path / "elsewhere.db"
    registry = Registry(tmp_path / "ws", url=f"sqlite:///{database}")
    registry.ensure_project(PROJECT, "credit_risk")
    version = register(registry, tmp_path, "a")
    registry.close()
    assert database.is_file() and not (tmp_path / "ws" / "tailorkit.db").exists()
    assert version.path.parent == tmp_path / "ws" / "artifacts"


# ------------------------------------------------------------------ concurrent writers
WORKERS = 4
VERSIONS_PER_WORKER = 5


def _concurrent_worker(workspace: str, url: str | None, worker: int, barrier, results) -> None:
    """Spawned process: open the (maybe new) workspace, register and promote five versions."""
    try:
        registry = Registry(workspace, url=url)
        registry.ensure_project(PROJECT, "credit_risk")
        barrier.wait(timeout=60)
        versions = []
        for index in range(VERSIONS_PER_WORKER):
            folder = make_model_dir(
                Path(workspace).parent / f"w{worker}-{index}", f"{worker}.{index}"
            )
            version = registry.register_model(PROJECT, folder, family="gbm", metrics={"w": worker})
            registry.set_alias(PROJECT, "champion", version.version, actor=f"worker-{worker}")
            versions.append(version.version)
        registry.close()
        results.put((worker, versions, None))
    except BaseException as error:  # report everything to the parent, which fails the test
        results.put((worker, [], repr(error)))


def test_concurrent_writers_do_not_corrupt(tmp_path: Path) -> None:
    check_concurrent_writers(tmp_path / "ws", None)


def check_concurrent_writers(workspace: Path, url: str | None) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [
        context.Process(
            target=_concurrent_worker, args=(str(workspace), url, worker, barrier, results)
        )
        for worker in range(WORKERS)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
    assert [error for _, _, error in outcomes if error] == []

    total = WORKERS * VERSIONS_PER_WORKER
    claimed = sorted(number for _, versions, _ in outcomes for number in versions)
    assert claimed == list(range(1, total + 1))
    registry = Registry(workspace, url=url)
    assert [v.version for v in registry.versions(PROJECT)] == list(range(1, total + 1))
    assert len({v.path for v in registry.versions(PROJECT)}) == total
    for worker, versions, _ in outcomes:  # each version holds the content its worker stored
        for index, number in enumerate(versions):
            stored = registry.resolve(f"{PROJECT}:{number}")
            assert stored.metrics == {"w": worker}
            assert f'"{worker}.{index}"' in (stored.path / "model.json").read_text()

    log = registry.audit_log(PROJECT)
    assert len(log) == total
    assert sorted(row["to_version"] for row in log) == list(range(1, total + 1))
    chain = [row["from_version"] for row in log[1:]]  # every move starts where the last ended
    assert [log[0]["from_version"]] + chain == [None] + [row["to_version"] for row in log[:-1]]
    assert registry.aliases(PROJECT) == {"champion": log[-1]["to_version"]}
    assert [p.name for p in (workspace / "artifacts").iterdir() if p.name.startswith(".")] == []
    registry.close()
    if url is not None:
        return
    with sqlite3.connect(workspace / "tailorkit.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
