-- :checkhealth agent_history
local M = {}

function M.check()
  local health = vim.health
  health.start("agent_history")
  if vim.fn.has("nvim-0.10") == 1 then
    health.ok("Neovim " .. tostring(vim.version()))
  else
    health.error("Neovim 0.10 or later is required")
  end
  local plugin = require("agent_history")
  local cmd = plugin.config.cmd or { vim.fn.executable("agent-history") == 1 and "agent-history" or "python3" }
  if vim.fn.executable(cmd[1]) == 1 then
    health.ok("sidecar command: " .. table.concat(cmd, " "))
  else
    health.error("sidecar command not found: " .. cmd[1], { "pip install agent-history, or set cmd in setup{}" })
  end
  local client = plugin.client()
  if not client then
    return health.warn("the sidecar is not running", { "call require('agent_history').setup()" })
  end
  local result, err = plugin.request("history/stats", nil)
  if err then
    return health.error("the sidecar does not answer: " .. (err.message or vim.inspect(err)))
  end
  health.ok(string.format("database %s: %d sessions, %d messages (schema %d)", result.dbPath, result.sessions,
    result.messages, result.schemaVersion))
end

return M
