-- :AgentHistory usage: token usage and its cost as an aligned table with thousands separators.
local M = {}

local COLUMNS = {
  { "promptTokens", "prompt" },
  { "completionTokens", "completion" },
  { "cacheReadTokens", "cache read" },
  { "cacheCreationTokens", "cache write" },
  { "thinkingTokens", "thinking" },
}

--- 1234567 -> "1,234,567".
function M.thousands(number)
  local digits = tostring(math.floor(number or 0))
  local sign, rest = digits:match("^(-?)(%d+)$")
  return sign .. rest:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
end

--- USD with cents; `+?` when some calls' model has no known price (left out, never free).
function M.dollars(amount, unknown)
  return string.format("$%.2f", amount or 0) .. (unknown and "+?" or "")
end

--- The table's lines: a header, then `total` and one row per group, right-aligned.
function M.lines(result)
  local rows = { { "" } }
  for _, column in ipairs(COLUMNS) do
    table.insert(rows[1], column[2])
  end
  table.insert(rows[1], "cost")
  local function add(label, usage, cost, unknown)
    local row = { label }
    for _, column in ipairs(COLUMNS) do
      table.insert(row, M.thousands(usage[column[1]]))
    end
    table.insert(row, M.dollars(cost, unknown))
    table.insert(rows, row)
  end
  add("total", result.total, result.cost, #(result.unpricedModels or {}) > 0)
  for _, group in ipairs(result.groups or {}) do
    add(group.key ~= vim.NIL and group.key or "(none)", group.usage, group.cost, (group.unpricedCalls or 0) > 0)
  end
  local widths = {}
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do
      widths[i] = math.max(widths[i] or 0, vim.fn.strdisplaywidth(cell))
    end
  end
  local lines = {}
  for r, row in ipairs(rows) do
    local cells = {}
    for i, cell in ipairs(row) do
      local pad = string.rep(" ", widths[i] - vim.fn.strdisplaywidth(cell))
      cells[i] = i == 1 and cell .. pad or pad .. cell
    end
    lines[r] = table.concat(cells, "  ")
  end
  return lines
end

function M.open(session_id)
  local history = require("agent_history")
  local params = session_id and { sessionId = session_id } or { groupBy = "model" }
  local result, err = history.request("history/getUsage", params)
  if err then
    return history.fail(err)
  end
  local name = "agent-history://usage" .. (session_id and "/" .. session_id or "")
  local buffer = vim.fn.bufnr("^" .. name .. "$")
  if buffer == -1 then
    buffer = vim.api.nvim_create_buf(true, true)
    vim.api.nvim_buf_set_name(buffer, name)
    vim.bo[buffer].bufhidden = "wipe"
    vim.keymap.set("n", "q", require("agent_history.transcript").close, { buffer = buffer, nowait = true })
  end
  vim.bo[buffer].modifiable = true
  vim.api.nvim_buf_set_lines(buffer, 0, -1, false, M.lines(result))
  vim.bo[buffer].modifiable = false
  vim.api.nvim_set_current_buf(buffer)
  return buffer
end

return M
