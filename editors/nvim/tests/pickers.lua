-- With snacks.nvim or telescope (AH_PICKER) on the runtimepath (AH_PICKER_RTP, paths
-- separated by commas): search opens that picker, matches highlighted, the transcript as
-- the preview at the hit; confirming opens the transcript at the hit.
local H = dofile(vim.fs.joinpath(vim.env.AH_TESTS, "harness.lua"))

-- How to read each picker's windows once it shows: {list buffer, preview window, confirm}.
local adapters = {
  snacks = function()
    local picker = require("snacks").picker.get()[1]
    if picker and picker.list and picker.list.win.buf and picker.preview and picker.preview.win.win then
      return picker.list.win.buf, picker.preview.win.win, function()
        picker:action("confirm")
      end
    end
  end,
  telescope = function()
    local prompt = vim.api.nvim_get_current_buf()
    if vim.bo[prompt].filetype ~= "TelescopePrompt" then
      return nil
    end
    local picker = require("telescope.actions.state").get_current_picker(prompt)
    local preview = picker.previewer and picker.previewer.state and picker.previewer.state.winid
    if picker.results_bufnr and preview then
      return picker.results_bufnr, preview, function()
        require("telescope.actions").select_default(prompt)
      end
    end
  end,
}

H.run(function()
  vim.o.columns, vim.o.lines = 160, 40 -- wide enough for telescope to show its preview
  for _, path in ipairs(vim.split(vim.env.AH_PICKER_RTP, ",")) do
    vim.opt.rtp:prepend(path)
  end
  local history = H.start()
  H.wait_started(history)
  H.step("the picker in use", require("agent_history.backends").chosen() == vim.env.AH_PICKER,
    require("agent_history.backends").chosen())
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
  local list, preview, confirm
  H.step("the picker opens", vim.wait(5000, function()
    list, preview, confirm = adapters[vim.env.AH_PICKER]()
    return list ~= nil and H.lines(list):find("choke", 1, true) ~= nil
  end, 20))
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
  local function previewed()
    return vim.api.nvim_win_call(preview, function()
      return vim.fn.getline(".")
    end)
  end
  H.step("the preview is the transcript at the hit", vim.wait(5000, function()
    return previewed():find("^### 0%. User") ~= nil
  end, 20), previewed())
  confirm()
  H.step("confirming opens the transcript at the hit", vim.wait(5000, function()
    return vim.api.nvim_buf_get_name(0) == "agent-history://" .. session.id
  end, 20) and vim.fn.getline("."):find("^### 0%. User"), { vim.api.nvim_buf_get_name(0), vim.fn.getline(".") })
end)
