"""Typed configs: defaults <- YAML <- key=value, unknown keys named, types checked, secrets kept out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from ffr_data.config import describe, field, merge, parse_overrides, resolve, to_dict
from ffr_data.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    rate: float = field(0.5, help="A rate.")
    name: str = field("x", help="A name.")


@dataclass(frozen=True)
class Outer:
    steps: int = field(10, help="Steps.")
    flag: bool = field(False, help="A flag.")
    mode: Literal["a", "b"] = field("a", help="A mode.")
    sizes: list[int] = field(default_factory=lambda: [1, 2], help="Sizes.")
    maybe: int | None = field(None, help="Optional.")
    api_key: str = field("", help="Secret.", secret=True)
    inner: Inner = field(default_factory=Inner, help="A section.")


def test_defaults_yaml_then_overrides(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("steps: 20\ninner:\n  rate: 0.25\n  name: from-yaml\nsizes: [3, 4]\n")
    cfg = resolve(Outer(), yaml_file, ["inner.name=cli", "flag=true", "maybe=7"])
    assert cfg == Outer(steps=20, flag=True, sizes=[3, 4], maybe=7, inner=Inner(rate=0.25, name="cli"))
    assert resolve(Outer(), None, ["maybe=null"]).maybe is None
    assert resolve(Outer(), None, ["sizes=5,6"]).sizes == [5, 6]
    assert resolve(Outer(), None, ["steps=3.0"]).steps == 3


@pytest.mark.parametrize(("override", "message"), [
    ("stepz=3", "unknown config key 'stepz' (known keys here: api_key, flag, inner, maybe, mode, sizes, steps)"),
    ("inner.ratio=1", "unknown config key 'inner.ratio' (known keys here: name, rate)"),
    ("steps=abc", "config key 'steps': expected int, got 'abc'"),
    ("steps=2.5", "config key 'steps': expected int, got 2.5"),
    ("flag=maybe", "config key 'flag': expected true/false, got 'maybe'"),
    ("mode=c", "config key 'mode': 'c' is not one of ['a', 'b']"),
    ("inner=3", "config key 'inner' is a section; set its fields"),
    ("steps=true", "config key 'steps': expected a number, got True"),
    ("noequals", "override 'noequals' is not of the form key=value"),
    ("=3", "has an empty key"),
])
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(ConfigError) as info:
        resolve(Outer(), None, [override])
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        resolve(Outer(), tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("steps: [1, 2\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        resolve(Outer(), broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level of a config file must be a mapping"):
        resolve(Outer(), listed)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("inner:\n  colour: red\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'inner\.colour'"):
        resolve(Outer(), unknown)


def test_section_and_value_conflict():
    with pytest.raises(ConfigError, match="set both as a value and as a section"):
        merge(Outer(), {"inner": 3, "inner.rate": 1.0})


def test_secrets_stay_out_of_dicts_and_reprs():
    cfg = merge(Outer(), {"api_key": "sk-123"})
    assert cfg.api_key == "sk-123"
    assert "api_key" not in to_dict(cfg) and "sk-123" not in repr(cfg)
    assert to_dict(cfg)["inner"] == {"rate": 0.5, "name": "x"}


def test_describe_lists_every_key_with_its_help():
    rows = {key: (default, text) for key, default, text in describe(Outer)}
    assert rows["inner.rate"] == ("0.5", "A rate.")
    assert rows["steps"] == ("10", "Steps.")
    assert set(rows) == {"steps", "flag", "mode", "sizes", "maybe", "api_key", "inner.rate", "inner.name"}


def test_parse_overrides_reads_yaml_scalars():
    assert parse_overrides(["a=1", "b=x", "c=[1, 2]", "d=", "e=1e-3"]) == {"a": 1, "b": "x", "c": [1, 2], "d": "",
                                                                           "e": "1e-3"}


def test_every_ffr_data_config_field_is_documented():
    from ffr_data.prepare import PrepareConfig
    from ffr_data.prompting import PromptConfig
    from ffr_data.sampling import FrameSamplingConfig
    from ffr_data.synth import SynthConfig

    for cfg_type in (FrameSamplingConfig, PromptConfig, SynthConfig, PrepareConfig):
        undocumented = [key for key, _, text in describe(cfg_type) if not text.strip()]
        assert undocumented == [], f"{cfg_type.__name__}: {undocumented}"
