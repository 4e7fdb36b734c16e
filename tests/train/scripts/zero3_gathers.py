"""Run under torch.distributed.run with 2 processes: counts ZeRO-3 all-gathers during generation with the HF engine.
Prints one JSON line per rank: gathers for a 2-token and a 12-token generation, then whether a training step after
generation still works (the partitioning hooks are back)."""

from __future__ import annotations

import json
import sys

import torch


def main(student: str, video: str) -> None:
    import deepspeed.comm as dist

    from ffr_data.clips import sample_frames
    from ffr_data.prompting import PromptConfig, build_prompt
    from ffr_data.sampling import FrameSamplingConfig
    from ffr_data.schema import Sample
    from ffr_train.batching import encode_prompt
    from ffr_train.config import StudentConfig
    from ffr_train.distributed import make_accelerator
    from ffr_train.engine import GenerationRequest, HFGenerationEngine
    from ffr_train.policy import load_student
    from ffr_train.rollout import SamplingParams, completion_logprobs

    accelerator = make_accelerator("zero3", 2, 1.0)
    model, processor = load_student(StudentConfig(path=student, gradient_checkpointing=True))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    engine_model, optimizer = accelerator.prepare(model, optimizer)
    engine = HFGenerationEngine(accelerator.unwrap_model(engine_model), processor.tokenizer, zero3_engine=engine_model)
    sample = Sample(problem_id="p", path=video, problem="What is shown?", problem_type="multiple choice",
                    options=("A. x", "B. y"), solution="<answer>A</answer>")
    frames = sample_frames(video, FrameSamplingConfig(num_frames=4, max_pixels=56 * 56, min_pixels=28 * 28))
    prompt = encode_prompt(processor, build_prompt(sample, frames, PromptConfig(template="compact")))

    calls = {"n": 0}
    for name in ("allgather_fn", "all_gather_into_tensor", "all_gather", "all_gather_coalesced"):
        original = getattr(dist, name)

        def counted(*args, _original=original, **kwargs):
            calls["n"] += 1
            return _original(*args, **kwargs)

        setattr(dist, name, counted)

    counts = {}
    for tokens in (2, 12):
        calls["n"] = 0
        params = SamplingParams(tokens, do_sample=False)
        out = engine.generate([GenerationRequest(prompt, 2)], params)
        counts[tokens] = calls["n"]
        assert all(len(c) == tokens or int(c[-1]) == processor.tokenizer.eos_token_id for c in out[0])
    completion = out[0][0] if out[0][0].numel() else torch.tensor([processor.tokenizer.eos_token_id])
    engine_model.train()
    logp, mask = completion_logprobs(engine_model, [prompt], [completion], processor.tokenizer.pad_token_id)
    loss = -(logp * mask).sum()
    engine_model.backward(loss)
    engine_model.step()
    # One write of the whole line (under PIPE_BUF, so atomic): print() may write the newline separately, and the two
    # ranks share the pipe, so their lines could run together.
    line = json.dumps({"rank": accelerator.process_index, "gathers_2_tokens": counts[2],
                       "gathers_12_tokens": counts[12], "train_step_loss": float(loss)})
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    accelerator.wait_for_everyone()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    import os

    os._exit(0)  # ZeRO-3 under accelerate aborts at interpreter exit with 2 processes otherwise
