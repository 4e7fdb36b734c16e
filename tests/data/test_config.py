"""Typed configs: defaults <- YAML <- key=value, unknown keys named, types checked, secrets kept out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from ffr_data.config import (
    Check,
    at_least,
    describe,
    each,
    field,
    folder_path,
    less_than,
    merge,
    non_negative,
    parse_overrides,
    positive,
    probability,
    resolve,
    to_dict,
)
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
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"steps: 3\nname: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"binary\.yaml: not UTF-8 text \(byte 0xe9 at line 2\)$"):
        resolve(Outer(), binary)
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


def test_describe_names_each_fields_checks():
    rows = {key: text for key, _, text in describe(Checked)}
    assert rows["steps"] == "Steps. (must be > 0)"
    assert rows["betas"] == "Two numbers. (every item must be >= 0 and must be < 1)"
    assert rows["inner.rate"] == "A rate."


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


# --- constraints: declared on the field, checked once the config is resolved ---------------------------------------

@dataclass(frozen=True)
class Checked:
    steps: int = field(10, help="Steps.", check=positive)
    rate: float = field(0.5, help="A probability.", check=probability)
    limit: int | None = field(None, help="Optional cap.", check=at_least(1))
    betas: tuple[float, float] = field((0.9, 0.99), help="Two numbers.", check=each(non_negative, less_than(1)))
    out: str = field("runs/x", help="A folder.", check=folder_path)
    api_key: str | None = field(None, help="Secret.", secret=True, check=Check(lambda v: v.startswith("sk-"),
                                                                                 "must start with sk-"))
    inner: Inner = field(default_factory=Inner, help="A section.")


@pytest.mark.parametrize(("override", "message"), [
    ("steps=0", "config key 'steps' must be > 0, got 0"),
    ("steps=-3", "config key 'steps' must be > 0, got -3"),
    ("rate=1.5", "config key 'rate' must be within [0, 1], got 1.5"),
    ("rate=nan", "config key 'rate': expected float, got 'nan'"),
    ("rate=.nan", "config key 'rate': expected float, got nan"),
    ("limit=0", "config key 'limit' must be >= 1, got 0"),
    ("betas=[0.9, 1.0]", "config key 'betas' every item must be >= 0 and must be < 1, got (0.9, 1.0)"),
    ("betas=[0.9]", "config key 'betas': expected 2 items, got [0.9]"),
])
def test_field_checks_name_the_key_and_the_rule(override, message):
    with pytest.raises(ConfigError) as info:
        resolve(Checked(), None, [override])
    assert str(info.value) == message


def test_checks_run_on_the_merged_result_not_on_each_layer(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("steps: 0\nlimit: 3\n")
    assert resolve(Checked(), yaml_file, ["steps=5"]).steps == 5  # the override repairs the file's value
    with pytest.raises(ConfigError, match="config key 'steps' must be > 0, got 0"):
        resolve(Checked(), yaml_file)
    assert resolve(Checked(), None, ["limit=null"]).limit is None  # unset optional values are not checked
    with pytest.raises(ConfigError, match=r"config key 'sub\.steps' must be > 0"):
        merge(Checked(), {"steps": 0}, prefix="sub.")


def test_folder_keys_refuse_an_existing_file(tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("x")
    assert resolve(Checked(), None, [f"out={tmp_path / 'new' / 'run'}"]).out.endswith("run")
    for bad in (blocker, blocker / "below"):
        with pytest.raises(ConfigError, match=r"config key 'out' must be a folder, but it \(or a folder above it\) "
                                              r"is an existing file"):
            resolve(Checked(), None, [f"out={bad}"])


@pytest.mark.parametrize("given", [["api_key=[1, 2]"], ["api_key={token: sk-hidden-1}"], ["api_key=pk-hidden-2"]])
def test_a_bad_secret_is_named_but_never_shown(given):
    with pytest.raises(ConfigError) as info:
        resolve(Checked(), None, given)
    message = str(info.value)
    assert "config key 'api_key'" in message and "value not shown: secret" in message
    assert "hidden" not in message and "[1, 2]" not in message and "1, 2" not in message


def test_a_secret_of_the_wrong_type_in_a_yaml_file_is_not_echoed(tmp_path):
    from ffr_teacher import TeacherConfig

    yaml_file = tmp_path / "teacher.yaml"
    yaml_file.write_text("api_key:\n  value: sk-do-not-print\n")
    with pytest.raises(ConfigError) as info:
        resolve(TeacherConfig(), yaml_file)
    assert "'api_key'" in str(info.value) and "sk-do-not-print" not in str(info.value)
    with pytest.raises(ConfigError) as info:
        resolve(TeacherConfig(), None, ["api_key=[1,2]"])
    assert "'api_key'" in str(info.value) and "1, 2" not in str(info.value) and "[1,2]" not in str(info.value)


def _configs():
    from ffr_data.prepare import PrepareConfig
    from ffr_data.synth import SynthConfig
    from ffr_eval.config import EvalConfig
    from ffr_teacher import TeacherConfig
    from ffr_train.config import TrainConfig

    return {"train": TrainConfig, "eval": EvalConfig, "teacher": TeacherConfig, "prepare": PrepareConfig,
            "synth": SynthConfig}


# Values that used to be accepted and then trained nothing, crashed late or dropped every row.
BAD_VALUES = [
    ("train", "optim.steps=0"), ("train", "optim.steps=-5"), ("train", "optim.lr=-1e-4"),
    ("train", "rollout.group_size=0"), ("train", "rollout.temperature=-0.5"), ("train", "rollout.top_p=1.5"),
    ("train", "rollout.micro_batch_size=0"), ("train", "rollout.prompts_per_step=0"),
    ("train", "rollout.max_new_tokens=0"), ("train", "eval.batch_size=0"), ("train", "sampling.num_frames=0"),
    ("train", "sampling.num_frames=1"), ("train", "sampling.max_pixels=0"), ("train", "optim.betas=[0.9, 1.0]"),
    ("train", "optim.min_lr_ratio=2"), ("train", "loss.inner_iterations=0"), ("train", "loss.beta=-0.1"),
    ("train", "reward.kappa=-1"), ("train", "repair.threshold=1.5"), ("train", "checkpoint.every=0"),
    ("train", "checkpoint.keep_last=0"), ("train", "logging.every=0"), ("train", "sft.batch_size=0"),
    ("train", "sft.patch_fraction=1.5"), ("train", "sft.rehearsal_share=-0.1"), ("train", "data.max_train_samples=0"),
    ("train", "teacher.concurrency=0"), ("train", "teacher.timeout_s=0"), ("train", "teacher.leak.fuzzy_ratio=2"),
    ("train", "prompt.template=nope"), ("train", "seed=-1"),
    ("eval", "batch_size=0"), ("eval", "num_processes=0"), ("eval", "limit=0"), ("eval", "sampling.fps=0"),
    ("eval", "decoding.max_new_tokens=0"),
    ("teacher", "max_retries=-1"), ("teacher", "jpeg_quality=0"), ("teacher", "temperature=-1"),
    ("teacher", "deadline_s=-1"), ("teacher", "taxonomy=paper9"),
    ("prepare", "workers=0"), ("prepare", "sampling.num_frames=0"), ("prepare", "data_types=[audio]"),
    ("prepare", "examples_per_reason=-1"),
    ("synth", "ghost_ratio=2"), ("synth", "max_attempts=0"), ("synth", "background=300"),
]


@pytest.mark.parametrize(("package", "override"), BAD_VALUES)
def test_every_package_config_refuses_bad_values_at_load_time(package, override):
    key = override.split("=")[0]
    with pytest.raises(ConfigError) as info:
        resolve(_configs()[package](), None, [override])
    message = str(info.value)
    assert f"'{key}'" in message or f"'teacher.{key}'" in message, message
    assert "\n" not in message


@pytest.mark.parametrize("key", ["output_dir", "sft.output_dir", "teacher.cache_dir"])
def test_train_output_folders_that_are_files_are_refused(tmp_path, key):
    from ffr_train.config import TrainConfig

    taken = tmp_path / "run.txt"
    taken.write_text("not a folder")
    with pytest.raises(ConfigError, match=rf"config key '{key}' must be a folder"):
        resolve(TrainConfig(), None, [f"{key}={taken}"])


def test_defaults_and_example_configs_pass_their_checks():
    from pathlib import Path

    from ffr_train.config import TrainConfig

    for cfg_type in _configs().values():
        resolve(cfg_type())
    configs = Path(__file__).parents[2] / "configs"
    for path in sorted(configs.glob("*.yaml")):
        resolve(TrainConfig(), path)


def test_train_cli_refuses_a_bad_value_before_any_work(tmp_path, monkeypatch, capsys):
    from ffr_data import cli_root

    out = tmp_path / "run"
    for override in ("optim.steps=0", "eval.batch_size=0"):
        monkeypatch.setattr("sys.argv", ["ffr", "train", f"output_dir={out}", override])
        with pytest.raises(SystemExit) as info:
            cli_root.main()
        err = capsys.readouterr().err
        assert info.value.code == 2, err
        assert err.strip().splitlines() == [f"error: config key '{override.split('=')[0]}' must be > 0, got 0"]
        assert not out.exists()
