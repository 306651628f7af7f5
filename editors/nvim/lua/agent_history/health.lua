-- :checkhealth agent_history
local M = {}

function M.check()
  local health = vim.health
  local plugin = require("agent_history")
  health.start("agent_history " .. plugin.version)
  if vim.fn.has("nvim-0.10") == 1 then
    health.ok("Neovim " .. tostring(vim.version()))
  else
    health.error("Neovim 0.10 or later is required")
  end
  local cmd = plugin.command_line()
  local client = plugin.client()
  if client and client.initialized then
    local info = client.server_info or {}
    health.ok(string.format("sidecar %s %s: %s", info.name or "?", info.version or "?", table.concat(cmd, " ")))
  else
    local failure = plugin.probe(cmd)
    if failure then
      return health.error("the sidecar command fails: " .. failure, {
        "pip install agent-history (then `agent-history serve` runs), or set cmd in setup{}",
      })
    end
    health.ok("sidecar command runs: " .. table.concat(cmd, " "))
    return health.warn("the sidecar is not running", { "call require('agent_history').setup()" })
  end
  local result, err = plugin.request("history/stats", nil)
  if err then
    return health.error("the sidecar does not answer: " .. (err.message or vim.inspect(err)))
  end
  health.ok(string.format("database %s: %d sessions, %d messages (schema %d)", result.dbPath, result.sessions,
    result.messages, result.schemaVersion))
  local behind = result.indexBehind
  if behind == nil or behind == vim.NIL then
    health.info("search index: not kept by this sidecar (read-only, or it cannot be opened)")
  elseif behind == 0 then
    health.ok("search index: every message is searchable")
  else
    health.info(string.format("search index: %d messages not searchable yet (the indexer is catching up)", behind))
  end
end

return M
