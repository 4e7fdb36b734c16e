"""Teacher measurements, everything on 127.0.0.1, ratios measured within one run:

  throughput  repair 16 failed rollouts against a loopback OpenAI-compatible server that adds a fixed latency per
              call: the concurrent client (repair_many) vs one call at a time (the released code's way), and a
              resumed pass served by the disk cache;
  bytes       request bytes per repair with PNG and with JPEG frames (the student's 16 frames plus one
              get_segment of 8 frames, so the second request re-sends everything), on a natural-image video (a
              slow pan over a photograph) and on videos of FFR's synthetic benchmark;
  serve       `ffr teacher serve` (tiny student on the CPU) answering N concurrent clients, one request at a time
              (max_batch=1) vs batched (max_batch=N); the replies must be identical.

    uv run python benchmarks/teacher.py [--only throughput,bytes,serve] [--rollouts 16] [--latency 0.2] ...

  idle        student idle time per FFR step (the trainer waiting for the teacher) against a loopback teacher with
              1 s and 10 s latency per call, without and with `repair.overlap` (the frozen log-probs of settled
              rollouts and the next step's decoding done while the teacher answers); tiny student, synthetic data.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from ffr_data.clips import sample_frames
from ffr_data.config import to_dict
from ffr_data.sampling import FrameSamplingConfig
from ffr_data.schema import parse_sample
from ffr_teacher import RepairRequest, TeacherConfig, build_teacher

PATCH = {"error_type": "temporal", "guidance": "Compare the moments around 1.5-2.0 s.", "windows": [[1.5, 2.0]],
         "key_frames": [3]}
PAPER_FRAMES = FrameSamplingConfig(num_frames=16, max_pixels=128 * 28 * 28, min_pixels=4 * 28 * 28)
console = Console(width=150)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops bursts of connections (a 1 s SYN retry each)


def _completion(message: dict) -> bytes:
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return json.dumps({"id": "b", "object": "chat.completion", "created": 0, "model": "bench", "choices": [
        {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 60, "total_tokens": 1060}}).encode()


def latency_server(latency_s: float, tool_call_first: bool = False) -> tuple[_Server, list[int]]:
    """A chat-completions server that sleeps ``latency_s`` and returns a valid patch (after one get_segment call of
    8 frames when ``tool_call_first``). Returns the server and the body size of every request it received."""
    sizes: list[int] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def log_message(self, *args) -> None:
            return None

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                sizes.append(len(raw))
            time.sleep(latency_s)
            answered = any(m.get("role") == "tool" for m in json.loads(raw)["messages"])
            if tool_call_first and not answered:
                call = {"id": "c0", "type": "function", "function": {
                    "name": "get_segment", "arguments": json.dumps({"start_s": 1.0, "end_s": 3.0, "n": 8})}}
                body = _completion({"content": None, "tool_calls": [call]})
            else:
                body = _completion({"content": f"<think>missed the brief event</think><patch>{json.dumps(PATCH)}"
                                               "</patch>"})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, sizes


def _url(server: _Server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


def write_video(path: Path, frames: np.ndarray, fps: float = 8.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames.shape[2], frames.shape[1]))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def sample_for(video: Path, problem_id: str = "bench") -> dict:
    return {"problem_id": problem_id, "path": str(video), "problem_type": "multiple choice",
            "problem": "Where did the brief flash appear?",
            "options": ["A. top-left", "B. top-right", "C. bottom-left", "D. bottom-right"],
            "solution": "<answer>A</answer>"}


def make_requests(root: Path, n: int) -> list[RepairRequest]:
    frames_rgb = np.zeros((32, 112, 112, 3), np.uint8)
    frames_rgb[12:16, 20:50, 20:50] = (230, 40, 40)
    video = write_video(root / "flash.mp4", frames_rgb)
    sample = parse_sample(sample_for(video))
    frames = sample_frames(str(video), FrameSamplingConfig(num_frames=8, max_pixels=56 * 56, min_pixels=28 * 28))
    return [RepairRequest(sample, frames, f"<think>rollout {i}: nothing there</think><answer>D</answer>")
            for i in range(n)]


def timed(cfg: TeacherConfig, requests: list[RepairRequest]) -> tuple[float, int, dict]:
    with build_teacher(cfg) as teacher:
        started = time.perf_counter()
        results = teacher.repair_many(requests)
        elapsed = time.perf_counter() - started
        return elapsed, sum(r.patch is not None for r in results), teacher.metrics.snapshot()


# -- throughput -------------------------------------------------------------------------------------------------------

def throughput(args: argparse.Namespace, tmp: Path) -> None:
    server, sizes = latency_server(args.latency)
    requests = make_requests(tmp, args.rollouts)
    base = TeacherConfig(backend="openai", base_url=_url(server), model="bench", api_key="unused", timeout_s=30,
                         max_retries=0)
    timed(replace(base, concurrency=1), requests[:1])  # warm-up (imports, encoders)
    sequential, ok_seq, _ = timed(replace(base, concurrency=1), requests)
    cached_cfg = replace(base, concurrency=args.concurrency, cache_dir=str(tmp / "cache"))
    requests_before = len(sizes)
    concurrent, ok_con, metrics = timed(cached_cfg, requests)
    resumed, ok_res, resumed_metrics = timed(cached_cfg, requests)
    resumed_requests = len(sizes) - requests_before - metrics["http_requests"]
    server.shutdown()
    ideal = args.rollouts * args.latency
    table = Table("run", "wall time (s)", "patches", "HTTP requests", "time / sequential",
                  f"time / ({args.rollouts} x latency)",
                  title=f"{args.rollouts} failed rollouts, {args.latency:.2f} s per teacher call (loopback)")
    rows = [(f"{args.rollouts} x single-call latency", ideal, "-", "-"),
            ("sequential, one call at a time (released code)", sequential, ok_seq, args.rollouts),
            (f"repair_many, concurrency {args.concurrency}", concurrent, ok_con, metrics["http_requests"]),
            ("resumed run, served by the disk cache", resumed, ok_res, resumed_requests)]
    for name, seconds, patches, http in rows:
        table.add_row(name, f"{seconds:.3f}", str(patches), str(http), f"{seconds / sequential:.3f}",
                      f"{seconds / ideal:.3f}")
    console.print(table)
    console.print(f"speed-up of repair_many over sequential: {sequential / concurrent:.1f}x; "
                  f"cache hits on resume = {resumed_metrics['cache_hits']}; "
                  f"p50/p95 latency = {metrics['latency_p50_s']:.3f}/{metrics['latency_p95_s']:.3f} s")
    console.print("settings: " + json.dumps({k: v for k, v in to_dict(cached_cfg).items()
                                             if k in ("concurrency", "timeout_s", "max_retries", "image_format")}))


# -- request bytes ----------------------------------------------------------------------------------------------------

def natural_video(root: Path) -> Path:
    """A 4 s, 640x360 video panning slowly across a photograph (matplotlib's sample image)."""
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        photo = cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_COLOR)
    photo = cv2.cvtColor(cv2.resize(photo, (960, 1125)), cv2.COLOR_BGR2RGB)
    frames = np.stack([photo[300 + i * 4:660 + i * 4, 100 + i * 6:740 + i * 6] for i in range(32)])
    return write_video(root / "natural.mp4", frames)


