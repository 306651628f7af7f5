-- Agent History for Neovim: a client of the agent-history sidecar.
--
-- setup{} starts the sidecar through vim.lsp without attaching it to any buffer; the
-- :AgentHistory command browses, searches, shows and exports sessions; agent plugins use
-- the Lua API below (request, on_append) to share the one sidecar. See :help agent-history.
local M = {}

M.version = "0.2.0"

local defaults = {
  -- The sidecar command: an installed `agent-history`, else `python3 -m sidecar`.
  cmd = nil,
  -- initializationOptions for the sidecar (dbPath, projectId, readOnly, retention, …).
  init_options = {},
  -- Pickers: "auto" (snacks.picker or telescope when installed, else vim.ui.select),
  -- "snacks", "telescope" or "select".
  picker = "auto",
}

M.config = vim.deepcopy(defaults)
M.client_id = nil
local started = false -- setup() was called: a sidecar that died starts again on the next request
local START_WAIT_MS = 10000
local append_listeners, change_listeners = {}, {}
local served = {} -- client ids of sidecars that initialized

local function has_011()
  return vim.fn.has("nvim-0.11") == 1
end

--- The sidecar command setup() runs.
function M.command_line()
  if M.config.cmd then
    return M.config.cmd
  end
  if vim.fn.executable("agent-history") == 1 then
    return { "agent-history", "serve" }
  end
  return { "python3", "-m", "sidecar", "serve" }
end

--- Why `cmd` cannot serve, or nil when it can: it runs with stdin closed (a sidecar then
--- exits at once, 0), so an import error or a bad option comes back as the command says it.
function M.probe(cmd)
  if vim.fn.executable(cmd[1]) ~= 1 then
    return "command not found: " .. cmd[1]
  end
  local ok, process = pcall(vim.system, cmd, { stdin = true, text = true })
  if not ok then
    return tostring(process)
  end
  process:write(nil)
  local result = process:wait(START_WAIT_MS)
  if result.code == 0 and result.signal == 0 then
    return nil
  end
  local lines = vim.split(vim.trim(result.stderr or ""), "\n")
  local last = lines[#lines] ~= "" and lines[#lines] or ("exited with code " .. result.code)
  return table.concat(cmd, " ") .. ": " .. last
end

--- The running sidecar client, or nil.
function M.client()
  return M.client_id and vim.lsp.get_client_by_id(M.client_id) or nil
end

local function on_append(_, result)
  for _, listener in ipairs(append_listeners) do
    pcall(listener, result)
  end
  require("agent_history.transcript").refresh(result.sessionId)
end

local function on_change(_, result)
  for _, listener in ipairs(change_listeners) do
    pcall(listener, result)
  end
end

local function on_progress(err, result, ctx)
  vim.lsp.handlers["$/progress"](err, result, ctx)
  require("agent_history.import").progress(result)
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
    cmd = M.command_line(),
    root_dir = vim.fn.getcwd(),
    init_options = vim.tbl_extend("keep", M.config.init_options, { projectId = vim.fn.getcwd() }),
    handlers = {
      ["history/didAppendMessages"] = on_append,
      ["history/didChangeSession"] = on_change,
      ["$/progress"] = on_progress,
    },
    on_init = function(client)
      served[client.id] = true
    end,
    on_exit = function(code, _, client_id)
      if M.client_id == client_id then
        M.client_id = nil
      end
      -- A sidecar that never initialized is reported by the request that started it.
      if code ~= 0 and served[client_id] then
        vim.schedule(function()
          vim.notify(
            "agent-history sidecar exited (" .. code .. "); it starts again on the next request",
            vim.log.levels.WARN
          )
        end)
      end
    end,
  }
  if vim.fn.executable(config.cmd[1]) ~= 1 then
    return nil
  end
  if has_011() then
    M.client_id = vim.lsp.start(config, { attach = false, silent = true })
  else
    M.client_id = vim.lsp.start_client(config)
  end
  return M.client_id
end

--- The initialized sidecar, started (again) if setup() was called; else nil and why.
--- A sidecar that exits before it initializes is run once more to say why (M.probe).
local function running_client()
  if not started then
    return nil, { message = "agent-history is not running: call require('agent_history').setup()" }
  end
  if not M.client() then
    M.setup(M.config)
  end
  vim.wait(START_WAIT_MS, function()
    local client = M.client()
    return client == nil or client.initialized
  end, 20)
  local client = M.client()
  if client and client.initialized then
    return client
  end
  local reason = M.probe(M.command_line()) or "it did not initialize within " .. START_WAIT_MS / 1000 .. " s"
  return nil, { message = "the sidecar cannot start: " .. reason }
