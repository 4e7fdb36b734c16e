"""``python -m ffr_eval …`` is ``ffr eval …`` (what ``accelerate launch -m ffr_eval`` and ``--num-processes`` run)."""

from __future__ import annotations

import os
import sys

from ffr_data.errors import FFRError


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from ffr_eval.cli import app

    try:
        app(prog_name="ffr eval", standalone_mode=True)
    except FFRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
