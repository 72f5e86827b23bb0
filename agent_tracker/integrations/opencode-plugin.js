// agent-tracker for OpenCode: records every tool call, command and session of OpenCode with the
// agent and model of the session that made it. `agent-tracker integrate opencode` installs this
// file into OpenCode's plugin folder.
//
// How it talks to the tracker: each event is one JSON object written to the standard input of
// `<tracker command> hook opencode`, started detached, its output ignored, never waited for.
// Its fields:
//   event       "tool" | "command" | "session"
//   session_id  OpenCode's sessionID (a subagent runs in a child session with its own id)
//   agent       the session's working agent ("build", "plan", a subagent), or null
//   model       "providerID/modelID" of the session, or null
//   cwd         the tool call's folder (bash `workdir`), else the folder OpenCode runs in
//   tool, ok    event "tool": the tool's name; false when it failed (bash exit code not 0, or
//               the tool threw: OpenCode then skips tool.execute.after and marks the part "error")
//   command     event "tool", tool "bash": the command line (first 2000 characters)
//   name        event "command": the slash command's name
//   phase       event "session": "start" (first sight of a working session), "idle", "end"
//   tokens      optional {in, out, reasoning, cache_read, cache_write}: spent by the session
//               since its previous event that carried tokens (a delta, never a running total)
//   cost        optional, dollars, a delta like tokens
//
// Rules that keep the record right:
// - Agent and model are kept per session, never in one variable for the whole plugin: OpenCode
//   runs its hidden helper agents (title, summary, compaction) in the working session, and
//   subagents in their own sessions, while other sessions go on.
// - OpenCode updates an assistant message many times; its token counts are remembered per
//   message so that only what is new is counted.
// - Nothing here may throw into OpenCode or make it wait: every hook body is guarded and the
//   tracker process is detached.
//
// The tracker's command line. The string on the CONFIGURED line is a placeholder: `integrate`
// replaces it, quotes included, by the JSON array of the command line (for example
// ["/home/me/.local/bin/agent-tracker"]). Left as it is, the plugin uses the JSON array in the
// environment variable AGENT_TRACKER_COMMAND, else `agent-tracker` from PATH.
import { spawn } from 'node:child_process'

const CONFIGURED = "@AGENT_TRACKER_COMMAND@"

const HIDDEN_AGENTS = new Set(['title', 'summary', 'compaction'])
const MAX_COMMAND = 2000
// Bounds on what is remembered, for an OpenCode server that runs for weeks.
const MAX_SESSIONS = 1000
const MAX_MESSAGES = 5000
const MAX_CALLS = 5000
const TOKEN_KEYS = ['in', 'out', 'reasoning', 'cache_read', 'cache_write']

const argvOf = (value) => {
  let argv = value
  if (typeof argv === 'string') {
    try {
      argv = JSON.parse(argv)
    } catch {
      return null
    }
  }
  const valid = Array.isArray(argv) && argv.length > 0 && argv.every((part) => typeof part === 'string' && part)
  return valid ? argv : null
}

const trackerCommand = () => {
  const placeholder = typeof CONFIGURED === 'string' && CONFIGURED.startsWith('@')
  return (
    (placeholder ? null : argvOf(CONFIGURED)) ??
    argvOf(process.env.AGENT_TRACKER_COMMAND ?? '') ?? ['agent-tracker']
  )
}

const text = (value) => (typeof value === 'string' && value ? value : null)
const count = (value) => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0)
const agentName = (value) => text(value) ?? text(value?.name)
const modelName = (providerID, modelID) => {
  const model = text(modelID)
  if (!model) return null
  const provider = text(providerID)
  return provider ? `${provider}/${model}` : model
}

// Keep a Map to its newest `limit` entries (Maps iterate in insertion order).
const remember = (map, key, value, limit) => {
  map.delete(key)
  map.set(key, value)
  if (map.size > limit) map.delete(map.keys().next().value)
}

