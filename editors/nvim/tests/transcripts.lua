-- Transcript buffers: appends update them in place and never change windows or bring back
-- a deleted one; q, ]], [[, gf, folds, and a cursor that follows only from the end.
local H = dofile(vim.fs.joinpath(vim.env.AH_TESTS, "harness.lua"))

H.run(function()
  local history = H.start()
  H.wait_started(history)
  local source = vim.fs.joinpath(vim.env.AH_EXCHANGE, "hello.py")
  vim.fn.writefile({ "print('hello')" }, source)
  local session = history.request("history/createSession", { kind = "agent", title = "Fix the parser" })
  local output = {}
  for i = 1, 30 do
    output[i] = "line " .. i .. " of a long tool output"
  end
  local heard = {}
  history.on_append(function(params)
    for _, message in ipairs(params.messages) do
      heard[message.content] = true
    end
  end)
  local function append(content)
    history.request("history/appendMessages", {
      sessionId = session.id,
      messages = { { role = "assistant", content = content } },
    })
    return vim.wait(5000, function()
      return heard[content]
    end, 10)
  end
  history.request("history/appendMessages", {
    sessionId = session.id,
    messages = {
      { role = "user", content = "Why does the parser choke on tabs?" },
      {
        role = "assistant",
        content = "Let me look.",
        toolCalls = { { id = "t1", name = "read_file", arguments = { file_path = source } } },
      },
      { role = "tool", toolCallId = "t1", content = table.concat(output, "\n") },
    },
  })

  local buffer = history.show(session.id)
  local name = "agent-history://" .. session.id
  local step = H.step
  step("transcript options", vim.bo[buffer].buftype == "nofile" and not vim.bo[buffer].modifiable
    and vim.bo[buffer].bufhidden == "hide" and vim.bo[buffer].filetype == "markdown",
    { vim.bo[buffer].buftype, vim.bo[buffer].modifiable, vim.bo[buffer].bufhidden })

  local call = vim.fn.search("^<details><summary>Tool call", "nw")
  local result = vim.fn.search("^<details><summary>Result of t1", "nw")
  step("tool call and long result are closed folds", call > 0 and result > 0
    and vim.fn.foldclosed(call) == call and vim.fn.foldclosed(result) == result,
    { call, result, vim.fn.foldclosed(call), vim.fn.foldclosed(result), vim.wo.foldmethod })

  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  vim.cmd("normal ]]")
  local first = vim.fn.getline(".")
  vim.cmd("normal ]]")
  local second = vim.fn.getline(".")
  vim.cmd("normal [[")
  step("]] and [[ move between messages", first:find("^### 0%. User") and second:find("^### 1%. Assistant")
    and vim.fn.getline("."):find("^### 0%. User"), { first, second, vim.fn.getline(".") })

  vim.cmd("normal zR")
  local path_line = vim.fn.search(vim.fn.escape(source, "/.\\"), "w")
  local column = vim.fn.getline(path_line):find(source, 1, true)
  vim.api.nvim_win_set_cursor(0, { path_line, column })
  vim.cmd("normal gf")
  step("gf opens the tool call's file", vim.api.nvim_buf_get_name(0) == source, vim.api.nvim_buf_get_name(0))
  vim.cmd.buffer(buffer)

  vim.api.nvim_win_set_cursor(0, { vim.api.nvim_buf_line_count(buffer), 0 })
  local followed = append("the cursor was at the end")
  step("at the end, the cursor follows a new message", followed
    and vim.api.nvim_win_get_cursor(0)[1] == vim.api.nvim_buf_line_count(buffer)
    and H.lines(buffer):find("the cursor was at the end", 1, true),
    { vim.api.nvim_win_get_cursor(0)[1], vim.api.nvim_buf_line_count(buffer) })
  vim.api.nvim_win_set_cursor(0, { 3, 0 })
  append("the cursor was near the top")
  step("elsewhere, the cursor stays", vim.api.nvim_win_get_cursor(0)[1] == 3
    and H.lines(buffer):find("the cursor was near the top", 1, true), vim.api.nvim_win_get_cursor(0))

  -- The user goes on editing another file: an append updates the hidden transcript only.
  vim.cmd.edit(vim.fs.joinpath(vim.env.AH_EXCHANGE, "init.lua"))
  local editing, window = vim.api.nvim_get_current_buf(), vim.api.nvim_get_current_win()
  local heard_it = append("while the user edits init.lua")
  step("an append while another buffer is current leaves it current", heard_it
    and vim.api.nvim_get_current_buf() == editing and vim.api.nvim_get_current_win() == window
    and vim.fn.bufwinid(buffer) == -1, vim.api.nvim_buf_get_name(0))
  step("the hidden transcript is updated", H.lines(buffer):find("while the user edits init.lua", 1, true) ~= nil)

  vim.cmd.buffer(buffer)
  vim.cmd.split()
  local windows = #vim.api.nvim_tabpage_list_wins(0)
  vim.cmd("normal q")
  step("q closes the transcript's window", #vim.api.nvim_tabpage_list_wins(0) == windows - 1)

  vim.cmd.buffer(buffer)
  vim.cmd.bdelete(buffer)
  local after_bd = append("after the transcript was deleted")
  local again = vim.fn.bufnr(name)
  step("after :bd an append creates no buffer", after_bd
    and (again == -1 or (not vim.api.nvim_buf_is_loaded(again) and not vim.bo[again].buflisted))
    and not vim.api.nvim_buf_get_name(0):find("agent-history://", 1, true),
    { again, again ~= -1 and vim.api.nvim_buf_is_loaded(again), vim.api.nvim_buf_get_name(0) })
  step("nothing is modified", #vim.fn.getbufinfo({ bufmodified = 1 }) == 0, vim.fn.getbufinfo({ bufmodified = 1 }))

  local reopened = history.show(session.id)
  step("opening it again shows every message", H.lines(reopened):find("after the transcript was deleted", 1, true) ~= nil)
end)
