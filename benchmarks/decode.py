"""Frame-sampling throughput: ffr-data vs the raw decoders vs qwen-vl-utils, on the same videos, in one run.

    uv run python benchmarks/decode.py [--repeats 5] [--long-seconds 60]

Each method takes 16 uniformly spaced frames from every video (short and long; mp4v written by OpenCV and H.264 with
B-frames written by PyAV; generated into a temporary folder). The methods take turns on each video within every
repeat, so a busy moment slows them alike. Reported: frames per second (16 x videos / wall time, best of the
repeats; "all videos" is the best repeat's total) and the ratio against raw decord.
- raw decord: ``VideoReader(path)`` + ``get_batch`` of the same indices, no resize (decord's default threads; also
  with ``num_threads=1``).
- raw torchcodec: ``VideoDecoder(path)`` + ``get_frames_at`` (its default, one FFmpeg thread), no resize; only when
  TorchCodec can be loaded (it needs FFmpeg's shared libraries).
- ffr-data: ``sample_frames`` with a fresh ``FrameCache`` per video (open + decode + resize to the frame cap), with
  the default settings and with other backends / ``decode_workers``.
- qwen-vl-utils: ``fetch_video({"video": path, "nframes": 16, ...})`` with its decord reader forced
  (FORCE_QWENVL_VIDEO_READER=decord) and the same pixel cap as ffr-data.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ["FORCE_QWENVL_VIDEO_READER"] = "decord"  # read by qwen_vl_utils at import time

import cv2
import numpy as np

NUM_FRAMES = 16
MAX_PIXELS = 128 * 28 * 28  # Video-R1 / FFR per-frame cap
MIN_PIXELS = 4 * 28 * 28


def pattern(n: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """Frames with moving bars and drifting noise blocks (so the encoder has real motion to code)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 255, (height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    base = np.kron(blocks, np.ones((16, 16, 1), np.uint8))[:height, :width]
    xs = np.arange(width)
    frames = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        frame = np.roll(base, i, axis=1) // 2
        frame[:, ((xs + 4 * i) // 24) % 2 == 0] += 100
        frames[i] = frame
    return frames


def write_mp4v(path: Path, frames: np.ndarray, fps: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames.shape[2], frames.shape[1]))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_h264(path: Path, frames: np.ndarray, fps: int) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"preset": "veryfast", "bf": "2", "g": "60"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def make_videos(folder: Path, long_seconds: int) -> dict[str, Path]:
    fps = 30
    short = pattern(8 * fps, 640, 360)
    long = pattern(long_seconds * fps, 480, 270, seed=1)
    return {
        "short mp4v": write_mp4v(folder / "short_mp4v.mp4", short, fps),
        "short h264": write_h264(folder / "short_h264.mp4", short, fps),
        f"long ({long_seconds} s) mp4v": write_mp4v(folder / "long_mp4v.mp4", long, fps),
        f"long ({long_seconds} s) h264": write_h264(folder / "long_h264.mp4", long, fps),
    }


def ffr_data_reader(**settings) -> Callable[[Path], np.ndarray]:
    from ffr_data.clips import FrameCache, sample_frames
    from ffr_data.sampling import FrameSamplingConfig

    cfg = FrameSamplingConfig(num_frames=NUM_FRAMES, max_pixels=MAX_PIXELS, min_pixels=MIN_PIXELS, **settings)
    return lambda path: sample_frames(str(path), cfg, FrameCache()).array


def decord_reader(num_threads: int = 0) -> Callable[[Path], np.ndarray]:
    from ffr_data.decoders import load_decord

    decord = load_decord()  # as ffr-data imports it (without decord2's CUDA preload)

    def read(path: Path) -> np.ndarray:
        reader = decord.VideoReader(str(path), num_threads=num_threads)
        indices = np.linspace(0, len(reader) - 1, NUM_FRAMES).round().astype(int).tolist()
        return reader.get_batch(indices).asnumpy()

    return read


def torchcodec_reader() -> Callable[[Path], np.ndarray]:
    from torchcodec.decoders import VideoDecoder

    def read(path: Path) -> np.ndarray:
        decoder = VideoDecoder(str(path), dimension_order="NHWC")
        indices = np.linspace(0, decoder.metadata.num_frames - 1, NUM_FRAMES).round().astype(int).tolist()
        return decoder.get_frames_at(indices).data.numpy()

    return read


def qwen_reader() -> Callable[[Path], np.ndarray]:
    from qwen_vl_utils.vision_process import fetch_video

    def read(path: Path) -> np.ndarray:
        video, metadata = fetch_video({"video": str(path), "nframes": NUM_FRAMES, "max_pixels": MAX_PIXELS,
                                       "min_pixels": MIN_PIXELS}, return_video_metadata=True)
        if metadata.get("video_backend") != "decord":  # it silently falls back to torchvision on errors
            raise RuntimeError(f"qwen-vl-utils used {metadata.get('video_backend')}, not decord, for {path}")
        return video.numpy()

    return read


def measure(methods: dict[str, Callable[[Path], np.ndarray]], videos: dict[str, Path],
            repeats: int) -> dict[str, dict[str, float]]:
    """Frames per second of every method on every video (best of ``repeats``) and on all of them (best total)."""
    best = {name: dict.fromkeys([*videos, "all videos"], float("inf")) for name in methods}
    for _ in range(repeats):
        totals = dict.fromkeys(methods, 0.0)
        for label, path in videos.items():
            for name, read in methods.items():
                started = time.perf_counter()
                frames = read(path)
                elapsed = time.perf_counter() - started
                assert len(frames) == NUM_FRAMES, (name, path, len(frames))
                best[name][label] = min(best[name][label], elapsed)
                totals[name] += elapsed
        for name, total in totals.items():
            best[name]["all videos"] = min(best[name]["all videos"], total)
    counts = {label: 1 for label in videos} | {"all videos": len(videos)}
    return {name: {label: NUM_FRAMES * counts[label] / seconds for label, seconds in row.items()}
            for name, row in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--long-seconds", type=int, default=60)
    args = parser.parse_args()
    from ffr_data.decoders import torchcodec_available

    methods = {"raw decord": decord_reader(), "raw decord (1 thread)": decord_reader(num_threads=1)}
    if torchcodec_available():
        methods["raw torchcodec"] = torchcodec_reader()
    methods["ffr-data sample_frames"] = ffr_data_reader()
    methods["ffr-data, decode_workers=1"] = ffr_data_reader(decode_workers=1)
    if torchcodec_available():
        methods["ffr-data, torchcodec"] = ffr_data_reader(backend="torchcodec")
    else:
        print("torchcodec cannot be loaded here (it needs FFmpeg's shared libraries): its rows are left out")
    methods["qwen-vl-utils fetch_video"] = qwen_reader()
    with tempfile.TemporaryDirectory(prefix="ffr-decode-") as tmp:
        videos = make_videos(Path(tmp), args.long_seconds)
        for read in methods.values():  # warm-up: imports, codec initialisation
            read(next(iter(videos.values())))
        results = measure(methods, videos, args.repeats)
    columns = list(next(iter(results.values())))
    baseline = results["raw decord"]
    print(f"frames per second, {NUM_FRAMES} frames per video, best of {args.repeats} "
          f"(ratio vs raw decord in brackets); pixel cap {MAX_PIXELS} for ffr-data and qwen-vl-utils")
    print(f"{'method':28s}" + "".join(f"{c:>24s}" for c in columns))
    for name, row in results.items():
        cells = "".join(f"{row[c]:>15.1f} ({row[c] / baseline[c]:4.2f}x)" for c in columns)
        print(f"{name:28s}{cells}")
    qwen = results["qwen-vl-utils fetch_video"]["all videos"]
    print(f"ffr-data sample_frames vs qwen-vl-utils, all videos: "
          f"{results['ffr-data sample_frames']['all videos'] / qwen:.2f}x")


if __name__ == "__main__":
    main()
