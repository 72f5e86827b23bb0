// agent-tracker for OpenCode: save as ~/.config/opencode/plugin/agent-tracker.js
//
// Records every tool call with the agent and model that made it, and flushes when a session
// goes idle. The tracker's own failures never reach the agent (nothrow, quiet).
export const AgentTracker = async ({ $, directory }) => {
  let agent = 'unknown'
  let model = 'unknown'
  const track = (kind, name) =>
    $`agent-tracker track ${kind} ${name} --harness opencode --agent ${agent} --model ${model} --repo ${directory}`
      .nothrow()
      .quiet()
  return {
    // The agent and model of the conversation, as OpenCode passes them to the model call.
    'chat.params': async (input) => {
      agent = String(input.agent?.name ?? input.agent ?? agent)
      if (input.model) model = `${input.model.providerID ?? input.provider?.info?.id}/${input.model.id}`
    },
    'tool.execute.after': async (input) => {
      await track('tool', input.tool)
    },
    event: async ({ event }) => {
      if (event.type === 'command.executed') await track('command', event.properties?.name ?? 'command')
      if (event.type === 'session.idle') await $`agent-tracker flush`.nothrow().quiet()
    },
  }
}
