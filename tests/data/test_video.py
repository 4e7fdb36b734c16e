"""Decoding real files: mp4v (OpenCV) and H.264 with B-frames (PyAV); exact indices and timestamps; bad files."""

from __future__ import annotations

import numpy as np
import pytest

from ffr_data.errors import VideoError
from ffr_data.video import decode_frames, indices_for_timestamps, probe_video


@pytest.fixture(params=["mp4v", "h264"])
def pattern_video(request, video_path, h264_path):
    return {"mp4v": video_path, "h264": h264_path}[request.param]


@pytest.mark.parametrize("backend", ["decord", "opencv"])
def test_probe_reads_the_facts(pattern_video, backend):
    info = probe_video(pattern_video, backend=backend)
    assert (info.num_frames, info.fps, info.duration) == (32, 8.0, 4.0)
    assert (info.width, info.height, info.backend) == (112, 112, backend)


@pytest.mark.parametrize("backend", ["decord", "opencv"])
def test_decoded_frames_are_the_requested_ones(pattern_video, backend, helpers):
    wanted = [31, 0, 5, 17, 9, 9, 30]  # out of order, repeated, around B-frames
    frames = decode_frames(pattern_video, indices=wanted, backend=backend,
                           info=probe_video(pattern_video, backend=backend))
    assert frames.array.shape == (len(wanted), 112, 112, 3) and frames.array.dtype == np.uint8
    levels = helpers.levels(pattern_video)
    assert len(levels) == 32 and np.all(np.diff(levels) > 5)
    assert [helpers.frame_index_of(f, levels) for f in frames.array] == wanted
    assert frames.indices == tuple(wanted)
    assert frames.timestamps == tuple(i / 8.0 for i in wanted)


def test_timestamps_map_to_the_nearest_frame(pattern_video, helpers):
    frames = decode_frames(pattern_video, timestamps=[0.0, 0.5, 1.06, 3.9, 4.0])
    assert frames.indices == (0, 4, 8, 31, 31)  # 3.9 s and the very end are the last frame (index 31 at 3.875 s)
    levels = helpers.levels(pattern_video)
    assert [helpers.frame_index_of(f, levels) for f in frames.array] == [0, 4, 8, 31, 31]


def test_opencv_backend_equals_decord(pattern_video):
    indices = list(range(0, 32, 3))
    decord = decode_frames(pattern_video, indices=indices, backend="decord")
    opencv = decode_frames(pattern_video, indices=indices, backend="opencv",
                           info=probe_video(pattern_video, backend="opencv"))
    assert np.abs(decord.array.astype(int) - opencv.array.astype(int)).max() <= 2


def test_corrupt_and_empty_files_raise_video_errors_naming_the_file(tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    for path, words in ((corrupt, "cannot open"), (empty, "file is empty"), (tmp_path / "nope.mp4", "not found")):
        with pytest.raises(VideoError, match=words) as info:
            decode_frames(path, indices=[0])
        assert info.value.path == str(path)
        assert str(info.value).startswith(str(path))


def test_truncated_video_is_an_error_not_a_substitute(tmp_path, video_path):
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(video_path.read_bytes()[:600])
    with pytest.raises(VideoError) as info:
        decode_frames(truncated, indices=[0, 31])
    assert str(truncated) in str(info.value)


def test_out_of_range_requests_are_errors(video_path):
    info = probe_video(video_path)
    with pytest.raises(VideoError, match=r"frame indices \[32\] are outside 0..31"):
        decode_frames(video_path, indices=[0, 32], info=info)
    with pytest.raises(VideoError, match=r"no frame at t=4.500s \(duration 4.000s\)"):
        indices_for_timestamps(info, [4.5])
    with pytest.raises(VideoError, match=r"no frame at t=-0\.100s"):
        decode_frames(video_path, timestamps=[-0.1], info=info)
    with pytest.raises(ValueError, match="exactly one of"):
        decode_frames(video_path, indices=[0], timestamps=[0.0], info=info)
    with pytest.raises(ValueError, match="unknown video backend 'pyav'"):
        probe_video(video_path, backend="pyav")


def test_sampled_fps_of_frames(video_path):
    frames = decode_frames(video_path, indices=[0, 4, 8, 12])
    assert frames.sampled_fps == pytest.approx(2.0)
    assert frames.size == (112, 112)
