"""Video-reasoning benchmarks: MMVU, VSI-Bench, VideoMMMU, Video-Holmes (native layouts: the ffr-eval README)."""

from __future__ import annotations

import re
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
    find_video,
    mc_row,
    records_list,
    register,
    text_row,
)

# --- MMVU: validation.json (native) or the lmms-eval parquet copy (adds video_path) --------------------------------


def _mmvu_video(row: dict) -> str:
    if row.get("video_path"):
        return str(row["video_path"])
    url = str(row.get("video") or "")
    return url[url.index("videos/"):] if "videos/" in url else url


def _mmvu_convert(path: Path, video_root: Path) -> Converted:
    for index, row in enumerate(records_list(path)):
        where = f"{path}:{index}"
        choices = row.get("choices") or {}
        meta = {"part": row.get("question_type"), "subject": (row.get("metadata") or {}).get("subject"),
                "task": row.get("question_type")}
        problem_id = str(row.get("id", f"{path.stem}/{index}"))
        video = str(video_root / _mmvu_video(row))
        if row.get("question_type") == "multiple-choice":
            letters = [k for k in sorted(choices) if str(choices[k]).strip()]
            if letters != list(LETTERS[:len(letters)]):
                yield where, Skip(f"choices {letters} are not consecutive letters from A")
                continue
            yield where, mc_row(problem_id, video, row.get("question", ""), [choices[k] for k in letters],
                                str(row.get("answer", "")).strip(), "MMVU", meta)
        else:
            yield where, text_row(problem_id, video, row.get("question", ""), row.get("answer", ""), "free-form", "MMVU",
                                  {**meta, "scorer": "mmvu_open"})


MMVU = register(Benchmark(
    name="mmvu", title="MMVU",
    native=NativeFormat("validation.json + videos/<Subject>/<n>.mp4 (or the lmms-eval parquet with video_path)",
                        lambda root: files(root, "validation.json", "validation-*.parquet", "*/validation-*.parquet"),
                        _mmvu_convert),
    aggregation=AggregationSpec(breakdowns=("part", "subject")),
    letter_rule="mmvu", video_r1_files=("eval_mmvu.json", "mmvu.json"), dirnames=("MMVU",),
    notes=("open-ended items are scored by MMVU's rules only (no GPT-4o judge): a rule-only lower bound.",),
))


# --- VSI-Bench: test.jsonl or test-00000-of-00001.parquet + <dataset>/<scene_name>.mp4 ---------------------------


VIDEO_R1_ACC_MRA = ("videor1_acc_mra", "Video-R1: (mean_acc + mean_mra) / 2 (%)")


def _vsibench_convert(path: Path, video_root: Path) -> Converted:
    for index, row in enumerate(records_list(path)):
        where = f"{path}:{index}"
        video = str(video_root / str(row.get("dataset", "")) / f"{row.get('scene_name', '')}.mp4")
        meta = {"task": row.get("question_type"), "dataset": row.get("dataset")}
        problem_id = str(row.get("id", f"{path.stem}/{index}"))
        options = row.get("options") or []
        if options:
            yield where, {"problem_id": problem_id, "path": video, "problem_type": "multiple choice",
                          "problem": row.get("question", ""), "options": [str(o) for o in options],
                          "solution": f"<answer>{str(row['ground_truth']).strip()}</answer>",
                          "data_source": "VSI-Bench", "meta": meta}
        else:
            yield where, text_row(problem_id, video, row.get("question", ""), row.get("ground_truth", ""), "regression",
                                  "VSI-Bench", meta)


