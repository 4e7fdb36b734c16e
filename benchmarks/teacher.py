"""Teacher client throughput: repair 16 failed rollouts against a loopback OpenAI-compatible server that adds a fixed
latency per call, with the concurrent client (repair_many) vs one call at a time (the released code's way).

    uv run python benchmarks/teacher.py [--rollouts 16] [--latency 0.2] [--concurrency 16]

Prints wall times and ratios against the sequential baseline measured in the same run (and against rollouts x
latency), then a resumed pass that the disk cache serves without HTTP requests. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops bursts of connections (a 1 s SYN retry each)


def latency_server(latency_s: float) -> tuple[_Server, list[int]]:
    """A chat-completions server that sleeps ``latency_s`` and returns a valid patch; counts requests."""
    count = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out as separate writes

        def log_message(self, *args) -> None:
            return None

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                count[0] += 1
            time.sleep(latency_s)
            text = f"<think>missed the brief event</think><patch>{json.dumps(PATCH)}</patch>"
            body = json.dumps({"id": "b", "object": "chat.completion", "created": 0, "model": "bench", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1000, "completion_tokens": 60, "total_tokens": 1060}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, count


def make_requests(root: Path, n: int) -> list[RepairRequest]:
    frames_rgb = np.zeros((32, 112, 112, 3), np.uint8)
    frames_rgb[12:16, 20:50, 20:50] = (230, 40, 40)
    video = root / "flash.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 8.0, (112, 112))
    for frame in frames_rgb:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    sample = parse_sample({"problem_id": "bench", "path": str(video), "problem_type": "multiple choice",
                           "problem": "Where did the brief flash appear?",
                           "options": ["A. top-left", "B. top-right", "C. bottom-left", "D. bottom-right"],
                           "solution": "<answer>A</answer>"})
    frames = sample_frames(str(video), FrameSamplingConfig(num_frames=8, max_pixels=56 * 56, min_pixels=28 * 28))
    return [RepairRequest(sample, frames, f"<think>rollout {i}: nothing there</think><answer>D</answer>")
            for i in range(n)]


def timed(cfg: TeacherConfig, requests: list[RepairRequest]) -> tuple[float, int, dict]:
    with build_teacher(cfg) as teacher:
        started = time.perf_counter()
        results = teacher.repair_many(requests)
        elapsed = time.perf_counter() - started
        return elapsed, sum(r.patch is not None for r in results), teacher.metrics.snapshot()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the server adds to every call")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    console = Console()
    server, count = latency_server(args.latency)
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    with tempfile.TemporaryDirectory() as tmp:
        requests = make_requests(Path(tmp), args.rollouts)
        base = TeacherConfig(backend="openai", base_url=url, model="bench", api_key="unused", timeout_s=30,
                             max_retries=0)
        timed(replace(base, concurrency=1), requests[:1])  # warm-up (imports, encoders)
        sequential, ok_seq, _ = timed(replace(base, concurrency=1), requests)
        cached_cfg = replace(base, concurrency=args.concurrency, cache_dir=str(Path(tmp) / "cache"))
        requests_before = count[0]
        concurrent, ok_con, metrics = timed(cached_cfg, requests)
        resumed, ok_res, resumed_metrics = timed(cached_cfg, requests)
        resumed_requests = count[0] - requests_before - metrics["http_requests"]
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


if __name__ == "__main__":
    sys.exit(main())
