"""Request values: OpenAI's sizes, lengths and models mapped onto what the generator makes, and OpenAI-shaped errors.

Sizes: OpenAI's four (720x1280, 1280x720, 1024x1792, 1792x1024) are rendered at the generator's native size closest
in aspect ratio (portrait to portrait, landscape to landscape); a native size ("96x64") is rendered as asked. The job
reports the size as asked. Seconds: OpenAI's 4, 8 and 12 (extensions: 4 to 20) and the generator's native lengths
are accepted; footage longer than the generator's `max_seconds` is cut to it. Models: the generator's own name and
OpenAI's sora-2 family, all served by the one loaded model.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from kinema.serve.generate import closest_size

OPENAI_SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
OPENAI_SECONDS = ("4", "8", "12")
OPENAI_EXTEND_SECONDS = ("4", "8", "12", "16", "20")
OPENAI_MODELS = ("sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08")
MAX_SEED = 2**31 - 1


class ApiError(Exception):
    """An error response: HTTP status and OpenAI's {"error": {message, type, param, code}}."""

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad(message: str, param: str | None = None, code: str | None = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def fmt_size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def resolve_size(text: str, native: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """'720x1280' -> the native size closest in aspect ratio; a native size -> itself; else a 400 naming both lists."""
    m = re.fullmatch(r"(\d{1,5})x(\d{1,5})", text)
    size = (int(m.group(1)), int(m.group(2))) if m else None
    if size in native:
        return size
    if text in OPENAI_SIZES:
        return closest_size(size, native)
    raise bad(
        f"size '{text}': use one of {', '.join(OPENAI_SIZES)} (rendered at the model's closest size) "
        f"or a native size: {', '.join(map(fmt_size, native))}",
        "size",
    )


def resolve_seconds(text: str, openai: tuple[str, ...], native: tuple[str, ...], max_seconds: float) -> float:
    """An accepted length ('4') -> seconds to render (at most `max_seconds`); else a 400 naming the accepted ones."""
    if text in openai or text in native:
        return min(float(text), max_seconds)
    allowed = ", ".join(dict.fromkeys([*openai, *native]))
    raise bad(f"seconds '{text}': use one of {allowed}", "seconds")


def resolve_model(text: str | None, name: str) -> str:
    if text is None or text == "":
        return name
    if text == name or text in OPENAI_MODELS:
        return text
    raise bad(f"model '{text}': use '{name}' or one of {', '.join(OPENAI_MODELS)} (all served by {name})", "model")


def resolve_seed(value: Any) -> int:
    """A seed from the request (an integer 0..2^31-1), or a fresh random one."""
    if value is None or value == "":
        return secrets.randbelow(MAX_SEED + 1)
    try:
        seed = int(value)
    except (TypeError, ValueError):
        raise bad(f"seed {value!r}: must be an integer from 0 to {MAX_SEED}", "seed") from None
    if not 0 <= seed <= MAX_SEED or isinstance(value, float | bool):
        raise bad(f"seed {value!r}: must be an integer from 0 to {MAX_SEED}", "seed")
    return seed


def check_prompt(value: Any, max_chars: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad("prompt: required, a non-empty string", "prompt", "missing_required_parameter")
    if len(value) > max_chars:
        raise bad(f"prompt is {len(value)} characters long; at most {max_chars}", "prompt", "prompt_too_long")
    return value


def as_text(fields: dict[str, Any], name: str) -> str | None:
    """A form or JSON field as a string (JSON numbers allowed, e.g. "seconds": 4); None when absent."""
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad(f"{name}: expected a string, got {type(value).__name__}", name)
    return str(value)