VSIBENCH = register(Benchmark(
    name="vsibench", title="VSI-Bench",
    native=NativeFormat("test.jsonl or test-00000-of-00001.parquet + <dataset>/<scene_name>.mp4",
                        lambda root: files(root, "test.jsonl", "test-*.parquet", "*/test-*.parquet"),
                        _vsibench_convert),
    aggregation=AggregationSpec(breakdowns=("task",), special="vsibench"),
    headline=(("lmms_8task", "lmms-eval mean of 8 tasks (acc + MRA, %)"), VIDEO_R1_ACC_MRA, ACCURACY),
    video_r1_headline=(VIDEO_R1_ACC_MRA, ACCURACY), official="vsibench",
    letter_rule="vsibench", video_r1_files=("eval_vsibench.json", "vsibench.json"), dirnames=("VSI-Bench", "vsi_bench"),
    notes=("numeric tasks: MRA over 0.50..0.95; lmms_8task merges the 3 direction sub-tasks; videor1_acc_mra is "
           "Video-R1's (mean_acc + mean_mra) / 2; the two are not comparable.",),
))


# --- VideoMMMU: <Track>/test-*.parquet + videos found by <id>.mp4 under the root ----------------------------------

_OPTION_PREFIX = re.compile(r"^\s*\(?[A-J][\.\):]\s*")


def _videommmu_convert(path: Path, video_root: Path) -> Converted:
    track = path.parent.name if path.parent.name in ("Perception", "Comprehension", "Adaptation") else path.stem
    for index, row in enumerate(records_list(path)):
        where = f"{path}:{index}"
        problem_id = str(row.get("id", f"{track}/{index}"))
        video = str(find_video(video_root, problem_id))
        meta = {"track": track, "task": track}
        options = [_OPTION_PREFIX.sub("", str(o)) for o in row.get("options") or []]
        if row.get("question_type") == "multiple-choice":
            if not options:
                yield where, Skip("multiple-choice row without options")
                continue
            yield where, mc_row(problem_id, video, row.get("question", ""), options, str(row.get("answer", "")).strip(),
                                "VideoMMMU", meta)
        else:
            yield where, text_row(problem_id, video, row.get("question", ""), row["answer"], "free-form", "VideoMMMU",
                                  {**meta, "scorer": "mmmu_open"})


VIDEOMMMU = register(Benchmark(
    name="videommmu", title="VideoMMMU",
    native=NativeFormat("<Perception|Comprehension|Adaptation>/test-*.parquet + <Discipline>/<id>.mp4",
                        lambda root: files(root, "*/test-*.parquet", "*.parquet"), _videommmu_convert),
    aggregation=AggregationSpec(breakdowns=("track",), group_means=("track",)),
    headline=(("mean_of_track", "mean of the 3 tracks (%)"), ACCURACY),
    video_r1_files=("eval_videommmu.json", "videommmu.json"), dirnames=("VideoMMMU", "video_mmmu"),
    notes=("Adaptation questions see only the video (the question image is its last frame);",
           "open questions use MMMU's eval_open rules (numbers to 2 decimals or text containment)."),
))


# --- Video-Holmes: test_Video-Holmes.json + videos_cropped/<video ID>.mp4 -----------------------------------------


def _holmes_convert(path: Path, video_root: Path) -> Converted:
    for index, row in enumerate(records_list(path)):
        where = f"{path}:{index}"
        options = row.get("Options") or {}
        letters = sorted(options)
        if not letters or letters != list(LETTERS[:len(letters)]):
            yield where, Skip(f"Options keys {letters} are not consecutive letters from A")
            continue
        video_id = str(row.get("video ID", ""))
        problem_id = str(row.get("Question ID") or row.get("question_id") or f"{path.stem}/{index}")
        yield where, mc_row(problem_id, str(video_root / "videos_cropped" / f"{video_id}.mp4"), row.get("Question", ""),
                            [options[k] for k in letters], str(row.get("Answer", "")).strip(), "Video-Holmes",
                            {"task": row.get("Question Type")})


HOLMES = register(Benchmark(
    name="holmes", title="Video-Holmes",
    native=NativeFormat("test_Video-Holmes.json + videos_cropped/<video ID>.mp4",
                        lambda root: files(root, "test_Video-Holmes.json"), _holmes_convert),
    aggregation=AggregationSpec(breakdowns=("task",)),
    letter_rule="mmmu", video_r1_files=("holmes.json",), dirnames=("Video-Holmes", "video_holmes"),
    notes=("lenient extraction never picks a random option (lmms-eval does); unparsed replies count wrong.",),
))
