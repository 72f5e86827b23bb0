#!/usr/bin/env node
// Export a database of the original TypeScript plugin as agent-tracker facts.
//
// That plugin stored its data with the npm `lmdb` package, which writes LMDB data format v2:
// released LMDB, and so agent-tracker, cannot read it. This script reads it with the same npm
// package and prints agent-tracker export lines (JSON Lines, version 1) for
// `agent-tracker import`:
//
//   npm install lmdb                      # in any folder, e.g. a temporary one
//   node export-legacy.mjs ~/code/app/~/.config/opencode/agent-tracker.lmdb > legacy.jsonl
//   agent-tracker import legacy.jsonl
//
// What comes over: every commit (agent, model, project path, hash, time, description) and,
// per commit, the newest communication grade, as the user's grade. Tool-call counts were not
// kept by the plugin (only XP totals), so none are exported. The source is never opened
// itself: LMDB would create a lock file beside it, so a temporary copy is read instead.
import { copyFileSync, cpSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { open } from 'lmdb'

const path = process.argv[2]
if (!path) {
  console.error('usage: node export-legacy.mjs PATH-TO-OLD-DATABASE > legacy.jsonl')
  process.exit(2)
}
const scratch = mkdtempSync(join(tmpdir(), 'agent-tracker-legacy-'))
const copy = join(scratch, 'agent-tracker.lmdb')
if (statSync(path).isDirectory()) cpSync(path, copy, { recursive: true })
else copyFileSync(path, copy)
const db = open({ path: copy, compression: true, readOnly: true })
const seconds = (value) => {
  const time = new Date(value ?? 0).getTime()
  return Number.isFinite(time) ? time / 1000 : 0
}
const hex = (value) => typeof value === 'string' && /^[0-9a-f]{4,64}$/.test(value)

const agents = new Map()
for (const { key, value } of db.getRange({ start: 'agent:', end: 'agent:~' })) {
  agents.set(String(key).slice('agent:'.length), value ?? {})
}
const setupOf = (agentId) => {
  const agent = agents.get(agentId) ?? {}
  return {
    harness: 'opencode',
    agent: String(agent.name || agentId || 'unknown'),
    model: String(agent.model || 'unknown'),
  }
}

let commits = 0
let grades = 0
let skipped = 0
for (const { value } of db.getRange({ start: 'commit:', end: 'commit:~' })) {
  if (!value || !hex(value.commit_hash) || !value.project_path) { skipped++; continue }
  const line = {
    v: 1, kind: 'commit', ...setupOf(value.agent_id), project: String(value.project_path),
    hash: value.commit_hash, ts: seconds(value.timestamp), subject: value.task_description ?? null,
    source: 'legacy', author_time: Math.floor(seconds(value.timestamp)), files: 0,
    insertions: 0, deletions: 0, exts: {},
  }
  process.stdout.write(JSON.stringify(line) + '\n')
  commits++
}

const newest = new Map()
for (const { value } of db.getRange({ start: 'communication:', end: 'communication:~' })) {
  if (!value || !hex(value.commit_hash) || !value.project_path || ![-1, 1, 2, 5].includes(value.grade)) {
    skipped++
    continue
  }
  const id = `${value.project_path}\u0000${value.commit_hash}`
  const seen = newest.get(id)
  if (!seen || seconds(seen.timestamp) <= seconds(value.timestamp)) newest.set(id, value)
}
for (const value of newest.values()) {
  const line = {
    v: 1, kind: 'grade', ...setupOf(value.agent_id), project: String(value.project_path),
    hash: value.commit_hash, ts: seconds(value.timestamp), by: 'user', grade: value.grade,
    note: value.reason ?? null,
  }
  process.stdout.write(JSON.stringify(line) + '\n')
  grades++
}
await db.close()
rmSync(scratch, { recursive: true, force: true })
console.error(`exported ${commits} commits and ${grades} grades; ${skipped} records skipped`)
