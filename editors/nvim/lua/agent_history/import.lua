-- :AgentHistory import [PATH]: transcripts into the history, progress as notifications.
local M = {}

local running = {} -- workDoneToken -> path being imported
local next_token = 0

--- The agents' own transcript folders that exist (Claude Code's, Codex's).
function M.default_paths()
  local home = vim.uv.os_homedir()
  local claude = vim.env.CLAUDE_CONFIG_DIR or vim.fs.joinpath(home, ".claude")
  local codex = vim.env.CODEX_HOME or vim.fs.joinpath(home, ".codex")
  return vim.tbl_filter(function(path)
    return vim.fn.isdirectory(path) == 1
  end, { vim.fs.joinpath(claude, "projects"), vim.fs.joinpath(codex, "sessions") })
end

--- $/progress from the sidecar: a notification per report of an import we started.
function M.progress(result)
  local path = result and running[result.token]
  if path and result.value.kind == "report" then
    vim.notify(string.format("agent-history: importing %s: %d%%", path, result.value.percentage or 0))
  end
end

function M.run(path)
  local history = require("agent_history")
  local paths = path and { vim.fn.expand(path) } or M.default_paths()
  if #paths == 0 then
    return history.fail({ message = "no transcripts folder found (~/.claude/projects, ~/.codex/sessions); give a PATH" })
  end
  for _, folder in ipairs(paths) do
    next_token = next_token + 1
    local token = "agent-history-import-" .. next_token
    running[token] = folder
    vim.notify("agent-history: importing " .. folder)
    history.request("history/importTranscript", { path = folder, format = "auto", workDoneToken = token }, function(err, result)
      running[token] = nil
      if err then
        return history.fail({ message = "import of " .. folder .. " failed: " .. (err.message or vim.inspect(err)) })
      end
      local summary = string.format("%d sessions", #(result.sessions or {}))
      if result.messages then
        summary = string.format("%d messages in %s from %d files", result.messages, summary, result.files)
      end
      vim.notify("agent-history: imported " .. folder .. ": " .. summary)
    end, nil)
  end
end

return M
