"""Frame sampling: which frames, how many, at what size."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ffr_data.sampling import (
    FrameSamplingConfig,
    frame_count,
    resize_frames,
    sample_indices,
    smart_resize,
    target_size,
)
from ffr_data.synth import student_sampling
from ffr_data.video import VideoInfo


def info(num_frames: int = 32, fps: float = 8.0, width: int = 112, height: int = 112) -> VideoInfo:
    return VideoInfo("v.mp4", num_frames, fps, num_frames / fps, width, height, "decord")


def test_uniform_sampling_includes_both_ends():
    assert sample_indices(info(), student_sampling()) == [0, 4, 9, 13, 18, 22, 27, 31]
    assert sample_indices(info(100), FrameSamplingConfig(num_frames=4)) == [0, 33, 66, 99]


def test_frame_count_is_even_and_at_most_the_video():
    assert frame_count(info(), FrameSamplingConfig(num_frames=7)) == 6
    assert frame_count(info(5), FrameSamplingConfig(num_frames=16)) == 4
    with pytest.raises(ValueError, match="only 1 frame"):
        frame_count(info(1), FrameSamplingConfig(num_frames=16))


@pytest.mark.parametrize(("seconds", "expected"), [(10, 20), (1, 4), (100, 64), (7.25, 14)])
def test_fps_based_sampling_is_clamped(seconds, expected):
    cfg = FrameSamplingConfig(num_frames=None, fps=2.0, min_frames=4, max_frames=64)
    video = info(int(seconds * 30), fps=30.0)
    assert frame_count(video, cfg) == expected
    indices = sample_indices(video, cfg)
    assert len(indices) == expected and indices[0] == 0 and indices[-1] == video.num_frames - 1
    assert indices == sorted(indices)


@pytest.mark.parametrize("factor", [28, 32])
def test_smart_resize_respects_caps_and_multiples(factor):
    for height, width in [(112, 112), (480, 640), (1080, 1920), (50, 300), (20, 20)]:
        for lo, hi in [(4 * factor * factor, 128 * factor * factor), (factor * factor, 4 * factor * factor)]:
            h, w = smart_resize(height, width, factor, lo, hi)
            assert h % factor == 0 and w % factor == 0
            assert h * w <= hi
            assert h * w >= min(lo, factor * factor)
            if height * width <= hi:
                assert abs(h / w - height / width) < 0.5 * max(1, height / width)
    with pytest.raises(ValueError, match="invalid frame size"):
        smart_resize(0, 10, factor, 1, 100)


def test_known_sizes():
    assert smart_resize(112, 112, 28, 28 * 28, 56 * 56) == (56, 56)
    assert smart_resize(112, 112, 32, 32 * 32, 64 * 64) == (64, 64)
    assert smart_resize(480, 640, 28, 4 * 784, 128 * 784) == (252, 364)
    assert smart_resize(20, 20, 28, 4 * 784, 128 * 784) == (56, 56)  # the floor enlarges tiny frames


@pytest.mark.parametrize("factor", [28, 32])
def test_smart_resize_matches_qwen_vl_utils(factor):
    from qwen_vl_utils.vision_process import smart_resize as reference

    for height, width in [(112, 112), (480, 640), (1080, 1920), (50, 300), (20, 20), (720, 1280), (333, 517)]:
        for lo, hi in [(4 * 784, 128 * 784), (784, 56 * 56), (16 * factor * factor, 768 * factor * factor)]:
            ours, theirs = smart_resize(height, width, factor, lo, hi), reference(height, width, factor, lo, hi)
            # qwen-vl-utils can floor a thin side to 0 under a tight cap; FFR keeps at least one patch.
            assert ours == tuple(max(factor, v) for v in theirs)


def test_total_pixel_budget_lowers_the_per_frame_cap():
    cfg = FrameSamplingConfig(max_pixels=128 * 784, min_pixels=4 * 784, total_pixels=16 * 16 * 784)
    h, w = target_size(480, 640, cfg, 16)
    assert h * w <= 16 * 784
    assert target_size(480, 640, FrameSamplingConfig(max_pixels=128 * 784), 16) == (252, 364)
    tiny_budget = FrameSamplingConfig(max_pixels=128 * 784, min_pixels=4 * 784, total_pixels=10)
    assert target_size(480, 640, tiny_budget, 16) == smart_resize(480, 640, 28, 4 * 784, 4 * 784)  # cap = the floor


def test_resize_frames_shrinks_and_enlarges():
    frames = np.random.default_rng(0).integers(0, 255, (3, 112, 112, 3), dtype=np.uint8)
    assert resize_frames(frames, 56, 56).shape == (3, 56, 56, 3)
    assert resize_frames(frames, 224, 168).shape == (3, 224, 168, 3)
    assert resize_frames(frames, 112, 112) is frames
    flat = np.full((1, 112, 112, 3), 77, np.uint8)
    assert np.all(resize_frames(flat, 56, 56) == 77)


def test_resize_frames_takes_a_sequence_of_frames_and_returns_a_new_array():
    frames = np.random.default_rng(1).integers(0, 255, (4, 90, 160, 3), dtype=np.uint8)
    as_list = resize_frames(list(frames), 56, 84)
    np.testing.assert_array_equal(as_list, resize_frames(frames, 56, 84))
    same_size = resize_frames(list(frames), 90, 160)
    np.testing.assert_array_equal(same_size, frames)
    assert same_size is not frames and same_size.flags.writeable


@pytest.mark.parametrize("key", ["sampling.backend", "sampling.fallback_backend"])
def test_an_unknown_backend_is_refused_when_the_config_loads(key):
    from ffr_data.config import resolve
    from ffr_data.errors import ConfigError
    from ffr_data.prepare import PrepareConfig

    with pytest.raises(ConfigError, match=rf"config key '{key}': 'pyav' is not one of "
                                          r"\['decord', 'torchcodec', 'opencv'\]"):
        resolve(PrepareConfig(), overrides=[f"{key}=pyav"])
    assert getattr(resolve(PrepareConfig(), overrides=[f"{key}=torchcodec"]).sampling,
                   key.split(".")[1]) == "torchcodec"


def test_resizing_in_parallel_gives_the_same_frames():
    frames = np.random.default_rng(2).integers(0, 255, (9, 270, 480, 3), dtype=np.uint8)
    one = resize_frames(frames, 168, 280)
    np.testing.assert_array_equal(resize_frames(frames, 168, 280, workers=2), one)
    np.testing.assert_array_equal(resize_frames(list(frames), 168, 280, workers=3), one)
    expected = np.stack([cv2.resize(f, (280, 168), interpolation=cv2.INTER_AREA) for f in frames])
    np.testing.assert_array_equal(one, expected)
