// Replays recorded OpenCode plugin hook calls into the agent-tracker plugin (for
// tests/test_opencode_plugin.py).
//
// Usage: node opencode_replay.mjs CONFIG.json, where CONFIG holds
//   plugin      path of the plugin file
//   hooks       path of a JSON Lines file of {hook, input, output} (OpenCode's recorded calls)
//   repo        the folder that replaces "$REPO" in the recording
//   gate        optional: a file created only after every hook has returned (the recorder
//               waits for it, so the replay can tell that no hook waited for the tracker)
//   spawn_throws  optional: make child_process.spawn throw, as on a broken system
//   timeout_ms  bound on the whole replay
// Prints one JSON object: spawns (pid, argv, exit code), the env each shell.env call produced,
// the errors that hooks threw (there must be none) and how many tracker processes had ended
// before the gate opened.
import childProcess from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { pathToFileURL } from 'node:url'

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const timeoutMs = config.timeout_ms ?? 20000
const report = { spawns: [], envs: [], hook_errors: [], ended_before_gate: 0, timed_out: false }
const finish = (code) => {
  process.stdout.write(`${JSON.stringify(report)}\n`)
  process.exit(code)
}
const watchdog = setTimeout(() => {
  report.timed_out = true
  finish(3)
}, timeoutMs)

// Watch every process the plugin starts: the plugin imports spawn from node:child_process,
// and syncBuiltinESMExports makes that import see this wrapper.
const realSpawn = childProcess.spawn
const ended = []
childProcess.spawn = (...args) => {
  if (config.spawn_throws) throw new Error('spawn is broken here')
  const child = realSpawn(...args)
  const record = { pid: child.pid ?? null, argv: [args[0], ...(args[1] ?? [])], exit: null, error: null }
  report.spawns.push(record)
  ended.push(
    new Promise((resolve) => {
      child.on('error', (error) => {
        record.error = error.code ?? String(error)
        resolve()
      })
      child.on('exit', (code) => {
        record.exit = code
        resolve()
      })
    }),
  )
  return child
}
syncBuiltinESMExports()

const { AgentTracker } = await import(pathToFileURL(config.plugin).href)
const repoText = JSON.stringify(config.repo).slice(1, -1)
const steps = readFileSync(config.hooks, 'utf8')
  .split('\n')
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line.replaceAll('$REPO', repoText)))

const init = steps.find((step) => step.hook === 'init')?.input ?? {}
const hooks = await AgentTracker({ directory: config.repo, worktree: config.repo, ...init, client: {}, $: undefined })

for (const step of steps) {
  const call =
    step.hook === 'event' ? () => hooks.event?.({ event: step.input }) : () => hooks[step.hook]?.(step.input, step.output)
  try {
    await call()
  } catch (error) {
    report.hook_errors.push(`${step.hook}: ${error}`)
  }
  if (step.hook === 'shell.env') report.envs.push(step.output?.env ?? null)
}

// Give exit events a moment to arrive; with the gate closed, no recorder can have ended.
await new Promise((resolve) => setTimeout(resolve, 200))
report.ended_before_gate = report.spawns.filter((spawn) => spawn.exit !== null).length
if (config.gate) writeFileSync(config.gate, 'open\n')
await Promise.all(ended)
clearTimeout(watchdog)
finish(0)