def synthetic_videos(root: Path, count: int) -> list[Path]:
    from ffr_data.synth.benchmark import generate_benchmark

    generate_benchmark(root / "synth", counts={"train": count, "val": 0, "test": 0, "warmup": 0}, progress=False,
                       workers=1)
    rows = [json.loads(line) for line in (root / "synth" / "train.jsonl").read_text().splitlines()]
    return [root / "synth" / row["path"] for row in rows]


def bytes_per_repair(video: Path, image_format: str, url: str, sizes: list[int]) -> tuple[int, int]:
    """(request bytes of one repair with one get_segment call, images sent)."""
    sample = parse_sample(sample_for(video))
    frames = sample_frames(str(video), PAPER_FRAMES)
    cfg = TeacherConfig(backend="openai", base_url=url, model="bench", api_key="unused", timeout_s=30, max_retries=0,
                        image_format=image_format, sampling=PAPER_FRAMES)
    before = len(sizes)
    with build_teacher(cfg) as teacher:
        result = teacher.repair(sample, frames, "<think>nothing there</think><answer>D</answer>")
    assert result.patch is not None and len(result.transcript) == 1, result
    return sum(sizes[before:]), 2 * len(frames) + result.transcript[0].images


def request_bytes(args: argparse.Namespace, tmp: Path) -> None:
    server, sizes = latency_server(0.0, tool_call_first=True)
    url = _url(server)
    videos = {"natural (photo pan, 640x360)": [natural_video(tmp)],
              "FFR synthetic benchmark (112x112)": synthetic_videos(tmp, args.synthetic_videos)}
    quality = TeacherConfig().jpeg_quality
    table = Table("video", "frame size", "images sent", "PNG bytes / repair", f"JPEG q{quality} bytes / repair",
                  "JPEG / PNG", title="request bytes per repair: 16 frames + one get_segment of 8, two requests")
    for name, paths in videos.items():
        png = [bytes_per_repair(p, "png", url, sizes) for p in paths]
        jpeg = [bytes_per_repair(p, "jpeg", url, sizes) for p in paths]
        frame = sample_frames(str(paths[0]), PAPER_FRAMES).array[0]
        png_mean, jpeg_mean = np.mean([b for b, _ in png]), np.mean([b for b, _ in jpeg])
        table.add_row(name, f"{frame.shape[1]}x{frame.shape[0]}", str(png[0][1]), f"{png_mean:,.0f}",
                      f"{jpeg_mean:,.0f}", f"{jpeg_mean / png_mean:.3f}")
    server.shutdown()
    console.print(table)


