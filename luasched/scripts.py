"""Loading the Lua scripts: one file per state change, shared helpers inlined once.

A script file is named ``<name>-<numkeys>.lua``; a line ``--@include helper`` pulls in
``includes/helper.lua`` (which may include others). Each helper is inlined once, before its
first user, in dependency order; a missing or circular include is a ScriptError. Scripts are
registered with redis-py (``register_script``: EVALSHA, reloaded transparently on NOSCRIPT).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import ScriptError

_INCLUDE = re.compile(r"^--@include\s+([\w-]+)\s*$", re.MULTILINE)
_NAME = re.compile(r"^(?P<name>[A-Za-z]+)-(?P<numkeys>\d+)\.lua$")


def script_dir() -> Path:
    """``luasched/lua`` in an installed wheel, the repository's ``lua/`` in a checkout."""
    packaged = Path(__file__).with_name("lua")
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "lua"


@dataclass(frozen=True)
class ScriptSource:
    name: str
    numkeys: int
    text: str


def inline_includes(text: str, directory: Path, origin: str) -> str:
    """Return ``text`` with its includes (and theirs) inlined once, dependencies first."""
    done: list[str] = []
    bodies: dict[str, str] = {}

    def visit(source: str, stack: tuple[str, ...]) -> None:
        for helper in _INCLUDE.findall(source):
            if helper in stack:
                raise ScriptError(f"{origin}: circular include {' -> '.join(stack + (helper,))}")
            if helper in bodies:
                continue
            path = directory / "includes" / f"{helper}.lua"
            if not path.is_file():
                raise ScriptError(f"{origin}: include {helper!r} not found at {path}")
            body = path.read_text()
            visit(body, stack + (helper,))
            bodies[helper] = _INCLUDE.sub("", body).strip() + "\n"
            done.append(helper)

    visit(text, ())
    return "".join(bodies[h] for h in done) + _INCLUDE.sub("", text)


@cache
def load_sources(directory: Path | None = None) -> dict[str, ScriptSource]:
    """Every script of ``directory`` (default: :func:`script_dir`), by name."""
    directory = directory or script_dir()
    sources: dict[str, ScriptSource] = {}
    for path in sorted(directory.glob("*.lua")):
        match = _NAME.match(path.name)
        if not match:
            raise ScriptError(f"{path}: script files are named <name>-<numkeys>.lua")
        text = inline_includes(path.read_text(), directory, path.name)
        sources[match["name"]] = ScriptSource(match["name"], int(match["numkeys"]), text)
    if not sources:
        raise ScriptError(f"no Lua scripts found in {directory}; the installation is incomplete")
    return sources


class Scripts:
    """The scripts registered on one client, called by name with their keys checked."""

    def __init__(self, client: Any, directory: Path | None = None) -> None:
        self._sources = load_sources(directory)
        self._scripts = {name: client.register_script(src.text) for name, src in self._sources.items()}

    def __call__(self, name: str, keys: list[str], args: list[Any]) -> Any:
        source = self._sources[name]
        if len(keys) != source.numkeys:
            raise ScriptError(f"script {name} takes {source.numkeys} keys, got {len(keys)}")
        return self._scripts[name](keys=keys, args=args)

    def shas(self) -> dict[str, str]:
        return {name: script.sha for name, script in self._scripts.items()}
