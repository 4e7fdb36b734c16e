"""The one registry every package looks things up in: a name is registered once, an unknown name is one error type
that lists the known names. The shared helpers that came with it (progress bar, phase timer, rope reset, markdown
table, decode-and-skip error types) are tested here too."""

from __future__ import annotations

import pytest
import torch

from ffr_data.errors import ConfigError
from ffr_data.markdown import markdown_table
from ffr_data.models import reset_rope_deltas
from ffr_data.progress import progress_bar
from ffr_data.prompting import TEMPLATES, PromptTemplate, template
from ffr_data.registry import Registry, RegistryError
from ffr_data.timing import PhaseTimer


def test_a_second_registration_of_a_name_is_refused_and_the_first_kept():
    colours = Registry("colour")
    colours.register("red")(1)
    with pytest.raises(RegistryError, match=r"colour 'red' is registered twice \(known: red\)"):
        colours.add("red", 2)
    assert colours.get("red") == 1 and len(colours) == 1


def test_an_unknown_name_is_a_config_error_listing_the_known_ones_with_where_it_came_from():
    colours = Registry("colour", {"red": 1, "blue": 2})
    with pytest.raises(RegistryError, match=r"^unknown colour 'green' \(known: blue, red\)$"):
        colours.get("green")
    with pytest.raises(ConfigError, match=r"^config key 'paint': unknown colour 'green' \(known: blue, red\)$"):
        colours.get("green", where="config key 'paint'")
    with pytest.raises(RegistryError, match="unknown colour"):
        colours["green"]


def test_a_registry_reads_like_a_read_only_mapping_in_registration_order():
    colours = Registry("colour", {"red": 1, "blue": 2})
    assert list(colours) == ["red", "blue"] and colours.names() == ["blue", "red"]
    assert "red" in colours and "green" not in colours and colours.values() == [1, 2]
    assert {**colours, "green": 3} == {"red": 1, "blue": 2, "green": 3} and dict(colours) == {"red": 1, "blue": 2}


def test_prompt_templates_are_a_registry():
    with pytest.raises(RegistryError, match=r"unknown prompt template 'nope' \(known: compact, video-r1\)"):
        template("nope")
    with pytest.raises(RegistryError, match="prompt template 'compact' is registered twice"):
        TEMPLATES.add("compact", PromptTemplate("{question}", {}, "", ""))
    assert template("compact").body == "{question}\n"


def test_the_phase_timer_adds_up_phases_and_reports_declared_ones_even_when_untimed():
    timer = PhaseTimer(("decode_s", "generate_s"))
    for _ in range(2):
        with timer.phase("decode_s"):
            pass
    assert set(timer.as_metrics(prefix="")) == {"decode_s", "generate_s"}
    assert timer.as_metrics()["time/generate_s"] == 0.0 and timer.seconds["decode_s"] >= 0.0


def test_the_progress_bar_draws_on_stderr_with_its_info_and_is_silent_when_disabled(capsys):
    with progress_bar(True, "training", 2, unit="steps") as bar:
        bar.advance(info="R 1.50")
        bar.advance()
    out, err = capsys.readouterr()
    assert out == "" and "training" in err and "2/2" in err and "steps" in err and "R 1.50" in err
    with progress_bar(False, "training", 2) as bar:
        bar.advance(info="x")
    assert capsys.readouterr() == ("", "")


def test_reset_rope_deltas_reaches_the_cache_inside_wrappers():
    class Inner(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rope_deltas = torch.ones(2)

    wrapped = torch.nn.Sequential(torch.nn.Sequential(Inner()))   # as a peft / DDP wrapper nests the model
    reset_rope_deltas(wrapped)
    assert wrapped[0][0].rope_deltas is None


def test_markdown_table_formats_floats_and_missing_values():
    assert markdown_table(["a", "b"], [[1.234, None], ["x", 3]]) == [
        "| a | b |", "| --- | --- |", "| 1.23 | – |", "| x | 3 |"]


def test_an_inherited_one_process_rendezvous_is_dropped_and_a_launchers_is_kept(monkeypatch):
    import os

    from ffr_data.rendezvous import OWNER, drop_inherited_rendezvous

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.delenv(OWNER, raising=False)
    drop_inherited_rendezvous()  # torchrun's (no owner): kept
    assert os.environ["MASTER_PORT"] == "29500"
    monkeypatch.setenv(OWNER, f"{os.getpid()}:29500")
    drop_inherited_rendezvous()  # this process's own: kept
    assert os.environ["MASTER_PORT"] == "29500"
    monkeypatch.setenv(OWNER, f"{os.getpid() + 1}:29400")
    drop_inherited_rendezvous()  # a parent's marker, but a launcher has set its own port since: only the marker goes
    assert os.environ["MASTER_PORT"] == "29500" and OWNER not in os.environ
    monkeypatch.setenv(OWNER, f"{os.getpid() + 1}:29500")
    drop_inherited_rendezvous()  # a parent's own rendezvous: its port is taken, so it goes
    assert "MASTER_PORT" not in os.environ and "RANK" not in os.environ and OWNER not in os.environ
