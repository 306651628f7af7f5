-- With snacks.nvim on the runtimepath (AH_SNACKS): search opens snacks.picker, matches
-- highlighted, the transcript as the preview; confirming opens it at the hit.
local H = dofile(vim.fs.joinpath(vim.env.AH_TESTS, "harness.lua"))

H.run(function()
  vim.opt.rtp:prepend(vim.env.AH_SNACKS)
  local history = H.start()
  H.wait_started(history)
  local session = history.request("history/createSession", { kind = "agent", title = "Fix the parser" })
  history.request("history/appendMessages", {
    sessionId = session.id,
    messages = { { role = "user", content = "Why does the parser choke on tabs?" } },
  })
  vim.wait(5000, function()
    local found = history.request("history/searchMessages", { query = "choke" })
    return found and #found.hits > 0
  end, 100)
  vim.cmd("AgentHistory search choke")
  local picker
  H.step("snacks.picker opens", vim.wait(5000, function()
    picker = require("snacks").picker.get()[1]
    return picker ~= nil and picker.list and picker.list.win.buf ~= nil
      and H.lines(picker.list.win.buf):find("choke", 1, true) ~= nil
  end, 20))
  local list = picker.list.win.buf
  local text = H.lines(list)
  local marked = {}
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(list, -1, 0, -1, { details = true })) do
    if mark[4].hl_group == "Search" then
      local line = vim.api.nvim_buf_get_lines(list, mark[2], mark[2] + 1, false)[1]
      table.insert(marked, line:sub(mark[3] + 1, mark[4].end_col))
    end
  end
  H.step("the hit reads session · role #index: snippet, no **", text:find("Fix the parser · user #0: Why does the parser choke", 1, true)
    and not text:find("**", 1, true), text)
  H.step("the match is highlighted", vim.deep_equal(marked, { "choke" }), marked)
  local previewed = vim.wait(5000, function()
    local buf = picker.preview and picker.preview.win.buf
    return buf and H.lines(buf):find("# Fix the parser", 1, true) ~= nil
  end, 20)
  local preview = picker.preview.win.win
  H.step("the preview is the transcript at the hit", previewed and vim.api.nvim_win_call(preview, function()
    return vim.fn.getline(".")
  end):find("^### 0%. User"))
  picker:action("confirm")
  H.step("confirming opens the transcript at the hit", vim.wait(5000, function()
    return vim.api.nvim_buf_get_name(0) == "agent-history://" .. session.id
  end, 20) and vim.fn.getline("."):find("^### 0%. User"), { vim.api.nvim_buf_get_name(0), vim.fn.getline(".") })
end)
