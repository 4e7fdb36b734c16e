"""Decoding real files: mp4v (OpenCV) and H.264 with B-frames (PyAV); exact indices and timestamps; bad files.

Every backend is held to the same contract: the requested frames, exactly, and a VideoError naming the file for
anything that is not a readable video, whichever frame is damaged. TorchCodec's tests skip, saying why, where it
cannot be loaded (it needs FFmpeg's shared libraries).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from ffr_data.errors import ConfigError, VideoError
from ffr_data.video import decode_frames, indices_for_timestamps, open_video, probe_video, read_frames

BACKENDS = ["decord", "opencv", "torchcodec"]


@pytest.fixture(params=["mp4v", "h264"])
def pattern_video(request, video_path, h264_path):
    return {"mp4v": video_path, "h264": h264_path}[request.param]


@pytest.mark.parametrize("backend", BACKENDS)
def test_probe_reads_the_facts(pattern_video, backend, helpers):
    helpers.require_backend(backend)
    info = probe_video(pattern_video, backend=backend)
    assert (info.num_frames, info.fps, info.duration) == (32, 8.0, 4.0)
    assert (info.width, info.height, info.backend) == (112, 112, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_decoded_frames_are_the_requested_ones(pattern_video, backend, helpers):
    helpers.require_backend(backend)
    wanted = [31, 0, 5, 17, 9, 9, 30]  # out of order, repeated, around B-frames
    frames = decode_frames(pattern_video, indices=wanted, backend=backend,
                           info=probe_video(pattern_video, backend=backend))
    assert frames.array.shape == (len(wanted), 112, 112, 3) and frames.array.dtype == np.uint8
    levels = helpers.levels(pattern_video)
    assert len(levels) == 32 and np.all(np.diff(levels) > 5)
    assert [helpers.frame_index_of(f, levels) for f in frames.array] == wanted
    assert frames.indices == tuple(wanted)
    assert frames.timestamps == tuple(i / 8.0 for i in wanted)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_parallel_readers_return_the_same_frames(pattern_video, workers, monkeypatch):
    from ffr_data import video

    monkeypatch.setattr(video, "MIN_PARALLEL_PIXELS", 0)  # these small frames would not be split otherwise
    monkeypatch.setattr(video, "MIN_RUN_FRAMES", 2)
    wanted = [31, 0, 5, 17, 9, 9, 30, 2]
    reference = decode_frames(pattern_video, indices=wanted).array
    reader = open_video(pattern_video)
    np.testing.assert_array_equal(read_frames(reader, wanted, workers), reference)


def test_only_requests_that_gain_are_split_over_readers():
    from ffr_data.video import decode_runs, parallel_runs

    assert parallel_runs(16, 640 * 360, 2) == 2
    assert parallel_runs(16, 640 * 360, 8) == 4  # at least 4 frames per run
    assert parallel_runs(7, 640 * 360, 2) == 1
    assert parallel_runs(16, 112 * 112, 2) == 1  # small frames: a thread hand-off costs more than it saves
    assert parallel_runs(16, 640 * 360, 1) == 1
    assert decode_runs(16, 640 * 360, 240, 2) == 2  # an 8 s clip at 30 fps: frames 16 apart
    assert decode_runs(16, 640 * 360, 512, 2) == 2
    assert decode_runs(16, 640 * 360, 1800, 2) == 1  # 60 s: 120 apart, a second reader's open costs too much
    assert decode_runs(8, 112 * 112, 32, 2) == 1


def test_torchcodec_gives_decords_pixels(pattern_video, helpers):
    helpers.require_backend("torchcodec")
    indices = [0, 3, 8, 13, 21, 31]
    decord = decode_frames(pattern_video, indices=indices, backend="decord")
    torchcodec = decode_frames(pattern_video, indices=indices, backend="torchcodec")
    np.testing.assert_array_equal(decord.array, torchcodec.array)
    assert decord.timestamps == torchcodec.timestamps


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
    for path, words in ((corrupt, "decord cannot open it"), (empty, "file is empty"),
                        (tmp_path / "nope.mp4", "file not found")):
        with pytest.raises(VideoError, match=words) as info:
            decode_frames(path, indices=[0])
        assert info.value.path == str(path)
        assert str(info.value).startswith(str(path))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fallback", [None, "opencv"])
def test_damaged_frame_data_is_a_video_error_at_every_step(corrupt_video_path, backend, fallback, helpers):
    """The container opens (32 frames at 8 fps) but the first frames' data is zeros: the decoder's own exception
    (decord's DECORDError from avcodec_send_packet, TorchCodec's RuntimeError) must not escape, whichever entry point
    reads the file; with a fallback decoder that fails too, the first decoder's error is the one reported."""
    from ffr_data.clips import ClipTools, sample_frames
    from ffr_data.sampling import FrameSamplingConfig

    helpers.require_backend(backend)
    path = str(corrupt_video_path)
    cfg = FrameSamplingConfig(num_frames=8, backend=backend, fallback_backend=fallback)
    calls = {"probe_video": lambda: probe_video(path, backend, fallback),
             "decode_frames": lambda: decode_frames(path, indices=[0, 5], backend=backend, fallback=fallback),
             "open_video": lambda: open_video(path, backend, fallback),
             "sample_frames": lambda: sample_frames(path, cfg),
             "ClipTools.get_frame": lambda: ClipTools(path, cfg).get_frame(2.0)}
    for name, call in calls.items():
        with pytest.raises(VideoError) as info:
            call()
        message = str(info.value)
        assert info.value.path == path and message.startswith(path) and "\n" not in message, name
        assert f"{backend} failed to decode frame(s) 0" in message or "OpenCV could not decode frame 0" in message, (
            name, message)


