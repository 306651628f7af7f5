-- A sidecar command that cannot start (AH_BROKEN_CMD): commands fail at once with its
-- error, and :checkhealth runs it and reports that error.
local H = dofile(vim.fs.joinpath(vim.env.AH_TESTS, "harness.lua"))

H.run(function()
  H.record_notifications()
  local history = H.start(vim.json.decode(vim.env.AH_BROKEN_CMD))
  local began = vim.uv.hrtime()
  vim.cmd("AgentHistory sessions")
  local seconds = (vim.uv.hrtime() - began) / 1e9
  local note = H.noted(vim.log.levels.ERROR, { "No module named", "sidecar_missing" })
  H.step("a command fails at once with the start error", note ~= nil and seconds < 5, { seconds = seconds, notes = H.notes })
  local _, err = history.request("history/stats", nil)
  H.step("so does a request", err and err.message:find("No module named", 1, true), err)

  vim.cmd("checkhealth agent_history")
  local health = H.lines(0)
  H.step("checkhealth reports the command's error", health:find("ERROR", 1, true)
    and health:find("No module named sidecar_missing", 1, true) and not health:find("OK sidecar", 1, true), health)
  H.step("checkhealth says the plugin's version", health:find("agent_history " .. tostring(history.version), 1, true), health)
  vim.cmd.bwipeout({ bang = true })
  vim.wait(200, function() return false end) -- a scheduled warning would arrive by now
  H.step("no 'starts again' warning for a sidecar that never started",
    not H.noted(vim.log.levels.WARN, { "starts again" }), H.notes)
end)
