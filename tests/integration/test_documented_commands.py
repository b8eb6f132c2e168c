"""Every shell command of README.md and docs/*.md runs as written against a demo project.

The ```bash / ```sh / ```console blocks are read command by command (continuation lines and
open quotes joined); each command runs with ``bash -c``, in the doc's order, in a folder
holding the demo files of the doc's solution, and must exit 0. Where this differs from a
reader's shell, it is listed here:

- ``SKIP``: lines that cannot run in CI, with the reason;
- ``LIGHTER``: training commands get smaller models appended as ``--set`` (later wins), so the
  whole file takes minutes; every ``tailorkit run`` / ``tailorkit demo`` line must be listed;
- ``tailorkit serve`` starts in the background on a free loopback port (``8000`` in the doc's
  lines becomes that port) and is awaited by polling /healthz and /readyz;
- ``export NAME=$(command)`` runs the command and sets NAME for the later lines.

Checked besides the exit code: files written with ``> FILE`` or ``-o FILE`` are not empty, and
a curl answer is JSON without an error. Python blocks run where ``PYTHON_BLOCKS`` says (after
the doc's commands, in the same folder); the README's is tested by test_readme_snippet.py, and
serving.md's lists an interface, it is no program.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tailorkit.solutions import get_solution

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHELLS = {"bash", "sh", "shell", "console"}
# doc -> (the demo whose files its commands use, whether the demo's spec stays: the serving
# guide works in the demo's folder, the others start with `tailorkit init`)
DOCS = {
    "README.md": ("credit_risk", False),
    "docs/serving.md": ("credit_risk", True),
    "docs/recommendation.md": ("recommendation", False),
    "docs/maintenance.md": ("maintenance", False),
    "docs/diagnosis.md": ("diagnosis", False),
}
NO_COMMANDS = {"docs/architecture.md", "docs/security.md"}
PYTHON_BLOCKS = {"docs/maintenance.md"}

SKIP = {  # how a line starts -> why CI cannot run it
    "make ": "sets up a virtual environment, then runs the demo or the whole suite: CI's own steps",
    "python3 -m venv ": "creates and activates a virtual environment: the tests run inside one",
    "pip install ": "installs packages from the network: CI has installed them",
}

CREDIT = "--set 'models=[logistic, lightgbm]' --set evaluation.pretraining_ablation=false"
SMALL_FT = (
    "--set 'models=[{name: ft_transformer, family: ft_transformer, params: "
    "{d_token: 16, n_blocks: 1, n_bags: 1, max_epochs: 40, patience: 3}}]' "
    "--set evaluation.pretraining_ablation=false"
)
SHOP = "--set 'models=[popularity, item_knn]'"
FLEET = "--set 'models=[lightgbm]' --set evaluation.pretraining_ablation=false"
PATIENTS = "--set 'models=[logistic, lightgbm]'"
LIGHTER = {  # (doc, documented command) -> appended to it
    ("README.md", "tailorkit run"): CREDIT,
    ("README.md", "tailorkit run --enforce"): CREDIT,
    ("docs/serving.md", "tailorkit run"): CREDIT,
    ("docs/serving.md", "tailorkit run --set 'models=[ft_transformer]'"): SMALL_FT,
    ("docs/recommendation.md", "tailorkit run"): SHOP,
    ("docs/recommendation.md", "tailorkit demo recommendation"): SHOP,
    ("docs/maintenance.md", "tailorkit demo maintenance"): FLEET,
    ("docs/maintenance.md", "tailorkit run"): FLEET,
    ("docs/diagnosis.md", "tailorkit demo diagnosis"): PATIENTS,
    ("docs/diagnosis.md", "tailorkit run"): PATIENTS,
    (
        "docs/diagnosis.md",
        "tailorkit run --set operating_point.sensitivity=0.95 --enforce",
    ): PATIENTS,
}
ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Za-z_]\w*)=\$\((.+)\)$", re.S)


@dataclass(frozen=True)
class Command:
    doc: str
    line: int
    text: str  # as in the doc, comments removed, continuation lines joined

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {self.text}"


def fenced_blocks(doc: str) -> list[tuple[str, int, list[str]]]:
    """``(language, first line number, lines)`` of every fenced block of ``doc``."""
    blocks, current = [], None
    for number, line in enumerate((ROOT / doc).read_text().splitlines(), 1):
        fence = re.match(r"^```\s*(\S*)", line)
        if fence and current is None:
            current = (fence.group(1).lower(), number + 1, [])
        elif fence:
            blocks.append(current)
            current = None
        elif current is not None:
            current[2].append(line)
    return blocks


def documented_commands(doc: str) -> list[Command]:
    """The shell commands of ``doc``'s bash / sh / console blocks, in order."""
    commands = []
    for language, first, lines in fenced_blocks(doc):
        if language not in SHELLS:
            continue
        pending, start = "", 0
        for number, line in enumerate(lines, first):
            if language == "console" and not pending:
                if not line.startswith("$ "):
                    continue  # the output shown after a command
                line = line[2:]
            if not pending:
                start = number
            pending += line + "\n"
            if line.rstrip().endswith("\\") or not _complete(pending):
                continue
            text = strip_comments(pending.replace("\\\n", " "))
            if text:
                commands.append(Command(doc, start, text))
            pending = ""
        assert not pending, f"{doc}:{start}: unterminated command"
    return commands


