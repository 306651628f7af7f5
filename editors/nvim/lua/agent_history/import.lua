-- :AgentHistory import [PATH]: transcripts into the history, progress as notifications.
-- Without PATH, every agent's history the sidecar finds: importTranscript without a path
-- reads its own list of the agents' default locations, so none is kept here.
local M = {}

local EVERY_AGENT = "every agent's history"

local running = {} -- workDoneToken -> what is being imported
local next_token = 0

--- $/progress from the sidecar: a notification per report of an import we started.
function M.progress(result)
  local what = result and running[result.token]
  if what and result.value.kind == "report" then
    vim.notify(string.format("agent-history: importing %s: %d%%", what, result.value.percentage or 0))
  end
end

--- The agents whose locations gave sessions ("gemini-cli 1, continue 2"), or nil.
local function agents(sources)
  local found = {}
  for _, source in ipairs(sources or {}) do
    if source.sessions > 0 then
      table.insert(found, string.format("%s %d", source.agent, source.sessions))
    end
  end
  return #found > 0 and table.concat(found, ", ") or nil
end

--- For an import of every agent's history: the places looked in when none was found.
local function nothing_found(result)
  local sources = result.sources or {}
  if #sources == 0 or #vim.tbl_filter(function(source) return source.found end, sources) > 0 then
    return nil
  end
  local places = table.concat(vim.tbl_map(function(source) return vim.fn.fnamemodify(source.path, ":~") end, sources), ", ")
  return string.format("no agent's history found on this machine (looked in %d places: %s); give a PATH", #sources, places)
end

local function summary(result)
  local told = string.format("%d messages in %d sessions from %d files", result.messages, #result.sessions, result.files)
  local from = agents(result.sources)
  return from and told .. " (" .. from .. ")" or told
end

function M.run(path)
  local history = require("agent_history")
  local what = path and vim.fn.expand(path) or EVERY_AGENT
  next_token = next_token + 1
  local token = "agent-history-import-" .. next_token
  running[token] = what
  vim.notify("agent-history: importing " .. what)
  local params = { path = path and what or nil, format = "auto", workDoneToken = token }
  history.request("history/importTranscript", params, function(err, result)
    running[token] = nil
    if err then
      return history.fail({ message = "import of " .. what .. " failed: " .. (err.message or vim.inspect(err)) })
    end
    local none = nothing_found(result)
    if none then
      return vim.notify("agent-history: " .. none, vim.log.levels.WARN)
    end
    vim.notify("agent-history: imported " .. what .. ": " .. summary(result))
  end, nil)
end

return M
