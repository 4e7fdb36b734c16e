"""General video-understanding benchmarks: LongVideoBench, LVBench, MVBench, TempCompass."""

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
    first_existing,
    mc_row,
    read_records,
    records_list,
    register,
    text_row,
)

# --- LongVideoBench: lvb_val.json (candidates) or validation-*.parquet (option0..4) + videos/<video_path> ----------


def _lvb_convert(path: Path, video_root: Path) -> Converted:
    for index, row in enumerate(records_list(path)):
        where = f"{path}:{index}"
        candidates = row.get("candidates")
        if candidates is None:
            candidates = [row.get(f"option{i}") for i in range(5)]
        options = [str(c) for c in candidates if c is not None and str(c) != "N/A"]
        if "correct_choice" not in row or row["correct_choice"] is None:
            yield where, Skip("no correct_choice (test split without answers)")
            continue
        choice = int(row["correct_choice"])
        if not 0 <= choice < len(options):
            yield where, Skip(f"correct_choice {choice} is outside the {len(options)} options")
            continue
        meta = {"duration_group": row.get("duration_group"), "category": row.get("question_category"),
                "task": row.get("question_category")}
        yield where, mc_row(str(row.get("id", f"{path.stem}/{index}")), str(video_root / "videos" / str(row.get("video_path", ""))),
                            row.get("question", ""), options, LETTERS[choice], "LongVideoBench", meta)


LONGVIDEOBENCH = register(Benchmark(
    name="longvideobench", title="LongVideoBench",
    native=NativeFormat("lvb_val.json or validation-*.parquet + videos/<video_path>",
                        lambda root: files(root, "lvb_val.json", "validation-*.parquet", "*/validation-*.parquet"),
                        _lvb_convert),
    aggregation=AggregationSpec(breakdowns=("duration_group", "category")),
    letter_rule="longvideobench", video_r1_files=("longvideobench.json",),
    dirnames=("LongVideoBench", "longvideobench"),
    notes=("lenient extraction never picks a random option (lmms-eval does); unparsed replies count wrong.",),
))


# --- LVBench: video_info.meta.jsonl (one line per video, a 'qa' list) + <key>.mp4 ---------------------------------

_EMBEDDED_OPTION = re.compile(r"^\(([A-Z])\)\s*(.*)$")


def split_embedded_options(question: str) -> tuple[str, list[str], list[str]]:
    """``"Q?\\n(A) x\\n(B) y"`` -> ("Q?", ["A", "B"], ["x", "y"])."""
    stem, letters, texts = [], [], []
    for line in question.splitlines():
        match = _EMBEDDED_OPTION.match(line.strip())
        if match:
            letters.append(match.group(1))
            texts.append(match.group(2).strip())
        elif not letters:
            stem.append(line)
    return "\n".join(stem).strip(), letters, texts


def _lvbench_convert(path: Path, video_root: Path) -> Converted:
    for video_index, video in enumerate(records_list(path)):
        key = str(video.get("key", ""))
        for qa_index, qa in enumerate(video.get("qa") or []):
            where = f"{path}:{video_index}.qa[{qa_index}]"
            question, letters, texts = split_embedded_options(str(qa.get("question", "")))
            if not letters or letters != list(LETTERS[:len(letters)]):
                yield where, Skip("question has no '(A) …' option lines")
                continue
            capabilities = qa.get("question_type") or []
            meta = {"capability": list(capabilities) if isinstance(capabilities, list) else [capabilities],
                    "video_type": video.get("type"), "time_reference": qa.get("time_reference")}
            yield where, mc_row(str(qa.get("uid", f"{key}/{qa_index}")), str(find_video(video_root, key)), question,
                                texts, str(qa.get("answer", "")).strip(), "LVBench", meta)


LVBENCH = register(Benchmark(
    name="lvbench", title="LVBench",
    native=NativeFormat("video_info.meta.jsonl + <key>.mp4 anywhere under the video root",
                        lambda root: files(root, "video_info.meta.jsonl"), _lvbench_convert),
    aggregation=AggregationSpec(breakdowns=("capability",)),
    video_r1_files=("lvbench.json", "lvbench_partial.json"), dirnames=("LVBench", "lvbench"),
))


# --- MVBench: json/<task>.json + video/<source folder>/<file> ----------------------------------------------------

MVBENCH_FOLDERS = {
    "object_interaction": "star/Charades_segment", "action_sequence": "star/Charades_segment",
    "action_prediction": "star/Charades_segment", "action_localization": "sta/sta_video_segment",
    "moving_count": "clevrer/video_validation", "moving_direction": "clevrer/video_validation",
    "moving_attribute": "clevrer/video_validation", "counterfactual_inference": "clevrer/video_validation",
    "object_existence": "clevrer/video_validation", "character_order": "perception/videos",
    "object_shuffle": "perception/videos", "state_change": "perception/videos", "action_count": "perception/videos",
    "fine_grained_pose": "nturgbd_convert", "egocentric_navigation": "vlnqa",
    "episodic_reasoning": "tvqa/video_fps3_hq_segment", "fine_grained_action": "Moments_in_Time_Raw/videos",
    "scene_transition": "scene_qa/video", "action_antonym": "ssv2_video_mp4", "unexpected_action": "FunQA_test/test",
}


