-- Agent History for Neovim: a client of the agent-history sidecar.
--
-- setup{} starts the sidecar through vim.lsp without attaching it to any buffer; the
-- :AgentHistory command browses, searches, shows and exports sessions; agent plugins use
-- the Lua API below (request, on_append) to share the one sidecar.
local M = {}

local defaults = {
  -- The sidecar command: an installed `agent-history`, else `python3 -m sidecar`.
  cmd = nil,
  -- initializationOptions for the sidecar (dbPath, projectId, readOnly, retention, …).
  init_options = {},
}

M.config = vim.deepcopy(defaults)
M.client_id = nil
local started = false -- setup() was called: a sidecar that died starts again on the next request
local RESTART_WAIT_MS = 10000
local append_listeners, change_listeners = {}, {}
local transcripts = {} -- session id -> buffer showing it

local function has_011()
  return vim.fn.has("nvim-0.11") == 1
end

local function default_cmd()
  if vim.fn.executable("agent-history") == 1 then
    return { "agent-history", "serve" }
  end
  return { "python3", "-m", "sidecar", "serve" }
end

--- The running sidecar client, or nil.
function M.client()
  return M.client_id and vim.lsp.get_client_by_id(M.client_id) or nil
end

local function on_append(_, result)
  for _, listener in ipairs(append_listeners) do
    pcall(listener, result)
  end
  local buffer = transcripts[result.sessionId]
  if buffer and vim.api.nvim_buf_is_valid(buffer) then
    M.show(result.sessionId) -- re-render the open transcript: live updates
  end
end

local function on_change(_, result)
  for _, listener in ipairs(change_listeners) do
    pcall(listener, result)
  end
end

--- Start the sidecar (once). Options: cmd, init_options.
function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts or {})
  started = true
  if M.client() then
    return M.client_id
  end
  local config = {
    name = "agent_history",
    cmd = M.config.cmd or default_cmd(),
    root_dir = vim.fn.getcwd(),
    init_options = vim.tbl_extend("keep", M.config.init_options, { projectId = vim.fn.getcwd() }),
    handlers = {
      ["history/didAppendMessages"] = on_append,
      ["history/didChangeSession"] = on_change,
    },
    on_exit = function(code)
      M.client_id = nil
      if code ~= 0 then
        vim.schedule(function()
          vim.notify(
            "agent-history sidecar exited (" .. code .. "); it starts again on the next request",
            vim.log.levels.WARN
          )
        end)
      end
    end,
  }
  if has_011() then
    M.client_id = vim.lsp.start(config, { attach = false })
  else
    M.client_id = vim.lsp.start_client(config)
  end
  return M.client_id
end

