"""Trial-loading a saved model in a child process, so that a native crash cannot take the
caller with it.

LightGBM's C++ parser aborts the whole process (SIGABRT) on a truncated model file, and a
native library may crash on a damaged ONNX or weight file in the same way. A long-lived
process that must survive a bad artifact (the multi-tenant service) first loads it here:
``python -m tailorkit.models.isolated FOLDER`` loads every model folder of the artifact and
exits 0, or dies; only a clean exit lets the caller load it in-process. A passed trial is
remembered per artifact SHA and library versions in ``cache_dir``, so a restart does not pay
for it again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from importlib import metadata
from pathlib import Path

from tailorkit.errors import RegistryError
from tailorkit.models.registry import MODEL_FILE, load_model

TRIAL_TIMEOUT_S = 300.0
NATIVE_LIBRARIES = ("tailorkit", "lightgbm", "onnxruntime", "torch", "safetensors", "numpy")


class ArtifactCrash(RegistryError):
    """Loading an artifact in a child process crashed or failed."""


def model_folders(artifact: Path) -> list[Path]:
    """The artifact's outermost folders holding a saved model (``model.json``)."""
    folders = sorted(p.parent for p in artifact.rglob(MODEL_FILE))
    return [f for f in folders if not any(o != f and o in f.parents for o in folders)]


class TrialLoader:
    """Trial-loads artifacts in child processes, once per artifact SHA (thread-safe)."""

    def __init__(self, cache_dir: Path | None = None, timeout: float = TRIAL_TIMEOUT_S) -> None:
        self.cache_dir = cache_dir
        self.timeout = timeout
        self._results: dict[str, str | None] = {}  # sha -> None (passed) or the failure
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._fingerprint = fingerprint()

    def check(self, artifact: Path, sha: str, name: str) -> None:
        """Raise ``ArtifactCrash`` unless ``artifact`` loads cleanly in a child process."""
        with self._guard:
            lock = self._locks.setdefault(sha, threading.Lock())
        with lock:
            if sha not in self._results:
                self._results[sha] = None if self._cached(sha) else self._trial(artifact, sha)
        failure = self._results[sha]
        if failure is not None:
            raise ArtifactCrash(f"{name}: loading it in a child process {failure}")

    def _trial(self, artifact: Path, sha: str) -> str | None:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "tailorkit.models.isolated", str(artifact)]
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout,
                env=env,
            )
        except subprocess.TimeoutExpired:
            return f"did not finish within {self.timeout:.0f} s"
        if done.returncode == 0:
            self._remember(sha)
            return None
        if done.returncode < 0:
            how = f"killed it with {signal.Signals(-done.returncode).name}"
        else:
            how = f"failed (exit code {done.returncode})"
        detail = _telling_line(done.stderr.replace(str(artifact), f"artifacts/{sha}"))
        return f"{how}: {detail}" if detail else how

    def _cached(self, sha: str) -> bool:
        if self.cache_dir is None:
            return False
        try:
            return json.loads((self.cache_dir / f"{sha}.json").read_text()) == self._fingerprint
        except (OSError, ValueError):
            return False

    def _remember(self, sha: str) -> None:
        if self.cache_dir is None:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = self.cache_dir / f".{sha}.{os.getpid()}.{threading.get_ident()}"
        staging.write_text(json.dumps(self._fingerprint))
        os.replace(staging, self.cache_dir / f"{sha}.json")


def fingerprint() -> dict[str, str | None]:
    """Python and the versions of the libraries that parse artifacts: a passed trial holds
    only for the same ones."""
    versions: dict[str, str | None] = {"python": sys.version}
    for name in NATIVE_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _telling_line(stderr: str) -> str:
    """The line of a child's error output that says most: a fatal/error line, else the last."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if "fatal" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else ""


def _main(argv: list[str]) -> int:
    artifact = Path(argv[0])
    for folder in model_folders(artifact):
        try:
            load_model(folder)
        except Exception as error:  # reported to the parent as one line
            print(f"{type(error).__name__}: {error}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
