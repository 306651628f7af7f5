-- Driven by tests/test_nvim.py in headless Neovim against the real sidecar.
-- Environment: AH_CMD (JSON list), AH_DB, AH_EXCHANGE (a directory shared with the test).
local exchange = vim.env.AH_EXCHANGE
local results = { steps = {} }

local function write(name, value)
  local file = assert(io.open(exchange .. "/" .. name, "w"))
  file:write(vim.json.encode(value))
  file:close()
end

local function step(name, ok, detail)
  table.insert(results.steps, { name = name, ok = ok and true or false, detail = detail })
end

local ok, failure = xpcall(function()
  vim.cmd.runtime("plugin/agent_history.lua")
  local history = require("agent_history")
  history.setup({ cmd = vim.json.decode(vim.env.AH_CMD), init_options = { dbPath = vim.env.AH_DB } })
  step("started", vim.wait(10000, function()
    local client = history.client()
    return client ~= nil and client.initialized
  end, 20))

  local session = history.request("history/createSession", { kind = "agent", title = "from neovim" })
  local appended = {}
  history.on_append(function(params)
    local now = vim.uv.gettimeofday()
    for _, message in ipairs(params.messages) do
      appended[message.content] = now
    end
  end)
  history.request("history/appendMessages", {
    sessionId = session.id,
    messages = { { role = "user", content = "written by the plugin" } },
  })
  step("own append announced", vim.wait(2000, function() return appended["written by the plugin"] ~= nil end, 10))
  history.show(session.id)

  -- Another process appends to the same database: the test does it now.
  write("session", { id = session.id })
  step("other process's append announced", vim.wait(5000, function()
    return appended["written by another process"] ~= nil
  end, 5))
  results.heard_at = appended["written by another process"]

  local transcript = table.concat(vim.api.nvim_buf_get_lines(vim.fn.bufnr("agent-history://" .. session.id), 0, -1, false), "\n")
  step("open transcript updated live", transcript:find("written by another process", 1, true) ~= nil, transcript:sub(1, 200))

  local found
  vim.wait(5000, function()
    local result = history.request("history/searchMessages", { query = "another process" })
    found = result and result.hits[1]
    return found ~= nil
  end, 100)
  step("search finds it", found ~= nil and found.sessionId == session.id)

  -- :AgentHistory search picks through vim.ui.select: choose the first hit.
  vim.ui.select = function(items, _, choose) choose(items[1]) end
  vim.cmd("AgentHistory search another process")
  step("search opens the transcript at the hit", vim.api.nvim_buf_get_name(0):find(session.id, 1, true) ~= nil)
  vim.cmd("AgentHistory sessions")
  step("sessions picker shows a session", vim.api.nvim_buf_get_name(0):find("agent-history://", 1, true) ~= nil)

  vim.cmd("AgentHistory export " .. session.id .. " jsonl " .. exchange .. "/export.jsonl")
  vim.cmd("AgentHistory usage")
  step("usage buffer", vim.api.nvim_buf_get_name(0):find("usage", 1, true) ~= nil)

  local _, err = history.request("history/getSession", { sessionId = "no such session" })
  step("errors come back as errors", err ~= nil and err.code == -32001, err)
  local _, unsynced = history.request("history/sync", vim.NIL)
  step("sync without a remote is refused", unsynced ~= nil and unsynced.code == -32600, unsynced)

  -- The sidecar dies (kill -9): the next request starts another and is answered.
  local sidecars = vim.api.nvim_get_proc_children(vim.fn.getpid())
  for _, pid in ipairs(sidecars) do
    vim.uv.kill(pid, "sigkill")
  end
  step("the sidecar died", #sidecars == 1 and vim.wait(5000, function() return history.client() == nil end, 10), sidecars)
  local again, again_err = history.request("history/getSession", { sessionId = session.id })
  step("a request after it died starts another", again ~= nil and again.id == session.id, again_err)

  vim.cmd("checkhealth agent_history")
  local health = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  step("checkhealth", health:find("OK database", 1, true) ~= nil, health:sub(1, 400))
  step("checkhealth says how far the search index is", health:find("search index: ", 1, true) ~= nil, health:sub(1, 600))
end, debug.traceback)

results.error = not ok and failure or nil
write("results.json", results)
vim.cmd("qa!")
