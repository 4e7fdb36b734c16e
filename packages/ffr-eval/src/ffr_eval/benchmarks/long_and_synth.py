"""Video-MME, MLVU, and FFR's own synthetic evidence benchmark."""

from __future__ import annotations

from pathlib import Path

from ffr_eval.aggregate import AggregationSpec
from ffr_eval.benchmarks.base import (
    ACCURACY,
    LETTERS,
    Benchmark,
    Converted,
    NativeFormat,
    Skip,
    files,
    first_existing,
    mc_row,
    records_list,
    register,
)

# --- Video-MME: videomme/test-00000-of-00001.parquet + data/<videoID>.mp4 (.MP4 / .mkv for a few) ----------------


def _videomme_convert(path: Path, video_root: Path) -> Converted:
    for index, row in enumerate(records_list(path)):
        where = f"{path}:{index}"
        video_id = str(row.get("videoID", ""))
        data = video_root / "data"
        video = first_existing(data / f"{video_id}.mp4", data / f"{video_id}.MP4", data / f"{video_id}.mkv")
        meta = {"duration": row.get("duration"), "domain": row.get("domain"), "task_type": row.get("task_type"),
                "sub_category": row.get("sub_category"), "task": row.get("task_type")}
        yield where, {"problem_id": str(row.get("question_id", f"{path.stem}/{index}")), "path": str(video),
                      "problem_type": "multiple choice", "problem": row.get("question", ""),
                      "options": [str(o) for o in row.get("options") or []],
                      "solution": f"<answer>{str(row.get('answer', '')).strip()}</answer>", "data_source": "Video-MME",
                      "meta": meta}


VIDEOMME = register(Benchmark(
    name="videomme", title="Video-MME",
    native=NativeFormat("videomme/test-00000-of-00001.parquet + data/<videoID>.mp4",
                        lambda root: files(root, "videomme/test-*.parquet", "test-*.parquet"), _videomme_convert),
    aggregation=AggregationSpec(breakdowns=("duration", "domain", "task_type")),
    video_r1_files=("eval_videomme.json", "videomme.json"), dirnames=("Video-MME", "videomme"), official="videomme",
    notes=("without subtitles.",),
))


# --- MLVU (dev): json/<n>_<task>.json + video/<n>_<task>/<video> -------------------------------------------------

MLVU_GENERATION_FOLDERS = ("8_sub_scene", "9_summary")


def _mlvu_convert(path: Path, video_root: Path) -> Converted:
    folder = path.stem
    default_task = folder.split("_", 1)[1] if folder[:1].isdigit() and "_" in folder else folder
    for index, row in enumerate(records_list(path)):
        where = f"{path}:{index}"
        candidates = [str(c) for c in row.get("candidates") or []]
        if folder in MLVU_GENERATION_FOLDERS or not candidates:
            yield where, Skip("generation task (sub-scene captioning / summary) needs a GPT judge")
            continue
        if str(row.get("answer")) not in candidates:
            yield where, Skip("answer is not one of the candidates")
            continue
        task = str(row.get("question_type") or default_task)
        yield where, mc_row(f"{folder}/{index}", str(video_root / folder / str(row.get("video", ""))), row.get("question", ""),
                            candidates, LETTERS[candidates.index(str(row.get("answer", "")))], "MLVU",
                            {"task": task, "duration": row.get("duration")})


MLVU = register(Benchmark(
    name="mlvu", title="MLVU",
    native=NativeFormat("json/<n>_<task>.json + video/<n>_<task>/<video> (dev layout)",
                        lambda root: files(root, "json/*.json"), _mlvu_convert,
                        video_root=lambda root: root / "video" if (root / "video").is_dir() else root),
    aggregation=AggregationSpec(breakdowns=("task",), special="mlvu"),
    headline=(("m_avg", "M-Avg: mean over the fixed task list (%)"), ACCURACY),
    video_r1_files=("mlvu.json",), dirnames=("MLVU",),
    notes=("M-Avg divides by the fixed task list (absent tasks count 0, as lmms-eval); m_avg_present does not.",),
))


# --- synth: the JSONL splits written by `ffr data synth` (rows already in the FFR schema) ------------------------

SYNTH = register(Benchmark(
    name="synth", title="FFR synthetic evidence",
    native=None,
    aggregation=AggregationSpec(breakdowns=("family", "difficulty"), group_means=("family",)),
    video_r1_files=("{split}.jsonl",), dirnames=("synth",),
    # The tiny student's training view (configs/tiny-default.yaml); per_benchmark.synth.* or
    # benchmark_defaults=false replace it for a real model.
    template="compact", sampling={"num_frames": 8, "max_pixels": 56 * 56, "min_pixels": 28 * 28},
))