export const AgentTracker = async ({ directory, worktree } = {}) => {
  const home = text(directory) ?? text(worktree) ?? process.cwd()
  const argv = trackerCommand()
  const sessions = new Map()
  const messages = new Map() // assistant message id -> the token counts already counted
  const calls = new Map() // tool callIDs already recorded (tool.execute.after or error part)

  const send = (payload) => {
    try {
      const child = spawn(argv[0], [...argv.slice(1), 'hook', 'opencode'], {
        stdio: ['pipe', 'ignore', 'ignore'],
        detached: true,
        windowsHide: true,
      })
      child.on('error', () => {})
      child.stdin?.on('error', () => {})
      child.stdin?.end(`${JSON.stringify(payload)}\n`)
      child.unref()
    } catch {
      // The tracker is missing or cannot start: OpenCode carries on without it.
    }
  }

  const session = (id) => {
    let state = sessions.get(id)
    if (!state) {
      state = { agent: null, model: null, started: false, idle: false, cost: 0, tokens: {} }
      for (const key of TOKEN_KEYS) state.tokens[key] = 0
    }
    remember(sessions, id, state, MAX_SESSIONS)
    return state
  }

  const emit = (id, fields) => {
    if (!id) {
      send({ event: fields.event, session_id: null, agent: null, model: null, cwd: home, ...fields })
      return
    }
    const state = session(id)
    if (!state.started && fields.phase !== 'start') {
      state.started = true
      emit(id, { event: 'session', phase: 'start' })
    }
    const payload = {
      event: fields.event,
      session_id: id,
      agent: state.agent,
      model: state.model,
      cwd: home,
      ...fields,
    }
    if (TOKEN_KEYS.some((key) => state.tokens[key] > 0)) {
      payload.tokens = { ...state.tokens }
      for (const key of TOKEN_KEYS) state.tokens[key] = 0
    }
    if (state.cost > 0) {
      payload.cost = Number(state.cost.toFixed(10))
      state.cost = 0
    }
    send(payload)
  }

  const start = (id) => {
    const state = session(id)
    if (state.started) return
    state.started = true
    emit(id, { event: 'session', phase: 'start' })
  }

  // A working agent's setup becomes the session's; a hidden helper's never does.
  const setup = (id, agent, model) => {
    if (!id) return
    const name = agentName(agent)
    if (name && HIDDEN_AGENTS.has(name)) return
    const state = session(id)
    if (name) state.agent = name
    if (model) state.model = model
    if (state.agent) start(id)
  }

  const countTokens = (info) => {
    const id = text(info.id)
    const sessionID = text(info.sessionID)
    if (!id || !sessionID || !info.tokens) return
    const tokens = info.tokens
    const now = {
      in: count(tokens.input),
      out: count(tokens.output),
      reasoning: count(tokens.reasoning),
      cache_read: count(tokens.cache?.read),
      cache_write: count(tokens.cache?.write),
      cost: count(info.cost),
    }
    const before = messages.get(id) ?? {}
    const state = session(sessionID)
    for (const key of [...TOKEN_KEYS, 'cost']) {
      const seen = before[key] ?? 0
      if (now[key] > seen) {
        if (key === 'cost') state.cost += now[key] - seen
        else state.tokens[key] += now[key] - seen
      }
      now[key] = Math.max(now[key], seen)
    }
    remember(messages, id, now, MAX_MESSAGES)
  }

  const folder = (args) => {
    const workdir = text(args?.workdir)
    if (!workdir) return home
    const absolute = workdir.startsWith('/') || workdir.startsWith('\\') || /^[A-Za-z]:[\\/]/.test(workdir)
    return absolute ? workdir : `${home.replace(/[\\/]+$/, '')}/${workdir}`
  }

  const recordTool = (id, tool, callID, args, ok) => {
    if (callID) {
      if (calls.has(callID)) return
      remember(calls, callID, true, MAX_CALLS)
    }
    if (id) session(id).idle = false
    const fields = { event: 'tool', tool: text(tool) ?? 'unknown', cwd: folder(args), ok }
    if (fields.tool === 'bash' && typeof args?.command === 'string') {
      fields.command = args.command.slice(0, MAX_COMMAND)
    }
    emit(id, fields)
  }

  const idle = (id) => {
    if (!id) return
    const state = session(id)
    if (state.idle) return
    state.idle = true
    emit(id, { event: 'session', phase: 'idle' })
  }

  const onEvent = (event) => {
    const type = event?.type
    const props = event?.properties ?? {}
    const info = props.info ?? {}
    switch (type) {
      case 'session.created':
      case 'session.updated': {
        const id = text(props.sessionID) ?? text(info.id)
        if (!id) return
        session(id)
        setup(id, info.agent, modelName(info.model?.providerID, info.model?.id ?? info.model?.modelID))
        return
      }
      case 'message.updated': {
        const id = text(info.sessionID) ?? text(props.sessionID)
        if (info.role === 'user') {
          setup(id, info.agent, modelName(info.model?.providerID, info.model?.modelID))
        } else if (info.role === 'assistant') {
          setup(id, info.agent ?? info.mode, modelName(info.providerID, info.modelID))
          countTokens(info)
        }
        return
      }
      case 'message.part.updated': {
        const part = props.part ?? {}
        const state = part.state ?? {}
        if (part.type !== 'tool' || state.status !== 'error') return
        // A call cut off by an abort is the person's doing, not a failure of the setup.
        if (state.metadata?.interrupted === true) return
        recordTool(text(part.sessionID) ?? text(props.sessionID), part.tool, text(part.callID), state.input, false)
        return
      }
      case 'session.status': {
        const id = text(props.sessionID)
        if (!id) return
        if (props.status?.type === 'idle') idle(id)
        else session(id).idle = false
        return
      }
      case 'session.idle':
        idle(text(props.sessionID))
        return
      case 'session.deleted': {
        const id = text(props.sessionID) ?? text(info.id)
        if (!id || !sessions.has(id)) return
        emit(id, { event: 'session', phase: 'end' })
        sessions.delete(id)
        return
      }
      case 'command.executed': {
        const id = text(props.sessionID)
        if (id) session(id).idle = false
        emit(id, { event: 'command', name: text(props.name) ?? 'unknown' })
        return
      }
      default:
    }
  }

  return {
    event: async ({ event } = {}) => {
      try {
        onEvent(event)
      } catch {
        // never into OpenCode
      }
    },

    'chat.message': async (input, output) => {
      try {
        const message = output?.message ?? {}
        const model = input?.model ?? message.model
        setup(text(input?.sessionID), input?.agent ?? message.agent, modelName(model?.providerID, model?.modelID))
      } catch {
        // never into OpenCode
      }
    },

    'chat.params': async (input) => {
      try {
        const id = text(input?.sessionID)
        const name = agentName(input?.agent)
        if (!id || (name && HIDDEN_AGENTS.has(name))) return
        setup(id, name, modelName(input?.model?.providerID ?? input?.provider?.info?.id, input?.model?.id))
        session(id).idle = false
      } catch {
        // never into OpenCode
      }
    },

    'tool.execute.after': async (input, output) => {
      try {
        const exit = output?.metadata?.exit
        const ok = !(typeof exit === 'number' && exit !== 0)
        recordTool(text(input?.sessionID), input?.tool, text(input?.callID), input?.args ?? {}, ok)
      } catch {
        // never into OpenCode
      }
    },

    // The bash tool's environment names the session, so that `git commit` run by the agent
    // (post-commit hook -> `agent-tracker commit`) is credited to this session.
    'shell.env': async (input, output) => {
      try {
        const id = text(input?.sessionID)
        if (!id || !output) return
        if (!output.env || typeof output.env !== 'object') output.env = {}
        const env = output.env
        env.AGENT_TRACKER_SESSION = id
        env.AGENT_TRACKER_HARNESS = 'opencode'
        const state = sessions.get(id)
        if (state?.agent) env.AGENT_TRACKER_AGENT = state.agent
        if (state?.model) env.AGENT_TRACKER_MODEL = state.model
      } catch {
        // never into OpenCode
      }
    },
  }
}
