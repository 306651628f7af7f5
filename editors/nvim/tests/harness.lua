-- Shared by the headless scripts tests/test_nvim.py runs. Environment: AH_CMD (JSON
-- list), AH_DB, AH_EXCHANGE (a directory shared with the test, where results.json goes).
local H = { results = { steps = {} }, notes = {} }
local exchange = vim.env.AH_EXCHANGE

function H.write(name, value)
  local file = assert(io.open(exchange .. "/" .. name, "w"))
  file:write(vim.json.encode(value))
  file:close()
end

function H.step(name, ok, detail)
  table.insert(H.results.steps, { name = name, ok = ok and true or false, detail = detail })
end

--- A step whose check may raise (code under test missing or broken): that fails the step only.
function H.check(name, fn)
  local ran, ok, detail = pcall(fn)
  H.step(name, ran and ok, ran and detail or ok)
end

--- Keep every vim.notify as {message, level} in H.notes.
function H.record_notifications()
  vim.notify = function(message, level)
    table.insert(H.notes, { message = message, level = level or vim.log.levels.INFO })
  end
end

--- The first recorded notification at `level` whose message contains every one of `parts`.
function H.noted(level, parts)
  for _, note in ipairs(H.notes) do
    local all = note.level == level
    for _, part in ipairs(parts) do
      all = all and note.message:find(part, 1, true) ~= nil
    end
    if all then
      return note
    end
  end
end

--- The plugin, loaded as a user's config would, its sidecar started on AH_DB.
function H.start(cmd)
  vim.cmd.runtime("plugin/agent_history.lua")
  local history = require("agent_history")
  history.setup({ cmd = cmd or vim.json.decode(vim.env.AH_CMD), init_options = { dbPath = vim.env.AH_DB } })
  return history
end

function H.wait_started(history)
  H.step("started", vim.wait(15000, function()
    local client = history.client()
    return client ~= nil and client.initialized
  end, 20))
end

function H.lines(buffer)
  return table.concat(vim.api.nvim_buf_get_lines(buffer, 0, -1, false), "\n")
end

--- Run the scenario, write results.json, then quit with `:qa` (so a modified buffer makes
--- the test fail: qa_failed is written and Neovim leaves with :qa!).
function H.run(scenario)
  local ok, failure = xpcall(scenario, debug.traceback)
  H.results.error = not ok and failure or nil
  H.write("results.json", H.results)
  local quit, why = pcall(vim.cmd, "qa")
  if not quit then
    H.write("qa_failed", { error = why })
  end
  vim.cmd("qa!")
end

return H