def _mvbench_convert(path: Path, video_root: Path) -> Converted:
    task = path.stem
    folder = MVBENCH_FOLDERS.get(task)
    for index, row in enumerate(records_list(path)):
        where = f"{path}:{index}"
        if folder is None:
            yield where, Skip(f"unknown MVBench task file {path.name}")
            continue
        candidates = [str(c) for c in row.get("candidates") or []]
        if str(row.get("answer")) not in candidates:
            yield where, Skip("answer is not one of the candidates")
            continue
        video = first_existing(video_root / folder / str(row.get("video", "")), video_root / "data0613" / folder / str(row.get("video", "")))
        meta = {"task": task, "start": row.get("start"), "end": row.get("end")}
        yield where, mc_row(f"{task}/{index}", str(video), row.get("question", ""), candidates,
                            LETTERS[candidates.index(str(row.get("answer", "")))], "MVBench", meta)


MVBENCH = register(Benchmark(
    name="mvbench", title="MVBench",
    native=NativeFormat("json/<task>.json + video/<source folder>/<file> (hub revision 'video', pre-cut clips)",
                        lambda root: files(root, "json/*.json"), _mvbench_convert,
                        video_root=lambda root: root / "video" if (root / "video").is_dir() else root),
    aggregation=AggregationSpec(breakdowns=("task",), group_means=("task",)),
    headline=(("mean_of_task", "mean of task accuracies (%)"), ACCURACY), official="mvbench",
    letter_rule="mvbench", video_r1_files=("eval_mvbench.json", "mvbench.json"), dirnames=("MVBench", "mvbench"),
    notes=("strict and lenient keep empty replies in the denominator; official leaves them out, as lmms-eval does "
           "(which raises the score).",),
))


# --- TempCompass: questions/<format>.json (nested) or <format>/test-*.parquet (flat) + videos/<video_id>.mp4 -------

_CAPTION_LINE = re.compile(r"^(Caption|Sentence|Option)\s+([A-Z]|\d+)\s*:\s*(.*)$")
_MC_LINE = re.compile(r"^([A-Z])\.\s*(.*)$")
TEMPCOMPASS_FORMATS = ("multi-choice", "yes_no", "caption_matching", "captioning")


def _tempcompass_rows(path: Path) -> list[dict]:
    data = read_records(path)
    if isinstance(data, list):
        return data
    return [{"video_id": video_id, "dim": dim, **qa} for video_id, dims in data.items()
            for dim, qas in dims.items() for qa in qas]


def _tempcompass_row(fmt: str, problem_id: str, video: str, row: dict) -> dict | Skip:
    question, answer = str(row.get("question", "")), str(row.get("answer", "")).strip()
    # The official reading applies lmms-eval's rules to the release's own question and answer strings.
    meta = {"format": fmt, "dimension": row.get("dim"), "task": fmt, "question_text": row.get("question"),
            "answer_text": row.get("answer")}
    if fmt == "yes_no":
        return text_row(problem_id, video, question, answer.lower(), "free-form", "TempCompass",
                        {**meta, "scorer": "yes_no"})
    pattern = _MC_LINE if fmt == "multi-choice" else _CAPTION_LINE
    stem, tail, letters, texts, labels, lines = [], [], [], [], {}, []
    for line in question.splitlines():
        match = pattern.match(line.strip())
        if not match:
            (tail if letters else stem).append(line)
            continue
        index = match.group(1) if fmt == "multi-choice" else match.group(2)
        letter = LETTERS[int(index) - 1] if index.isdigit() else index
        letters.append(letter)
        texts.append(match.group(match.lastindex).strip())
        labels[letter] = f"{match.group(1)} {match.group(2)}" if fmt != "multi-choice" else letter
        lines.append(line.strip())
    if len(letters) < 2 or letters != list(LETTERS[:len(letters)]):
        return Skip(f"{fmt} question without lettered options")
    gold = next((letter for letter, line in zip(letters, lines, strict=True) if line == answer), None)
    if gold is None and fmt == "multi-choice" and _MC_LINE.match(answer):
        gold = answer[0]
    if gold not in letters:
        return Skip(f"answer {answer!r} matches no option")
    return mc_row(problem_id, video, "\n".join(stem + tail).strip(), texts, gold, "TempCompass",
                  {**meta, "option_labels": labels})


def _tempcompass_convert(path: Path, video_root: Path) -> Converted:
    fmt = next((f for f in TEMPCOMPASS_FORMATS if f in (path.stem, path.parent.name)), path.stem)
    for index, row in enumerate(_tempcompass_rows(path)):
        where = f"{path}:{index}"
        if fmt == "captioning":
            yield where, Skip("captioning is judged by a GPT model only (no judge in ffr eval)")
            continue
        video = str(video_root / "videos" / f"{row.get('video_id', '')}.mp4")
        yield where, _tempcompass_row(fmt, f"{fmt}/{index}", video, row)


TEMPCOMPASS = register(Benchmark(
    name="tempcompass", title="TempCompass",
    native=NativeFormat("questions/<format>.json (GitHub) or <format>/test-*.parquet (hub) + videos/<video_id>.mp4",
                        lambda root: files(root, "questions/*.json", "*/test-*.parquet"), _tempcompass_convert),
    aggregation=AggregationSpec(breakdowns=("format", "dimension"), group_means=("format",)),
    letter_rule="tempcompass", official="tempcompass", video_r1_files=("eval_tempcompass.json", "tempcompass.json"),
    dirnames=("TempCompass", "tempcompass"),
    notes=("rule-based ratings only: replies that need TempCompass's GPT judge are unparseable (strict, lenient) or "
           "score 0 and are flagged (official, as lmms-eval without a judge);",
           "caption-matching lines are shown as lettered options; captioning is skipped (judge-only)."),
))
