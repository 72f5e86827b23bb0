"""Model names as `provider/model`, so one model used from two harnesses is one model.

Harnesses name models differently: Claude Code's transcript says `claude-sonnet-4-5-20250929`,
Codex says `gpt-5-codex`, OpenCode says `anthropic/claude-sonnet-4-5`. The rules:

- a name that already has a provider (`provider/model`) is kept as it is;
- `claude-*` -> `anthropic/claude-*`, without Anthropic's trailing release date
  (`-20250929`), which names a snapshot of the same model;
- `gpt-*`, `o1`..`o4` (and their `-mini`/`-pro` forms), `codex-*`, `chatgpt-*` -> `openai/...`;
- `gemini-*` -> `google/...`;
- anything else (a local or scripted model) is kept as it is.

Claude Code writes `<synthetic>` as the model of messages it made up itself (an API error,
an interruption); that is no model, and so is an empty name. String operations only: this
runs in every hook call, where compiling a regular expression would cost more than the rest.
"""

from __future__ import annotations

#: Names that are not a model at all.
NOT_A_MODEL = frozenset({"", "<synthetic>", "unknown", "null", "none"})
_OPENAI_PREFIXES = ("gpt-", "codex-", "chatgpt-")
_MAX_LENGTH = 200


def normalise(name: object) -> str | None:
    """`provider/model` for a model name, None when `name` names no model."""
    if not isinstance(name, str):
        return None
    text = name.strip()[:_MAX_LENGTH]
    if text.lower() in NOT_A_MODEL:
        return None
    if "/" in text:
        return text
    lower = text.lower()
    if lower.startswith("claude-"):
        return "anthropic/" + _without_date(text)
    if lower.startswith(_OPENAI_PREFIXES) or _is_o_series(lower):
        return "openai/" + text
    if lower.startswith("gemini-"):
        return "google/" + text
    return text


def _without_date(name: str) -> str:
    head, dash, tail = name.rpartition("-")
    if dash and len(tail) == 8 and tail.isdigit() and tail.startswith("20"):
        return head
    return name


def _is_o_series(lower: str) -> bool:
    """`o1`, `o3`, `o4-mini`, `o3-pro`: OpenAI's reasoning models."""
    return len(lower) >= 2 and lower[0] == "o" and lower[1] in "1234" and lower[2:3] in ("", "-")