--- Send a history/* request. With a callback: async, callback(err, result). Without:
--- waits (up to timeout_ms) and returns result, err.
--- The running sidecar; after setup(), one started again if it died (it is waited for:
--- requests need an initialized sidecar).
local function running_client()
  if M.client() or not started then
    return M.client()
  end
  M.setup(M.config)
  vim.wait(RESTART_WAIT_MS, function()
    local client = M.client()
    return client ~= nil and client.initialized
  end, 20)
  return M.client()
end

function M.request(method, params, callback, timeout_ms)
  local client = running_client()
  if not client then
    local err = { message = "agent-history is not running: call require('agent_history').setup()" }
    if callback then
      return callback(err, nil)
    end
    return nil, err
  end
  if callback then
    local handler = function(err, result)
      callback(err, result)
    end
    if has_011() then
      return client:request(method, params or vim.empty_dict(), handler)
    end
    return client.request(method, params or vim.empty_dict(), handler)
  end
  local response
  if has_011() then
    response = client:request_sync(method, params or vim.empty_dict(), timeout_ms or 5000)
  else
    response = client.request_sync(method, params or vim.empty_dict(), timeout_ms or 5000)
  end
  if not response then
    return nil, { message = "agent-history did not answer " .. method }
  end
  return response.result, response.err
end

--- Call fn(params) for every history/didAppendMessages (this or any other process).
function M.on_append(fn)
  table.insert(append_listeners, fn)
end

--- Call fn(params) for every history/didChangeSession.
function M.on_change(fn)
  table.insert(change_listeners, fn)
end

local function fail(err)
  vim.notify("agent-history: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
end

local function scratch(name, text, filetype)
  local buffer = vim.fn.bufnr(name)
  if buffer == -1 then
    buffer = vim.api.nvim_create_buf(true, true)
    vim.api.nvim_buf_set_name(buffer, name)
  end
  vim.bo[buffer].modifiable = true
  vim.api.nvim_buf_set_lines(buffer, 0, -1, false, vim.split(text, "\n", { plain = true }))
  vim.bo[buffer].modifiable = false
  vim.bo[buffer].filetype = filetype
  vim.bo[buffer].bufhidden = "hide"
  return buffer
end

--- Show a session as a read-only markdown transcript; optionally at message `index`.
function M.show(session_id, index)
  local result, err = M.request("history/exportSession", { sessionId = session_id, format = "markdown" })
  if err then
    return fail(err)
  end
  local buffer = scratch("agent-history://" .. session_id, result.content, "markdown")
  transcripts[session_id] = buffer
  if vim.api.nvim_get_current_buf() ~= buffer and vim.fn.bufwinid(buffer) == -1 then
    vim.api.nvim_set_current_buf(buffer)
  end
  if index then
    local line = vim.fn.search("^### " .. index .. "\\. ", "nw")
    if line > 0 then
      vim.api.nvim_win_set_cursor(vim.fn.bufwinid(buffer), { line, 0 })
    end
  end
  return buffer
end

--- Pick a session (vim.ui.select), newest first, and show it.
function M.sessions()
  local result, err = M.request("history/listSessions", { limit = 200 })
  if err then
    return fail(err)
  end
  vim.ui.select(result.sessions, {
    prompt = "Agent History sessions",
    format_item = function(s)
      return string.format("%s  %s  %s (%d msgs)", s.updatedAt:sub(1, 16), s.projectId or "", s.title or s.id, s.messageCount)
    end,
  }, function(session)
    if session then
      M.show(session.id)
    end
  end)
end

--- Search everything; pick a hit and open its transcript at that message.
function M.search(query)
  local result, err = M.request("history/searchMessages", { query = query, limit = 50 })
  if err then
    return fail(err)
  end
  if #result.hits == 0 then
    return vim.notify("agent-history: nothing found for " .. query)
  end
  vim.ui.select(result.hits, {
    prompt = "Agent History: " .. query,
    format_item = function(hit)
      return string.format("%s #%d %s: %s", hit.createdAt:sub(1, 16), hit.index, hit.role, hit.snippet)
    end,
  }, function(hit)
    if hit then
      M.show(hit.sessionId, hit.index)
    end
  end)
end

--- Export a session to a file (format: markdown, json or jsonl).
function M.export(session_id, format, path)
  local result, err = M.request("history/exportSession", { sessionId = session_id, format = format or "markdown" })
  if err then
    return fail(err)
  end
  local file = assert(io.open(path, "w"))
  file:write(result.content)
  file:close()
  vim.notify("agent-history: exported to " .. path)
end

--- Token usage of one session, or grouped per model over everything.
function M.usage(session_id)
  local params = session_id and { sessionId = session_id } or { groupBy = "model" }
  local result, err = M.request("history/getUsage", params)
  if err then
    return fail(err)
  end
  local lines = { "Agent History token usage" }
  local function add(label, u)
    table.insert(lines, string.format("%-40s prompt %d  completion %d  cache read %d  cache write %d  thinking %d",
      label, u.promptTokens, u.completionTokens, u.cacheReadTokens, u.cacheCreationTokens, u.thinkingTokens))
  end
  add("total", result.total)
  for _, group in ipairs(result.groups or {}) do
    add(group.key, group.usage)
  end
  local buffer = scratch("agent-history://usage", table.concat(lines, "\n"), "text")
  vim.api.nvim_set_current_buf(buffer)
  return buffer
end

--- Sync now (init_options.sync must be set); says what moved.
function M.sync()
  local result, err = M.request("history/sync", vim.NIL)
  if err then
    return fail(err)
  end
  local summary = string.format("pushed %d, pulled %d messages", result.pushedMessages, result.pulledMessages)
  if result.online then
    vim.notify("agent-history: synced: " .. summary)
  else
    vim.notify("agent-history: offline (" .. (result.error or "no answer") .. "); changes wait", vim.log.levels.WARN)
  end
  return result
end

function M.command(args)
  local sub, rest = args.fargs[1], vim.list_slice(args.fargs, 2)
  if sub == "sessions" or sub == nil then
    return M.sessions()
  elseif sub == "search" then
    return M.search(table.concat(rest, " "))
  elseif sub == "show" then
    return M.show(rest[1])
  elseif sub == "export" then
    return M.export(rest[1], rest[2], rest[3] or (rest[1] .. "." .. (rest[2] == "markdown" and "md" or rest[2] or "md")))
  elseif sub == "usage" then
    return M.usage(rest[1])
  elseif sub == "sync" then
    return M.sync()
  end
  fail({ message = "unknown subcommand " .. sub .. " (sessions, search, show, export, usage, sync)" })
end

return M
