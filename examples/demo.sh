#!/usr/bin/env bash
# agent-tracker demo: capture -> flush -> report against real git repositories.
#
# Everything happens under a throw-away HOME, so your own ~/.config is never touched:
# two projects with a bare remote each, our hooks installed, two agent setups doing work
# (tool calls, commands, commits), agents and a person grading the commits, and pushes
# that flush the journal into the default database ($HOME/.config/opencode/agent-tracker.lmdb).
# Set KEEP=1 to keep the folder afterwards.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${AGENT_TRACKER:-}" ]; then
    tracker_dir=$(dirname "$AGENT_TRACKER")
elif [ -x "$here/.venv/bin/agent-tracker" ]; then
    tracker_dir="$here/.venv/bin"
elif command -v agent-tracker >/dev/null 2>&1; then
    tracker_dir=$(dirname "$(command -v agent-tracker)")
else
    echo "demo: agent-tracker is not installed; see README.md (Install)" >&2
    exit 1
fi
export PATH="$tracker_dir:$PATH"

demo=$(mktemp -d "${TMPDIR:-/tmp}/agent-tracker-demo.XXXXXX")
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$demo"' EXIT; fi
export HOME="$demo/home"
mkdir -p "$HOME"
# git configured only by this script: no global config, fixed identity.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME="Demo Person" GIT_AUTHOR_EMAIL="demo@example.invalid"
export GIT_COMMITTER_NAME="Demo Person" GIT_COMMITTER_EMAIL="demo@example.invalid"
unset AGENT_TRACKER_AGENT AGENT_TRACKER_MODEL AGENT_TRACKER_HARNESS CLAUDECODE OPENCODE
unset AGENT_TRACKER_SESSION CLAUDE_CODE_SESSION_ID CODEX_SESSION_ID CODEX_THREAD_ID
# Session ends would flush in the background; the demo leaves flushing to `git push`.
export AGENT_TRACKER_AUTO_FLUSH=0
unset AGENT_TRACKER_DATABASE_PATH AGENT_TRACKER_CONFIG AGENT_TRACKER_JOURNAL_DIR

if [ -t 1 ]; then bold=$(printf '\033[1m') plain=$(printf '\033[0m'); else bold='' plain=''; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }

make_project() {  # make_project NAME EXT: a repository with a bare remote and our hooks
    local name=$1 ext=$2
    git init -q --bare "$demo/remotes/$name.git"
    git init -q -b main "$demo/work/$name"
    cd "$demo/work/$name"
    git remote add origin "$demo/remotes/$name.git"
    printf '# %s\n' "$name" > README.md
    printf 'first = 1\n' > "main.$ext"
    git add . && git commit -q -m "Initial import"
    agent-tracker hooks install
}

session() {  # session SETUP_AGENT SETUP_MODEL FILE COMMIT_MESSAGE AGENT_GRADE USER_GRADE
    # The harness exports the setup for everything it runs (here: AGENT_TRACKER_*).
    export AGENT_TRACKER_HARNESS=opencode AGENT_TRACKER_AGENT=$1 AGENT_TRACKER_MODEL=$2
    for tool in read read edit edit bash; do agent-tracker track tool "$tool"; done
    agent-tracker track command test
    printf 'line %s\n' "$RANDOM" >> "$3"
    git add -A && git commit -q -m "$4"          # post-commit hook: agent-tracker commit
    agent-tracker grade "$5" --by agent --note "self-review"
    agent-tracker grade "$6" --by user
    unset AGENT_TRACKER_HARNESS AGENT_TRACKER_AGENT AGENT_TRACKER_MODEL
}

say "Two projects, each with a bare remote, hooks installed"
make_project webapp py
make_project cli-tool ts

say "Two agent setups work in both projects, and their commits get graded"
build=(build anthropic/claude-sonnet-4-5)
plan=(plan openai/gpt-5)
for round in 1 2 3; do
    cd "$demo/work/webapp"
    session "${build[@]}" main.py "Login form, part $round" excellence good
    session "${plan[@]}"  main.py "Session store, part $round" good neutral
    cd "$demo/work/cli-tool"
    session "${build[@]}" main.ts "JSON output, part $round" good excellence
    session "${plan[@]}"  main.ts "Verbose flag, part $round" neutral bad
done
agent-tracker grade neutral --by user      # the person changes their mind: replaces the bad
printf '  %s\n' "60 tool calls, 12 commands, 12 commits and 25 grades captured"

say "A Claude Code session, as its hooks report it (agent-tracker integrate claude-code)"
cd "$demo/work/webapp"
transcript="$HOME/.claude/projects/webapp/demo-session.jsonl"
mkdir -p "$(dirname "$transcript")"
common="\"session_id\":\"demo-session\",\"transcript_path\":\"$transcript\",\"cwd\":\"$PWD\""
claude_hook() { printf '{%s,%s}' "$common" "$1" | agent-tracker hook claude-code; }
assistant() {  # one assistant turn in the transcript: the model and its token use
    printf '{"type":"assistant","message":{"model":"%s","id":"%s","usage":%s}}\n' \
        claude-opus-4-5-20251101 "$1" '{"input_tokens":1800,"output_tokens":420}' >> "$transcript"
}
claude_hook '"hook_event_name":"SessionStart","source":"startup"'
assistant msg_1
claude_hook '"hook_event_name":"PostToolUse","tool_name":"Edit","tool_input":{}'
printf 'limit = 10\n' >> main.py
assistant msg_2
# Claude Code's shell names the session; the post-commit hook credits the commit to it.
CLAUDE_CODE_SESSION_ID=demo-session git commit -qam "Rate limiting"
claude_hook '"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{"command":"git commit -qam x"}'
claude_hook '"hook_event_name":"Stop"'
agent-tracker grade good --by user
printf '  %s\n' "model from the transcript, tokens counted once, the commit credited to its session"

say "Capture only appended to the journal; nothing is in the database yet"
agent-tracker status

say "git push: the pre-push hook flushes the journal in one transaction"
cd "$demo/work/webapp" && git push -q origin main    # the hook flushes in the background
cd "$demo/work/cli-tool" && git push -q origin main
agent-tracker flush >/dev/null  # waits for the hooks' flushes, then flushes what is left
agent-tracker status

say "Which setup should I use next?"
agent-tracker report
if [ -n "${KEEP:-}" ]; then echo; echo "demo folder kept: $demo"; fi
