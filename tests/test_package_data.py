"""Every data file under ``harness/`` is named in pyproject's ``[tool.setuptools.package-data]``,
so a wheel carries it (setuptools packs only ``.py`` files otherwise): the web UI's script and
page, the report's templates, the fan-out stack."""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath

import harness

ROOT = Path(harness.__file__).parent
PYPROJECT = ROOT.parent / "pyproject.toml"


def data_files() -> list[Path]:
    return sorted(
        p for p in ROOT.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    )  # fmt: skip


def packed(path: Path, package_data: dict[str, list[str]]) -> bool:
    """Whether a glob of ``path``'s package, or of a package above it, names the file."""
    relative = path.relative_to(ROOT.parent)
    for package, globs in package_data.items():
        base = Path(*package.split("."))
        if base not in relative.parents:
            continue
        inside = PurePosixPath(relative.relative_to(base).as_posix())
        if any(inside.match(g) and len(inside.parts) == len(PurePosixPath(g).parts) for g in globs):
            return True
    return False


def test_every_data_file_of_the_package_is_in_pyprojects_package_data() -> None:
    package_data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    files = data_files()
    assert any(p.name == "webui.js" for p in files) and any(p.name == "waiting.html" for p in files)
    missing = [str(p.relative_to(ROOT.parent)) for p in files if not packed(p, package_data)]
    assert missing == [], f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"
