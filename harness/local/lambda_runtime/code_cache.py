"""Function code on disk: each zip extracted once per SHA-256, the handler's ``/var/task``."""

from __future__ import annotations

import atexit
import io
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

from moto.awslambda.exceptions import InvalidParameterValueException

from harness.local.lambda_runtime.function import Function

__all__ = ["CODE_DIR_ENV", "CodeCache"]

CODE_DIR_ENV = "HARNESS_LOCAL_LAMBDA_CODE_DIR"


class CodeCache:
    """Zips extracted once per SHA-256 under ``root``; safe across threads (and processes).

    Without a ``root``, a temporary directory is made on first use and removed at exit.
    """

    def __init__(self, root: Path | None) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._ready: set[str] = set()

    @property
    def root(self) -> Path:
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="harness-lambda-"))
                atexit.register(shutil.rmtree, self._root, ignore_errors=True)
            return self._root

    def path(self, func: Function) -> Path:
        root = self.root
        target = root / func.sha
        if func.sha in self._ready:
            return target
        with self._lock:
            lock = self._locks.setdefault(func.sha, threading.Lock())
        with lock:
            if not target.is_dir():
                root.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{func.sha[:12]}-"))
                try:
                    with zipfile.ZipFile(io.BytesIO(func.code)) as archive:
                        archive.extractall(staging)
                    staging.rename(target)  # atomic: readers never see half a tree
                except zipfile.BadZipFile as exc:
                    raise InvalidParameterValueException(f"Could not unzip the code of {func.name} ({exc}); upload a zip file") from exc
                except OSError:
                    if not target.is_dir():  # not another process that won the race
                        raise
                finally:
                    shutil.rmtree(staging, ignore_errors=True)
            self._ready.add(func.sha)
        return target