# -- ffr teacher serve --------------------------------------------------------------------------------------------------

def serve_throughput(args: argparse.Namespace, tmp: Path) -> None:
    import openai

    from ffr_teacher.backends.hf_chat import HFChat
    from ffr_teacher.media import to_data_url
    from ffr_teacher.serve_engine import BatchingEngine
    from ffr_teacher.server import ServeConfig, TeacherServer
    from ffr_train.student import build_tiny_student

    corpus = ["Where did the brief flash appear? A. top-left B. top-right C. bottom-left D. bottom-right",
              "<think>a blue shape flashed in the top-right</think><answer>B</answer>"] * 40
    chat = HFChat(str(build_tiny_student(tmp / "tiny", corpus)))
    rng = np.random.default_rng(0)
    bodies = [[{"role": "user", "content": [{"type": "text", "text": f"Rollout {i}: where is the flash?"}] + [
        {"type": "image_url", "image_url": {"url": to_data_url(rng.integers(0, 255, (56, 56, 3), np.uint8))}}
        for _ in range(8)]}] for i in range(args.clients)]

    def run(max_batch: int) -> tuple[float, list[str], list[int]]:
        engine = BatchingEngine(chat, max_batch=max_batch)
        server = TeacherServer(engine, ServeConfig(port=0, max_concurrent_requests=args.clients + 4), "tiny").start()
        client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0, timeout=600)

        def ask(messages):
            reply = client.chat.completions.create(model="tiny", messages=messages, max_tokens=args.serve_tokens,
                                                   temperature=0)
            return reply.choices[0].message.content

        ask(bodies[0])  # warm-up
        engine.batches.clear()
        with ThreadPoolExecutor(args.clients) as pool:
            started = time.perf_counter()
            texts = list(pool.map(ask, bodies))
            elapsed = time.perf_counter() - started
        batches = list(engine.batches)
        server.stop()
        return elapsed, texts, batches

    one, texts_one, batches_one = run(1)
    many, texts_many, batches_many = run(args.clients)
    table = Table("server", "wall time (s)", "requests / s", "batch sizes", "time / one-at-a-time",
                  title=f"ffr teacher serve, tiny student on CPU: {args.clients} concurrent clients, 8 images "
                        f"and {args.serve_tokens} new tokens each")
    for name, seconds, batches in (("one request at a time (max_batch=1)", one, batches_one),
                                   (f"batched (max_batch={args.clients})", many, batches_many)):
        table.add_row(name, f"{seconds:.2f}", f"{args.clients / seconds:.1f}", str(batches), f"{seconds / one:.3f}")
    console.print(table)
    console.print(f"batched replies identical to one-at-a-time replies: {texts_one == texts_many}; "
                  f"speed-up {one / many:.1f}x")


