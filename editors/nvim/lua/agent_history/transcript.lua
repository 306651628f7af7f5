-- Transcript buffers: `agent-history://<session id>`, read-only markdown, updated in place.
--
-- A transcript is `nofile`, `nomodifiable` except while rendering, and `bufhidden=hide`:
-- hidden it stays loaded and live; after :bdelete (unloaded) or :bwipeout it is never
-- brought back by an append, only by opening it again.
local M = {}

local PREFIX = "agent-history://"
local MESSAGE = "^### \\d\\+\\. "
local sessions = {} -- buffer -> session (for gf: its projectId)

local function history()
  return require("agent_history")
end

--- The loaded transcript buffer of a session, or nil.
local function loaded(session_id)
  local buffer = vim.fn.bufnr("^" .. PREFIX .. session_id .. "$")
  if buffer ~= -1 and vim.api.nvim_buf_is_loaded(buffer) then
    return buffer
  end
end

--- Fold level for line `lnum`: tool calls and long results are <details> blocks.
function M.foldexpr(lnum)
  local line = vim.fn.getline(lnum)
  if line:find("^<details>") then
    return ">1"
  elseif line:find("^</details>") then
    return "<1"
  end
  return "="
end

function M.foldtext()
  local line = vim.fn.getline(vim.v.foldstart)
  local summary = line:match("<summary>(.-)</summary>") or line
  return string.format("▸ %s (%d lines)", summary, vim.v.foldend - vim.v.foldstart + 1)
end

local function window_options(window)
  local options = {
    foldmethod = "expr",
    foldexpr = "v:lua.require'agent_history.transcript'.foldexpr(v:lnum)",
    foldtext = "v:lua.require'agent_history.transcript'.foldtext()",
    foldlevel = 0,
    foldenable = true,
    conceallevel = 2,
  }
  for name, value in pairs(options) do
    vim.api.nvim_set_option_value(name, value, { scope = "local", win = window })
  end
end

--- Jump to the next (1) or previous (-1) message heading, `count` times.
function M.jump(direction, count)
  for _ = 1, math.max(count or 1, 1) do
    if vim.fn.search(MESSAGE, direction > 0 and "W" or "bW") == 0 then
      return
    end
  end
end

--- Open the file path under the cursor (a tool call's argument), relative to the session's project.
function M.open_file()
  local path = vim.fn.expand("<cfile>")
  local session = sessions[vim.api.nvim_get_current_buf()]
  if path ~= "" and not vim.startswith(path, "/") and session and session.projectId then
    path = vim.fs.joinpath(session.projectId, path)
  end
  if path == "" or vim.fn.filereadable(path) == 0 then
    return history().fail({ message = "no readable file under the cursor" .. (path ~= "" and ": " .. path or "") })
  end
  vim.cmd.edit(vim.fn.fnameescape(path))
end

function M.close()
  if #vim.api.nvim_tabpage_list_wins(0) > 1 then
    return vim.cmd.close()
  end
  vim.cmd.bdelete()
end

local function keymaps(buffer)
  local function map(lhs, rhs, desc)
    vim.keymap.set("n", lhs, rhs, { buffer = buffer, silent = true, nowait = true, desc = desc })
  end
  map("q", M.close, "Close the transcript")
  map("]]", function()
    M.jump(1, vim.v.count1)
  end, "Next message")
  map("[[", function()
    M.jump(-1, vim.v.count1)
  end, "Previous message")
  map("gf", M.open_file, "Open the file path under the cursor")
end

local function create(session_id)
  local buffer = vim.api.nvim_create_buf(true, true)
  vim.api.nvim_buf_set_name(buffer, PREFIX .. session_id)
  vim.bo[buffer].bufhidden = "hide"
  vim.bo[buffer].swapfile = false
  vim.bo[buffer].modifiable = false
  vim.bo[buffer].filetype = "markdown"
  keymaps(buffer)
  vim.api.nvim_create_autocmd("BufWinEnter", {
    buffer = buffer,
    callback = function()
      window_options(vim.api.nvim_get_current_win())
    end,
  })
  vim.api.nvim_create_autocmd("BufUnload", {
    buffer = buffer,
    callback = function()
      sessions[buffer] = nil
    end,
  })
  return buffer
end

--- Replace the buffer's text, changing only the lines that differ (an append touches the
--- end and the header), so folds and cursors elsewhere stay; windows at the end follow.
local function render(buffer, text)
  local new = vim.split(text, "\n", { plain = true })
  local old = vim.api.nvim_buf_get_lines(buffer, 0, -1, false)
  local first = 1
  while first <= #old and first <= #new and old[first] == new[first] do
    first = first + 1
  end
  local followers = {}
  for _, window in ipairs(vim.fn.win_findbuf(buffer)) do
    if vim.api.nvim_win_get_cursor(window)[1] == #old and #old > 1 then
      table.insert(followers, window)
    end
  end
  vim.bo[buffer].modifiable = true
  vim.api.nvim_buf_set_lines(buffer, first - 1, -1, false, vim.list_slice(new, first))
  vim.bo[buffer].modifiable = false
  vim.bo[buffer].modified = false
  for _, window in ipairs(followers) do
    vim.api.nvim_win_set_cursor(window, { #new, 0 })
  end
end

local function fetch(session_id)
  local export, err = history().request("history/exportSession", { sessionId = session_id, format = "markdown" })
  return export and export.content, err
end

--- Show a session in the current window; optionally at message `index`. Returns the buffer.
function M.open(session_id, index)
  local text, err = fetch(session_id)
  if err then
    return history().fail(err)
  end
  -- A transcript unloaded by :bd is replaced: naming the new buffer wipes the unloaded one.
  local buffer = loaded(session_id) or create(session_id)
  vim.bo[buffer].buflisted = true
  sessions[buffer] = history().request("history/getSession", { sessionId = session_id })
  render(buffer, text)
  if vim.api.nvim_get_current_buf() ~= buffer then
    vim.api.nvim_set_current_buf(buffer)
  end
  window_options(vim.api.nvim_get_current_win())
  if index then
    local line = vim.fn.search("^### " .. index .. "\\. ", "nw")
    if line > 0 then
      vim.api.nvim_win_set_cursor(0, { line, 0 })
    end
  end
  return buffer
end

--- After an append: re-render the session's transcript if it is loaded, in place, in no
--- particular window; a transcript not loaded stays so.
function M.refresh(session_id)
  local buffer = loaded(session_id)
  if not buffer then
    return
  end
  local text, err = fetch(session_id)
  if not err and vim.api.nvim_buf_is_loaded(buffer) then
    render(buffer, text)
  end
end

return M
