"""Which programming language a project is mostly written in, from file extensions.

Used by `report --like PATH`: evidence is restricted to projects whose dominant language is
that of PATH. Documentation, data and configuration files do not vote.
"""

from __future__ import annotations

from agent_tracker import gitinfo

LANGUAGES = {
    ".py": "Python",
    ".pyi": "Python",
    ".ipynb": "Python",
    ".ts": "TypeScript",
    ".tsx": "TypeScript",
    ".mts": "TypeScript",
    ".cts": "TypeScript",
    ".js": "JavaScript",
    ".jsx": "JavaScript",
    ".mjs": "JavaScript",
    ".cjs": "JavaScript",
    ".go": "Go",
    ".rs": "Rust",
    ".java": "Java",
    ".kt": "Kotlin",
    ".kts": "Kotlin",
    ".scala": "Scala",
    ".rb": "Ruby",
    ".php": "PHP",
    ".cs": "C#",
    ".fs": "F#",
    ".c": "C",
    ".h": "C",
    ".cc": "C++",
    ".cpp": "C++",
    ".cxx": "C++",
    ".hpp": "C++",
    ".hh": "C++",
    ".m": "Objective-C",
    ".mm": "Objective-C",
    ".swift": "Swift",
    ".dart": "Dart",
    ".ex": "Elixir",
    ".exs": "Elixir",
    ".erl": "Erlang",
    ".hs": "Haskell",
    ".ml": "OCaml",
    ".clj": "Clojure",
    ".lua": "Lua",
    ".r": "R",
    ".jl": "Julia",
    ".sh": "Shell",
    ".bash": "Shell",
    ".zsh": "Shell",
    ".sql": "SQL",
    ".vue": "Vue",
    ".svelte": "Svelte",
    ".zig": "Zig",
    ".nim": "Nim",
    ".pl": "Perl",
    ".tf": "Terraform",
}


def dominant(exts: dict[str, int]) -> str | None:
    """The language with the most files among `exts` (extension -> count), if any."""
    votes: dict[str, int] = {}
    for ext, count in exts.items():
        language = LANGUAGES.get(ext.lower())
        if language is not None and count > 0:
            votes[language] = votes.get(language, 0) + count
    if not votes:
        return None
    return max(sorted(votes), key=lambda language: votes[language])


def of_project(path: str) -> str | None:
    """The main language of the project at `path`: its tracked files, or outside git the
    files below it (the first 50,000)."""
    return dominant(gitinfo.tracked_extensions(path))