# -- idle ----------------------------------------------------------------------------------------------------------------

def idle(args: argparse.Namespace, tmp: Path) -> None:
    from ffr_data.config import merge
    from ffr_train.config import TrainConfig
    from ffr_train.pipeline import ensure_data
    from ffr_train.student import build_tiny_student
    from ffr_train.trainer import RLTrainer

    data = Path(args.data)
    ensure_data(merge(TrainConfig(), {"data.train_file": str(data / "train.jsonl")}))
    student = build_tiny_student(tmp / "student", ["Which colour flashed first? <answer>A</answer>"] * 20)
    table = Table("teacher latency", "overlap", "step (s)", "idle: waiting for the teacher (s)",
                  "overlapped work (s)", "idle / idle without overlap",
                  title=f"student idle time per FFR step ({args.idle_steps} steps after a warm-up, 2 prompts x G 4)")
    for latency in (1.0, 10.0):
        server, _ = latency_server(latency)
        idle_without = None
        for overlap in (False, True):
            cfg = merge(TrainConfig(), {
                "output_dir": str(tmp / f"idle-{latency}-{overlap}"), "student.path": str(student),
                "student.sft_before_rl": False, "data.train_file": str(data / "train.jsonl"), "data.val_file": None,
                "logging.progress": False, "logging.trackers": [], "rollout.prompts_per_step": 2,
                "rollout.group_size": 4, "repair.overlap": overlap, "teacher.backend": "openai",
                "teacher.base_url": _url(server), "teacher.model": "bench", "teacher.api_key": "unused",
                "teacher.tools_enabled": False, "teacher.concurrency": 8, "teacher.startup_probe": False,
                "checkpoint.every": 10_000})
            trainer = RLTrainer(cfg)
            trainer.train_step()
            rows = [trainer.train_step() for _ in range(args.idle_steps)]
            mean = {k: sum(r.get(k, 0.0) for r in rows) / len(rows) for k in ("time/step", "time/teacher",
                                                                                "time/while_teacher")}
            idle_without = idle_without or mean["time/teacher"]
            table.add_row(f"{latency:.0f} s", "on" if overlap else "off", f"{mean['time/step']:.2f}",
                          f"{mean['time/teacher']:.3f}", f"{mean['time/while_teacher']:.3f}",
                          f"{mean['time/teacher'] / idle_without:.3f}")
        server.shutdown()
    console.print(table)


SECTIONS = {"throughput": throughput, "bytes": request_bytes, "serve": serve_throughput, "idle": idle}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--rollouts", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server adds to every call")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--synthetic-videos", type=int, default=4, help="synthetic-benchmark videos to average")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of ffr teacher serve")
    parser.add_argument("--serve-tokens", type=int, default=128, help="new tokens per serve request")
    parser.add_argument("--idle-steps", type=int, default=3, help="measured FFR steps per idle configuration")
    parser.add_argument("--data", default="data/synth", help="synthetic benchmark for the idle section")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)} (known: {', '.join(SECTIONS)})")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            SECTIONS[name](args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
