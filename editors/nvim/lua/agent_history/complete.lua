-- Completion for :AgentHistory: subcommands, session ids (by id or by title), formats, paths.
local M = {}

local FORMATS = { "markdown", "json", "jsonl" }

local function starting(items, arglead)
  return vim.tbl_filter(function(item)
    return vim.startswith(item, arglead)
  end, items)
end

--- Session ids starting with `arglead`; else those whose title or preview contains it.
function M.session_ids(arglead)
  local result = require("agent_history").request("history/listSessions", { limit = 200 }, nil, 2000)
  local ids, named = {}, {}
  for _, session in ipairs(result and result.sessions or {}) do
    if vim.startswith(session.id, arglead) then
      table.insert(ids, session.id)
    end
    local name = require("agent_history.picker").name(session):lower()
    if arglead ~= "" and name:find(arglead:lower(), 1, true) then
      table.insert(named, session.id)
    end
  end
  return #ids > 0 and ids or named
end

--- Candidates for `arglead`, the word being typed; `before` is the line up to the cursor.
function M.complete(arglead, before)
  local words = vim.split(vim.trim(before), "%s+")
  local position = #words - (arglead == "" and 0 or 1) -- words before the one being typed
  local sub = words[2]
  if position <= 1 then
    local names = vim.tbl_keys(require("agent_history").subcommands)
    table.sort(names)
    return starting(names, arglead)
  end
  if (sub == "show" or sub == "export" or sub == "usage") and position == 2 then
    return M.session_ids(arglead)
  elseif sub == "export" and position == 3 then
    return starting(FORMATS, arglead)
  elseif (sub == "export" and position == 4) or (sub == "import" and position == 2) then
    return vim.fn.getcompletion(arglead, "file")
  end
  return {}
end

return M
