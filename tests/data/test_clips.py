"""Clip tools over a shared frame cache: the right frames, the right crops, one decode per sample."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write_video
from ffr_data.clips import ClipTools, FrameCache, sample_frames
from ffr_data.errors import VideoError
from ffr_data.sampling import FrameSamplingConfig
from ffr_data.synth import student_sampling


def textured_frames(n: int = 40, height: int = 90, width: int = 160) -> np.ndarray:
    """Noise blocks drifting under moving bars: every pixel matters to the resize and the codec has motion to code."""
    rng = np.random.default_rng(7)
    blocks = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    base = np.kron(blocks, np.ones((8, 8, 1), np.uint8))[:height, :width]
    frames = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        frames[i] = np.roll(base, i, axis=1) // 2
        frames[i][:, ((np.arange(width) + 3 * i) // 12) % 2 == 0] += 100
    return frames


@pytest.fixture(scope="module", params=["mp4v", "h264"])
def textured_video(request, tmp_path_factory, helpers):
    folder = tmp_path_factory.mktemp("textured")
    if request.param == "mp4v":
        return write_video(folder / "textured_mp4v.mp4", textured_frames(), fps=10)
    return helpers.write_h264(folder / "textured_h264.mp4", textured_frames(), fps=10, gop=12)


@pytest.fixture(scope="module")
def quadrant_video(tmp_path_factory):
    """112x112, 16 frames: the top-right quadrant is red, the rest dark; frame i carries brightness i*12 in the
    bottom-left quadrant."""
    frames = np.zeros((16, 112, 112, 3), np.uint8)
    frames[:, :56, 56:] = (220, 30, 30)
    for i in range(16):
        frames[i, 56:, :56] = i * 12 + 10
    return write_video(tmp_path_factory.mktemp("clips") / "quadrant.mp4", frames)


def test_sample_frames_is_the_students_view(video_path, helpers):
    frames = sample_frames(str(video_path), student_sampling())
    assert frames.array.shape == (8, 56, 56, 3)
    assert frames.indices == (0, 4, 9, 13, 18, 22, 27, 31)
    assert frames.timestamps == tuple(i / 8 for i in frames.indices)
    levels = helpers.levels(video_path)
    assert [helpers.frame_index_of(f, levels) for f in frames.array] == list(frames.indices)


@pytest.mark.parametrize("settings", [{"decode_workers": 1}, {"decode_workers": 2}, {"decode_workers": 3},
                                      {"backend": "torchcodec"}])
def test_sampled_pixels_and_timestamps_are_the_raw_decoders_resized(textured_video, settings, monkeypatch, helpers):
    """What sample_frames has always returned: decord's frames at the uniform indices, each shrunk with OpenCV's
    area interpolation to the frame cap; the same whatever the backend or the number of parallel readers."""
    import cv2

    from ffr_data import video
    from ffr_data.decoders import load_decord

    decord = load_decord()

    monkeypatch.setattr(video, "MIN_PARALLEL_PIXELS", 0)  # split these small frames too
    helpers.require_backend(settings.get("backend", "decord"))
    cfg = FrameSamplingConfig(num_frames=10, max_pixels=112 * 56, min_pixels=28 * 28, **settings)
    frames = sample_frames(str(textured_video), cfg)
    assert frames.indices == (0, 4, 9, 13, 17, 22, 26, 30, 35, 39)
    assert frames.timestamps == tuple(i / 10 for i in frames.indices)
    raw = decord.VideoReader(str(textured_video), num_threads=1).get_batch(list(frames.indices)).asnumpy()
    expected = np.stack([cv2.resize(f, (84, 56), interpolation=cv2.INTER_AREA) for f in raw])
    assert frames.array.shape == expected.shape == (10, 56, 84, 3)
    np.testing.assert_array_equal(frames.array, expected)


def test_get_frame_and_segment_pick_the_right_frames(video_path, helpers):
    tools = ClipTools(str(video_path), student_sampling())
    levels = helpers.levels(video_path)
    frame = tools.get_frame(1.5)
    assert frame.indices == (12,) and helpers.frame_index_of(frame.array[0], levels) == 12
    assert frame.array.shape == (1, 56, 56, 3)
    assert tools.get_frame(1.5, max_pixels=112 * 112).array.shape == (1, 112, 112, 3)
    segment = tools.get_segment(1.0, 2.0, 5)  # n is made even
    assert segment.indices == (8, 10, 11, 13, 14, 16)
    assert [helpers.frame_index_of(f, levels) for f in segment.array] == list(segment.indices)
    assert segment.array.shape == (6, 56, 56, 3)


def test_zoom_region_crops_the_box_at_source_resolution(quadrant_video):
    tools = ClipTools(str(quadrant_video), student_sampling())
    zoom = tools.zoom_region(0.5, [0.5, 0.0, 1.0, 0.5])
    assert zoom.array.shape == (1, 56, 56, 3) and zoom.indices == (4,)
    red = zoom.array[0].reshape(-1, 3).astype(int)
    assert np.all(red[:, 0] > 180) and np.all(red[:, 1:] < 80)
    small = tools.zoom_region(0.5, [0.5, 0.0, 0.625, 0.125])  # 14x14 source pixels, upscaled to the cap
    assert small.array.shape == (1, 56, 56, 3)
    bottom_left = tools.zoom_region(1.0, [0.0, 0.5, 0.5, 1.0]).array[0]
    assert abs(float(bottom_left.mean()) - (8 * 12 + 10)) < 6


def test_out_of_range_requests_raise(video_path):
    tools = ClipTools(str(video_path), student_sampling())
    with pytest.raises(VideoError, match=r"t=4.500s is outside the video \(0 to 4.000s\)"):
        tools.get_frame(4.5)
    with pytest.raises(VideoError, match="before its start"):
        tools.get_segment(2.0, 1.0)
    with pytest.raises(VideoError, match="not a normalised box"):
        tools.zoom_region(1.0, [0.6, 0.1, 0.5, 0.3])
    with pytest.raises(VideoError, match=r"box must be \[x1, y1, x2, y2\]"):
        tools.zoom_region(1.0, [0.1, 0.2])
    with pytest.raises(VideoError, match="file not found"):
        ClipTools("missing.mp4", student_sampling()).get_frame(0.0)


def test_the_cache_decodes_a_sample_once_however_many_calls(video_path):
    cache = FrameCache()
    cfg = student_sampling()
    first = sample_frames(str(video_path), cfg, cache)
    tools = ClipTools(str(video_path), cfg, cache)
    for _ in range(5):  # rollouts and teacher calls re-reading the same sample
        again = sample_frames(str(video_path), cfg, cache)
        tools.get_frame(first.timestamps[3])
        tools.zoom_region(first.timestamps[5], [0.1, 0.1, 0.4, 0.4])
    np.testing.assert_array_equal(first.array, again.array)
    assert first.array is not again.array and again.array.flags.writeable  # each caller owns its frames
    assert (cache.stats.probes, cache.stats.decode_calls, cache.stats.frames_decoded) == (1, 1, 8)
    assert cache.stats.hits == 5 * (8 + 1 + 1)
    tools.get_segment(1.0, 1.5, 4)  # frames 8, 9, 11, 12: only 8, 11, 12 are new
    assert (cache.stats.decode_calls, cache.stats.frames_decoded) == (2, 11)


def test_one_reader_per_video_shared_by_the_probe_and_the_reads(textured_video, monkeypatch):
    """Opening a video once: the probe's reader decodes the batch too (and frame 0, decoded by the probe, is not
    decoded again); only extra parallel readers open it again."""
    from ffr_data.decoders import load_decord

    decord = load_decord()
    opened = []
    original = decord.VideoReader

    def counting_reader(path, *args, **kwargs):
        opened.append(path)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(decord, "VideoReader", counting_reader)
    from ffr_data import video

    monkeypatch.setattr(video, "MIN_PARALLEL_PIXELS", 0)  # split these small frames too
    cache = FrameCache()
    cfg = FrameSamplingConfig(num_frames=10, decode_workers=1)
    sample_frames(str(textured_video), cfg, cache)
    tools = ClipTools(str(textured_video), cfg, cache)
    tools.get_frame(1.05)  # a frame not sampled: the same open reader decodes it
    tools.get_segment(0.2, 0.8, 4)
    assert opened == [str(textured_video)]
    cache.clear()
    sample_frames(str(textured_video), FrameSamplingConfig(num_frames=10, decode_workers=2), cache)
    assert len(opened) == 3  # the probe's reader takes the first run of frames, one more reader the second


def test_the_cache_is_bounded_in_bytes(video_path):
    frame_bytes = 112 * 112 * 3
    cache = FrameCache(max_bytes=4 * frame_bytes)
    cfg = FrameSamplingConfig(num_frames=8, max_pixels=56 * 56, min_pixels=28 * 28)
    bounded = sample_frames(str(video_path), cfg, cache)  # a request larger than the whole cache
    assert len(cache._frames) == 4
    np.testing.assert_array_equal(bounded.array, sample_frames(str(video_path), cfg).array)
    sample_frames(str(video_path), cfg, cache)
    assert cache.stats.decode_calls == 2  # evicted frames are decoded again, never served stale
    cache.clear()
    assert len(cache._frames) == 0


def test_a_video_too_short_for_the_sampling_is_a_counted_skip(tmp_path, video_path):
    """One frame where two are needed: a VideoError naming the file (so decode_samples skips it, as train and eval
    do), and still a ValueError (what ffr data prepare counts as too_few_frames)."""
    from conftest import index_pattern_frames
    from ffr_data.decode_batch import decode_samples
    from ffr_data.schema import Sample

    short = write_video(tmp_path / "one_frame.mp4", index_pattern_frames(1))
    with pytest.raises(VideoError, match=r"one_frame\.mp4: only 1 frame\(s\); at least 2 are needed") as info:
        sample_frames(str(short), student_sampling())
    assert isinstance(info.value, ValueError)
    samples = [Sample(problem_id=name, problem="?", problem_type="free-form", solution="<answer>x</answer>",
                      path=str(path)) for name, path in (("short", short), ("fine", video_path))]
    batch = decode_samples(samples, student_sampling())
    assert [s.problem_id for s in batch.samples] == ["fine"]
    assert [(s.problem_id, "only 1 frame" in s.reason) for s in batch.skipped] == [("short", True)]
