"""Built-in teacher backends; importing this package registers them (heavy libraries load lazily)."""

from ffr_teacher.backends import annotation, hf_chat, openai_chat

__all__ = ["annotation", "hf_chat", "openai_chat"]