end

--- Send a history/* request. With a callback: async, callback(err, result). Without:
--- waits (up to timeout_ms) and returns result, err.
function M.request(method, params, callback, timeout_ms)
  local client, failure = running_client()
  if not client then
    if callback then
      return callback(failure, nil)
    end
    return nil, failure
  end
  params = params or vim.empty_dict()
  if callback then
    if has_011() then
      return client:request(method, params, callback)
    end
    return client.request(method, params, callback)
  end
  local response
  if has_011() then
    response = client:request_sync(method, params, timeout_ms or 5000)
  else
    response = client.request_sync(method, params, timeout_ms or 5000)
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

function M.fail(err)
  vim.notify("agent-history: " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
end

--- Show a session as a read-only markdown transcript; optionally at message `index`.
function M.show(session_id, index)
  return require("agent_history.transcript").open(session_id, index)
end

--- Pick a session, newest first, and show it.
function M.sessions()
  local result, err = M.request("history/listSessions", { limit = 200 })
  if err then
    return M.fail(err)
  end
  if #result.sessions == 0 then
    return vim.notify(
      "agent-history: no sessions yet: :AgentHistory import brings in the history of every agent it finds"
        .. " (Claude Code, Codex, Cursor, Copilot, Gemini CLI, …)"
    )
  end
  require("agent_history.picker").sessions(result.sessions, function(session)
    M.show(session.id)
  end)
end

--- Search everything; pick a hit and open its transcript at that message.
function M.search(query)
  local result, err = M.request("history/searchMessages", { query = query, limit = 50 })
  if err then
    return M.fail(err)
  end
  if #result.hits == 0 then
    return vim.notify("agent-history: nothing found for " .. query)
  end
  require("agent_history.picker").hits(query, result.hits, function(hit)
    M.show(hit.sessionId, hit.index)
  end)
end

--- Export a session to a file (format: markdown, json or jsonl).
function M.export(session_id, format, path)
  local result, err = M.request("history/exportSession", { sessionId = session_id, format = format or "markdown" })
  if err then
    return M.fail(err)
  end
  local file, reason = io.open(vim.fn.expand(path), "w")
  if not file then
    return M.fail({ message = "cannot export to " .. path .. ": " .. reason })
  end
  file:write(result.content)
  file:close()
  vim.notify("agent-history: exported to " .. path)
end

--- Token usage of one session, or grouped per model over everything.
function M.usage(session_id)
  return require("agent_history.usage").open(session_id)
end

--- Import transcripts from PATH, or from the agents' own folders.
function M.import(path)
  return require("agent_history.import").run(path)
end

--- Sync now (init_options.sync must be set); says what moved.
function M.sync()
  local result, err = M.request("history/sync", vim.NIL)
  if err then
    return M.fail(err)
  end
  local summary = string.format("pushed %d, pulled %d messages", result.pushedMessages, result.pulledMessages)
  if result.online then
    vim.notify("agent-history: synced: " .. summary)
  else
    vim.notify("agent-history: offline (" .. (result.error or "no answer") .. "); changes wait", vim.log.levels.WARN)
  end
  return result
end

local function export_path(id, format)
  local extension = { markdown = "md", json = "json", jsonl = "jsonl" }
  return id .. "." .. (extension[format or "markdown"] or format)
end

M.subcommands = {
  sessions = function()
    return M.sessions()
  end,
  search = function(rest)
    return M.search(table.concat(rest, " "))
  end,
  show = function(rest)
    return M.show(rest[1])
  end,
  export = function(rest)
    return M.export(rest[1], rest[2], rest[3] or export_path(rest[1], rest[2]))
  end,
  usage = function(rest)
    return M.usage(rest[1])
  end,
  import = function(rest)
    return M.import(rest[1])
  end,
  sync = function()
    return M.sync()
  end,
}

function M.command(args)
  local sub, rest = args.fargs[1] or "sessions", vim.list_slice(args.fargs, 2)
  local run = M.subcommands[sub]
  if not run then
    local names = vim.tbl_keys(M.subcommands)
    table.sort(names)
    return M.fail({ message = "unknown subcommand " .. sub .. " (" .. table.concat(names, ", ") .. ")" })
  end
  if (sub == "show" or sub == "export") and not rest[1] then
    return M.fail({ message = sub .. " needs a session id" })
  end
  return run(rest)
end

return M