def test_damage_later_in_the_file_is_a_video_error(tmp_path, helpers):
    """Frames that decode at the start, garbage further on: the late frames fail with a VideoError."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (48, 112, 112, 3), dtype=np.uint8)
    path = helpers.write_h264(tmp_path / "noise.mp4", frames, gop=8)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + len(data) // 4] = bytes(len(data) // 4)
    path.write_bytes(bytes(data))
    assert decode_frames(path, indices=[0, 1]).array.shape[0] == 2
    with pytest.raises(VideoError, match="decord failed to decode frame") as info:
        decode_frames(path, indices=list(range(48)))
    assert info.value.path == str(path)


def test_things_that_are_not_video_files_are_named(tmp_path, video_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)  # opening it for reading would block forever
    cases = [(tmp_path, "is a directory, not a video file"), ("/dev/zero", "is a character device, not a video file"),
             (fifo, "is a named pipe, not a video file"), (text, "not a video file \\(it starts like no known video "
                                                                 "container, and decord cannot open it"),
             (tmp_path / "missing.mp4", "file not found")]
    for path, words in cases:
        for call in (lambda p: probe_video(p), lambda p: decode_frames(p, indices=[0])):
            with pytest.raises(VideoError, match=words) as info:
                call(path)
            assert info.value.path == str(path)


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


def test_an_unknown_backend_is_a_config_error_naming_the_key(video_path):
    with pytest.raises(ConfigError, match=r"sampling\.backend.*'pyav'.*decord, torchcodec, opencv"):
        probe_video(video_path, backend="pyav")


@pytest.mark.parametrize("missing", ["the package", "FFmpeg"])
def test_torchcodec_that_cannot_load_is_a_config_error(video_path, monkeypatch, missing):
    """Not a VideoError: no file is at fault, and the fallback decoder must not quietly take over every video."""
    from ffr_data import decoders

    decoders._torchcodec_decoder.cache_clear()
    if missing == "the package":
        monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)  # what an import failure looks like
    else:
        torchcodec = pytest.importorskip("torchcodec")
        monkeypatch.setattr(torchcodec, "ffmpeg_major_version", None)  # how TorchCodec says FFmpeg did not load
    try:
        with pytest.raises(ConfigError, match=r"sampling\.backend.*torchcodec cannot be loaded.*apt-get install "
                                              r"ffmpeg"):
            probe_video(video_path, backend="torchcodec")
    finally:
        decoders._torchcodec_decoder.cache_clear()


def test_sampled_fps_of_frames(video_path):
    frames = decode_frames(video_path, indices=[0, 4, 8, 12])
    assert frames.sampled_fps == pytest.approx(2.0)
    assert frames.size == (112, 112)


def test_installed_wheels_match_this_interpreter():
    """uv reinstalls, on every `uv run`, any distribution whose WHEEL tags do not fit the interpreter (decord
    0.6.0's say CPython 3.6), swapping its files under running processes; no dependency may be one of those."""
    import importlib.metadata

    from packaging.tags import parse_tag, sys_tags

    supported = set(sys_tags())
    misfits = []
    for dist in importlib.metadata.distributions():
        wheel = dist.read_text("WHEEL") or ""
        tags = {tag for line in wheel.splitlines() if line.startswith("Tag:")
                for tag in parse_tag(line.partition(":")[2].strip())}
        if tags and not tags & supported:
            misfits.append(f"{dist.metadata['Name']} ({', '.join(sorted(map(str, tags)))})")
    assert not misfits, misfits


_LOADED_BLAS = """
import sys
{load}
maps = open("/proc/self/maps").read()
print(sorted({{line.rsplit("/", 1)[-1] for line in maps.splitlines() if "nvblas" in line}}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_decord_is_loaded_without_nvblas_taking_over_blas(video_path):
    """decord2 dlopens every nvidia-* pip library globally when imported; libnvblas among them crashed CPU matmuls
    (a segfault in `ffr teacher serve` after a video had been decoded). ffr-data's decoder loads decord without it."""
    import glob
    import importlib.util
    import subprocess

    spec = importlib.util.find_spec("nvidia")
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    if not any(glob.glob(os.path.join(root, "*", "lib", "libnvblas.so*")) for root in roots):
        pytest.skip("no nvidia-* pip package with libnvblas here: decord2 has nothing to preload")

    def loaded(load: str) -> str:
        proc = subprocess.run([sys.executable, "-c", _LOADED_BLAS.format(load=load)], capture_output=True, text=True,
                              check=True)
        return proc.stdout.strip().splitlines()[-1]

    assert "libnvblas" in loaded("import decord")  # what a plain import does (the check is live)
    decoded = (f"from ffr_data.video import decode_frames\n"
               f"assert decode_frames({str(video_path)!r}, indices=[0, 1]).array.shape[0] == 2")
    assert loaded(decoded) == "[]"