def _complete(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
    except ValueError:  # an open quote
        return False
    return True


def strip_comments(text: str) -> str:
    """``text`` without its ``# ...`` comments (outside quotes), stripped."""
    kept, quote, comment = [], None, False
    for position, char in enumerate(text):
        if comment:
            comment = char != "\n"
            if comment:
                continue
        elif quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (position == 0 or text[position - 1].isspace()):
            comment = True
            continue
        kept.append(char)
    return "".join(kept).strip()


def skip_reason(command: Command) -> str | None:
    return next((why for start, why in SKIP.items() if command.text.startswith(start)), None)


# ------------------------------------------------------------------------------- the runs
def shims(folder: Path) -> Path:
    """``tailorkit`` and ``python`` as a reader's activated virtual environment has them,
    both this interpreter with this worktree's tailorkit."""
    folder.mkdir()
    for name, target in (("tailorkit", "-m tailorkit "), ("python", "")):
        path = folder / name
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" {target}"$@"\n')
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return folder


def shell_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TAILORKIT_DB_URL"}
    env["PATH"] = f"{shims(tmp_path / 'bin')}{os.pathsep}{env.get('PATH', '')}"
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", COLUMNS="200")
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bash(text: str, folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f"set -o pipefail\n{text}"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def explain(command: Command, done: subprocess.CompletedProcess) -> str:
    return (
        f"{command}\nexit code {done.returncode}\nstdout: {done.stdout[-2000:]}\n"
        f"stderr: {done.stderr[-4000:]}"
    )


class Service:
    """``tailorkit serve`` of a doc, in the background; stopped at the end of the test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = None

    def start(self, text: str, folder: Path, env: dict[str, str]) -> None:
        assert self.process is None, "one service per doc"
        self.log = open(folder / "serve.log", "w")  # closed in stop()
        self.process = subprocess.Popen(
            ["bash", "-c", f"exec {text.removesuffix('&').strip()}"],
            cwd=folder,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 180
        for path in ("/healthz", "/readyz"):
            while not self._answers(url + path):
                if time.monotonic() > deadline:
                    raise AssertionError(f"{text}: no 200 from {path} in time\n{self.output()}")
                try:  # the pause between polls; and a service that died says why
                    self.process.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    continue
                raise AssertionError(f"{text}: the service exited\n{self.output()}")

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code == 200
        except httpx.TransportError:
            return False

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-4000:]

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.log.close()


def check_outputs(command: Command, done: subprocess.CompletedProcess, folder: Path) -> None:
    """Files the command wrote are not empty; a curl answer is JSON without an error."""
    for target in re.findall(r"(?:^|\s)(?:>|-o)\s*([\w./-]+)", command.text):
        path = folder / target
        assert path.is_file() and path.stat().st_size > 0, f"{command}: {target} is empty"
    if command.text.startswith("curl "):
        answer = json.loads(done.stdout)
        assert "error" not in answer, f"{command}\nanswered {answer}"
        assert answer.get("predictions") or answer.get("items") or "rul" in answer, answer


def prepare(doc: str, folder: Path) -> None:
    """The demo's files of ``doc``'s solution in ``folder`` (its spec only where kept)."""
    solution, keep_spec = DOCS[doc]
    spec, _ = get_solution(solution).demo_project(folder)
    if not keep_spec:
        spec.unlink()


def run_documented(doc: str, tmp_path: Path) -> list[Command]:
    """Run ``doc``'s commands in order; returns the skipped ones."""
    folder = tmp_path / "project"
    prepare(doc, folder)
    env = shell_env(tmp_path)
    service, skipped = Service(), []
    try:
        for command in documented_commands(doc):
            if skip_reason(command):
                skipped.append(command)
                continue
            text = re.sub(r"\b8000\b", str(service.port), command.text)
            if re.match(r"tailorkit (run|demo)\b", text):
                assert (doc, command.text) in LIGHTER, f"{command}: list it in LIGHTER"
                text = f"{text} {LIGHTER[doc, command.text]}"
            if text.startswith("tailorkit serve"):
                service.start(text, folder, env)
                continue
            assignment = ASSIGNMENT.match(text)
            done = bash(assignment.group(2) if assignment else text, folder, env)
            assert done.returncode == 0, explain(command, done)
            check_outputs(command, done, folder)
            if assignment:
                env[assignment.group(1)] = done.stdout.strip()
        if doc in PYTHON_BLOCKS:
            for language, first, lines in fenced_blocks(doc):
                if language == "python":
                    (folder / "snippet.py").write_text("\n".join(lines) + "\n")
                    done = bash("python snippet.py", folder, env)
                    block = Command(doc, first, "python snippet.py  (the block, verbatim)")
                    assert done.returncode == 0, explain(block, done)
    finally:
        service.stop()
    return skipped


# ------------------------------------------------------------------------------- the tests
def test_every_doc_is_covered():
    docs = {"README.md", *(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))}
    assert docs == set(DOCS) | NO_COMMANDS
    for doc in DOCS:
        assert documented_commands(doc), f"{doc} has no commands: move it to NO_COMMANDS"
    for doc in NO_COMMANDS:
        assert not documented_commands(doc), f"{doc} has commands: give it a demo in DOCS"
    trained = {
        (c.doc, c.text)
        for doc in DOCS
        for c in documented_commands(doc)
        if re.match(r"tailorkit (run|demo)\b", c.text)
    }
    assert trained == set(LIGHTER), "LIGHTER lists exactly the documented training commands"


def test_the_parser_joins_continuations_and_quotes_and_drops_comments():
    commands = documented_commands("docs/serving.md")
    curl = next(c for c in commands if c.text.startswith("curl "))
    assert curl.text.endswith("/v1/projects/german-credit/predict") and "\n" in curl.text
    assert all("#" not in c.text for c in commands)
    assert strip_comments("a 'x # y' # z") == "a 'x # y'"


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_documented_commands_run_as_written(doc: str, tmp_path: Path):
    skipped = run_documented(doc, tmp_path)
    assert all(skip_reason(c) for c in skipped)
    if doc == "README.md":  # the allow-list is used, and only there
        assert {c.text.split()[0] for c in skipped} == {"make", "python3", "pip"}
    else:
        assert not skipped


@pytest.mark.parametrize("solution", ["credit_risk", "diagnosis"])
def test_init_writes_the_positive_label_it_is_given(solution: str, tmp_path: Path):
    spec, _ = get_solution(solution).demo_project(tmp_path)
    data = yaml.safe_load(spec.read_text())["data"]["train"]
    target = {"credit_risk": "creditability", "diagnosis": "diagnosis"}[solution]
    options = {"data": str(tmp_path / data), "target": target, "positive_label": "bad"}
    text = get_solution(solution).init_template("demo", options)
    assert yaml.safe_load(text)["positive_label"] == "bad"
    assert "positive_label" not in yaml.safe_load(
        get_solution(solution).init_template("demo", {**options, "positive_label": None})
    )
