"""Loading a local VLM through the Auto classes."""

from __future__ import annotations

import pytest

from ffr_data.errors import FFRError
from ffr_data.models import load_vlm, model_type, patch_multiple_for


def test_load_vlm_round_trips_the_tiny_student(tiny_students):
    for arch, path in tiny_students.items():
        model, processor = load_vlm(path)
        assert model_type(model) == arch
        assert patch_multiple_for(model) == (32 if arch == "qwen3_vl" else 28)
        assert processor.tokenizer.convert_tokens_to_ids("<|video_pad|>") == model.config.video_token_id


def test_a_folder_that_is_not_a_model_is_a_one_line_error(tmp_path):
    with pytest.raises(FFRError, match=r"not a model directory \(no config.json\)$"):
        load_vlm(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "no_such_model"}')
    with pytest.raises(FFRError) as info:
        load_vlm(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}: cannot load the model") and "\n" not in str(info.value)
