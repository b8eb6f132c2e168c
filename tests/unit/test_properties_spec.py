"""Property tests of the spec loader: any YAML text, any mapping and any ``--set`` override is
either a spec that resolves to itself again, or a ``TailorkitError`` naming the file (or the
override), never another exception."""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tailorkit.errors import TailorkitError
from tailorkit.solutions import SOLUTIONS
from tailorkit.solutions.credit_risk.templates import init_template
from tailorkit.solutions.specs import load_spec, resolve_spec
from tests.property_strategies import bounded, json_values, texts

DEMO_SPECS = [
    importlib.import_module(f"{m.rsplit('.', 1)[0]}.templates").DEMO_SPEC
    for m in SOLUTIONS.values()
]
YAML_TOKENS = (
    *("name:", "solution:", "data:", "train:", "models:", "evaluation:", "folds:", "- ", ": "),
    *("\n", "\n  ", "  ", "[", "]", "{", "}", ",", "'", '"', "&a ", "*a", "!!python/object ", "? "),
    *("<<: ", "|", ">", "#", "---\n", "...\n", "%YAML 1.1\n", "\t", "credit_risk", "1e400"),
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("specs")


@pytest.fixture(scope="module")
def init_spec(folder: Path) -> str:
    """The spec ``tailorkit init credit_risk`` writes for a small applications table."""
    data = folder / "applications.csv"
    data.write_text("application_id,income,sex,default\n1,10,f,0\n2,20,m,1\n")
    options = {"data": str(data), "target": "default", "key": "application_id"}
    return init_template("acme-credit", {**options, "protected": ["sex"]})


def write(folder: Path, content: str | bytes) -> Path:
    """The spec file: text as UTF-8 (a lone surrogate as the invalid bytes it would be)."""
    path = folder / "tailorkit.yaml"
    path.write_bytes(
        content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
    )
    return path


def assert_loads_or_names(source: str, load, *, overrides: list[str] = ()) -> None:
    """``load()`` gives a spec whose resolved mapping resolves to itself, or a short one-line
    TailorkitError naming the spec's file (or the override at fault)."""
    try:
        spec, resolved = load()
    except TailorkitError as error:
        message = str(error)
        assert message and "Traceback" not in message and len(message) < 1000, message[:2000]
        assert "\n" not in message, message
        message.encode("utf-8")  # printable: a lone surrogate is shown escaped
        assert source in message or (overrides and "override " in message), message
        return
    again, resolved_again = resolve_spec(copy.deepcopy(resolved))
    assert type(again) is type(spec)
    assert yaml.safe_dump(resolved_again) == yaml.safe_dump(resolved)


# Strategies are built once: a recursive strategy built afresh for every example costs more
# than the example itself.
INSERTED = st.lists(st.sampled_from(YAML_TOKENS) | texts(long=False), max_size=4).map("".join)
EDITS = st.tuples(st.floats(0, 1), st.integers(0, 40), INSERTED)  # where, cut, put in
SOUP = st.lists(st.sampled_from(YAML_TOKENS) | texts(long=False), max_size=12).map("".join)
RAW_TEXTS = st.binary(max_size=200) | texts(long=False) | SOUP
VALUES = json_values(long=False) | st.sampled_from(["credit_risk", "diagnosis", 5, "x.csv"])


def spliced(text: str, edit: tuple[float, int, str]) -> str:
    """``text`` with a stretch of it replaced by YAML-ish tokens or any text (or cut out)."""
    where, cut, inserted = edit
    at = int(where * len(text))
    return text[:at] + inserted + text[at + cut :]


@bounded(100)
@given(data=st.data())
def test_any_spec_text_loads_or_names_the_file(folder, init_spec, data):
    bases = [*DEMO_SPECS, init_spec]
    if data.draw(st.booleans(), label="a valid spec, spliced"):
        content = spliced(data.draw(st.sampled_from(bases)), data.draw(EDITS))
    else:
        content = data.draw(RAW_TEXTS)
    path = write(folder, content)
    assert_loads_or_names(str(path), lambda: load_spec(path))


@pytest.mark.parametrize(
    "content",
    [
        "name: a\nsolution: credit_risk\nmodels: " + "[" * 600 + "]" * 600,  # past the stack
        "name: a\nsolution: credit_risk\ndata: {train: x.csv}\ntarget: t\nmodels: " + "x" * 10**5,
        "solution: {a: 1}\n",
        "solution: [credit_risk]\n",  # an unhashable solution name
        '"": 1\nname: a\nsolution: credit_risk\ndata: {train: x.csv}\ntarget: t\n',  # empty key
    ],
    ids=["deep", "long-value", "mapping-solution", "list-solution", "empty-key"],
)
def test_spec_texts_that_broke_the_loader(folder, content):
    path = write(folder, content)
    assert_loads_or_names(str(path), lambda: load_spec(path))


@pytest.mark.parametrize(
    "override",
    ["name=[", "name=\ud800", "models=*x", "data.train=\x00", "name=[" + "x" * 10**5],
    ids=["unclosed", "surrogate", "alias", "nul", "long"],
)
def test_overrides_that_broke_the_loader(folder, override):
    path = write(folder, DEMO_SPECS[0])
    assert_loads_or_names(str(path), lambda: load_spec(path, [override]), overrides=[override])


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path and list index in a mapping (the root included)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*prefix, index))
    return found


def mutate(spec: dict[str, Any], path: tuple, how: str, value: Any) -> dict[str, Any]:
    """``spec`` with the node at ``path`` replaced, deleted, or given an unknown key."""
    spec = copy.deepcopy(spec)
    if not path:
        return value if how == "replace" else spec
    parent = spec
    for part in path[:-1]:
        parent = parent[part]
    if how == "delete":
        del parent[path[-1]]
    elif how == "add" and isinstance(parent[path[-1]], dict):
        parent[path[-1]][value if isinstance(value, str | int) else "extra"] = value
    else:
        parent[path[-1]] = value
    return spec


@st.composite
def mutated_specs(draw, bases: list[str]) -> Any:
    spec = yaml.safe_load(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(spec)))
        how = draw(st.sampled_from(["replace", "delete", "add"]))
        value = draw(VALUES)
        spec = mutate(spec, path, how, value)
        if not isinstance(spec, dict):
            break
    return spec


OVERRIDE_KEYS = st.sampled_from(["name", "evaluation.folds", "models", "data.train", "a.b"])
OVERRIDE_VALUES = st.sampled_from(["3", "[logistic]", "[", "{a: 1}", "*x", "!!binary x", "1e999"])
OVERRIDES = st.lists(
    st.tuples(
        OVERRIDE_KEYS | texts(long=False),
        st.sampled_from(["=", ""]),
        OVERRIDE_VALUES | texts(long=False),
    ).map("".join),
    max_size=2,
)


@bounded(150)
@given(data=st.data())
def test_a_mutated_spec_resolves_or_names_the_field(folder, init_spec, data):
    spec = data.draw(mutated_specs([*DEMO_SPECS, init_spec]))
    extra = data.draw(OVERRIDES)
    if isinstance(spec, dict):
        assert_loads_or_names("spec", lambda: resolve_spec(spec, overrides=extra), overrides=extra)
    path = write(folder, yaml.safe_dump(spec, allow_unicode=True) if _dumpable(spec) else "{}")
    assert_loads_or_names(str(path), lambda: load_spec(path, extra), overrides=extra)


def _dumpable(value: Any) -> bool:
    try:
        yaml.safe_dump(value)
    except (yaml.YAMLError, RecursionError):
        return False
    return True
