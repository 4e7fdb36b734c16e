"""The disk cache (a second call is a hit with no HTTP request; transient failures are not cached), repair_many's
order, de-duplication and concurrency, and the metrics they produce."""

from __future__ import annotations

import json
import re
import threading
import time

from ffr_teacher import RepairRequest, build_teacher


def test_second_call_is_a_cache_hit_without_http(scripted, openai_config, sample, frames, helpers, tmp_path):
    cfg = openai_config(cache_dir=str(tmp_path / "cache"))
    scripted.queue(helpers.completion(tool_calls=[("get_frame", {"t": 1.0})]))
    scripted.reply(helpers.patch_reply())
    with build_teacher(cfg) as teacher:
        first = teacher.repair(sample, frames, "<answer>A</answer>")
    assert first.patch is not None and not first.cached and len(scripted.requests) == 2
    with build_teacher(cfg) as resumed:  # a new process would do the same: only the directory is shared
        again = resumed.repair(sample, frames, "<answer>A</answer>")
        snapshot = resumed.metrics.snapshot()
    assert len(scripted.requests) == 2  # no new request
    assert again.cached and again.patch == first.patch and [r.name for r in again.transcript] == ["get_frame"]
    assert snapshot["cache_hits"] == 1 and snapshot["calls"] == 1 and snapshot["http_requests"] == 0
    files = list((tmp_path / "cache").rglob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["patch"]["windows"] == [[1.5, 2.0]]


def test_cache_key_covers_response_frames_and_config(scripted, openai_config, sample, frames, helpers, tmp_path):
    cfg = openai_config(cache_dir=str(tmp_path / "cache"))
    scripted.queue(helpers.completion(helpers.patch_reply()))
    scripted.repeat_last = True
    with build_teacher(cfg) as teacher:
        teacher.repair(sample, frames, "A")
        teacher.repair(sample, frames, "C")  # another response
        teacher.repair(sample, frames.__class__(frames.array[:4], frames.indices[:4], frames.timestamps[:4],
                                                frames.info), "A")  # other frames
    assert len(scripted.requests) == 3
    with build_teacher(openai_config(cache_dir=cfg.cache_dir, temperature=0.7)) as other:
        other.repair(sample, frames, "A")  # another teacher setting
    with build_teacher(openai_config(cache_dir=cfg.cache_dir, concurrency=2, timeout_s=9.0)) as same:
        same.repair(sample, frames, "A")  # throughput knobs do not change the key
    assert len(scripted.requests) == 4


def test_transient_failures_are_not_cached_but_final_ones_are(scripted, openai_config, sample, frames, helpers,
                                                             tmp_path):
    cfg = openai_config(cache_dir=str(tmp_path / "cache"), max_retries=0)
    scripted.queue(helpers.Step(503, {"error": {"message": "x"}}))
    scripted.reply("no json here", helpers.patch_reply())
    with build_teacher(cfg) as teacher:
        assert teacher.repair(sample, frames, "A").reason == "http_5xx"
        assert teacher.repair(sample, frames, "A").reason == "no_json"  # asked again: the 503 was not cached
        assert teacher.repair(sample, frames, "A").reason == "no_json"  # the final failure was
    assert len(scripted.requests) == 2


def test_a_corrupt_cache_file_is_recomputed(scripted, openai_config, sample, frames, helpers, tmp_path):
    cfg = openai_config(cache_dir=str(tmp_path / "cache"))
    scripted.reply(helpers.patch_reply(), helpers.patch_reply())
    with build_teacher(cfg) as teacher:
        teacher.repair(sample, frames, "A")
    entry = next((tmp_path / "cache").rglob("*.json"))
    entry.write_text('{"patch": {"error_type": ')
    with build_teacher(cfg) as teacher:
        assert teacher.repair(sample, frames, "A").patch is not None and not teacher.metrics.cache_hits
    assert len(scripted.requests) == 2 and json.loads(entry.read_text())["patch"] is not None


def echo_patch(request: dict) -> dict:
    """A completion whose guidance names the request's student response ("rollout-N"), after a short pause."""
    time.sleep(0.15)
    text = json.dumps(request["messages"])
    number = re.search(r"rollout-(\d+)", text).group(1)
    guidance = f"Look at window {number} s."
    patch = {"error_type": "temporal", "guidance": guidance, "windows": [[1.0, 2.0]]}
    return {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"<patch>{json.dumps(patch)}</patch>"},
                         "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}


def test_repair_many_keeps_order_dedupes_and_runs_concurrently(scripted, openai_config, sample, frames, helpers):
    in_flight, peak = [0], [0]
    lock = threading.Lock()

    def counting(request: dict) -> dict:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            return echo_patch(request)
        finally:
            with lock:
                in_flight[0] -= 1

    scripted.queue(helpers.Step(body=counting))
    scripted.repeat_last = True
    responses = [f"rollout-{i}" for i in (0, 1, 2, 3, 1, 4, 5)]  # rollout-1 twice: repaired once
    requests = [RepairRequest(sample, frames, r) for r in responses]
    with build_teacher(openai_config(concurrency=3, tools_enabled=False)) as teacher:
        results = teacher.repair_many(requests)
        snapshot = teacher.metrics.snapshot()
    assert [r.patch.guidance for r in results] == [f"Look at window {r[8:]} s." for r in responses]
    assert len(scripted.requests) == 6 and results[4].cached and not results[1].cached
    assert peak[0] == 3  # bounded by concurrency, and really parallel
    assert snapshot["calls"] == 7 and snapshot["deduplicated"] == 1 and snapshot["successes"] == 7
    assert snapshot["latency_p50_s"] >= 0.15 and snapshot["latency_p95_s"] >= snapshot["latency_p50_s"]
    assert build_teacher(openai_config()).repair_many([]) == []


def test_repair_many_survives_mixed_failures(scripted, openai_config, sample, frames, helpers):
    def mixed(request: dict) -> dict:
        text = json.dumps(request["messages"])
        if "rollout-bad" in text:
            return helpers.completion("no patch at all")
        return echo_patch(request)

    scripted.queue(helpers.Step(body=mixed))
    scripted.repeat_last = True
    requests = [RepairRequest(sample, frames, r) for r in ("rollout-0", "rollout-bad", "rollout-2")]
    with build_teacher(openai_config(concurrency=4, tools_enabled=False)) as teacher:
        results = teacher.repair_many(requests)
        snapshot = teacher.metrics.snapshot()
    assert [r.reason for r in results] == [None, "no_json", None]
    assert snapshot["success_rate"] == 2 / 3 and snapshot["failures/no_json"] == 1


def test_a_wrong_key_is_not_remembered_by_the_cache(scripted, openai_config, sample, frames, helpers, tmp_path):
    cfg = openai_config(cache_dir=str(tmp_path / "cache"))
    scripted.queue(helpers.Step(401, {"error": {"message": "invalid key"}}))
    scripted.reply(helpers.patch_reply())
    with build_teacher(cfg) as teacher:
        assert teacher.repair(sample, frames, "A").reason == "http_4xx"
    with build_teacher(cfg) as fixed:  # e.g. after the key was corrected
        assert fixed.repair(sample, frames, "A").patch is not None
    assert len(scripted.requests) == 2
