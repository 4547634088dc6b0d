"""The Lua loader: includes inlined once in dependency order, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from luasched.errors import ScriptError
from luasched.scripts import Scripts, inline_includes, load_sources, script_dir


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_includes_are_inlined_once_dependencies_first(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "includes/a.lua": "local function a() end\n",
        "includes/b.lua": "--@include a\nlocal function b() a() end\n",
    })
    text = inline_includes("--@include b\n--@include a\nreturn b()\n", root, "x-0.lua")
    assert text.count("local function a()") == 1
    assert text.index("function a()") < text.index("function b()") < text.index("return b()")
    assert "@include" not in text


def test_a_missing_include_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="x-0.lua: include 'nope' not found"):
        inline_includes("--@include nope\n", tmp_path, "x-0.lua")


def test_a_circular_include_is_named(tmp_path: Path) -> None:
    root = write(tmp_path, {"includes/a.lua": "--@include b\n", "includes/b.lua": "--@include a\n"})
    with pytest.raises(ScriptError, match="circular include a -> b -> a"):
        inline_includes("--@include a\n", root, "x-0.lua")


def test_script_names_carry_their_key_count(tmp_path: Path) -> None:
    write(tmp_path, {"badname.lua": "return 1\n"})
    with pytest.raises(ScriptError, match="named <name>-<numkeys>.lua"):
        load_sources(tmp_path)


def test_calls_with_the_wrong_number_of_keys_are_refused(r) -> None:
    scripts = Scripts(r)
    with pytest.raises(ScriptError, match="script ack takes 1 keys, got 2"):
        scripts("ack", ["a", "b"], [])


def test_every_shipped_script_compiles_on_the_server(r) -> None:
    sources = load_sources(script_dir())
    assert {"upsert", "remove", "pause", "claim", "ack", "reclaim", "refill"} <= set(sources)
    for source in sources.values():
        assert source.text.lstrip().startswith(("--[[", "local", "--"))
        r.script_load(source.text)
