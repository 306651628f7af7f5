-- Commands and their conventions: export errors, completion, picker items, search items
-- without `**`, the usage table, import, :help, <Plug> mappings.
local H = dofile(vim.fs.joinpath(vim.env.AH_TESTS, "harness.lua"))

H.run(function()
  H.record_notifications()
  local history = H.start()
  H.wait_started(history)
  local picker = setmetatable({}, { __index = function(_, key) return require("agent_history.picker")[key] end })
  -- An empty database: no empty picker, but a word on how to bring history in.
  local offered = false
  vim.ui.select = function() offered = true end
  vim.cmd("AgentHistory sessions")
  H.step("an empty database says how to import instead of an empty picker",
    not offered and H.noted(vim.log.levels.INFO, { "no sessions yet", ":AgentHistory import brings in the history of every agent it finds (Claude Code, Codex, Cursor, Copilot, Gemini CLI, …)" }), H.notes)
  local titled = history.request("history/createSession", { kind = "agent", title = "Fix the parser" })
  history.request("history/appendMessages", {
    sessionId = titled.id,
    messages = { { role = "assistant", content = "done", usage = { promptTokens = 1234567, completionTokens = 89 } } },
  })
  local untitled = history.request("history/createSession", { kind = "agent" })
  history.request("history/appendMessages", {
    sessionId = untitled.id,
    messages = { { role = "user", content = "Why does the parser choke on tabs?" } },
  })

  -- Export to a path that cannot be written: a notification, no traceback.
  local bad = "/no/such/folder/out.md"
  local ok, traceback = pcall(vim.cmd, "AgentHistory export " .. titled.id .. " markdown " .. bad)
  H.step("a bad export path is an ERROR notification naming path and reason",
    ok and H.noted(vim.log.levels.ERROR, { bad, "No such file or directory" }), { traceback, H.notes })

  local function complete(line)
    return vim.fn.getcompletion(line, "cmdline")
  end
  H.step("subcommands complete", vim.deep_equal(complete("AgentHistory ex"), { "export" }), complete("AgentHistory ex"))
  H.step("session ids complete", vim.tbl_contains(complete("AgentHistory show "), titled.id)
    and vim.deep_equal(complete("AgentHistory usage " .. titled.id:sub(1, 24)), { titled.id }), complete("AgentHistory show "))
  H.step("titles complete to their id", vim.deep_equal(complete("AgentHistory export parser"), { titled.id, untitled.id })
    or vim.deep_equal(complete("AgentHistory export parser"), { untitled.id, titled.id }), complete("AgentHistory export parser"))
  H.step("export formats complete", vim.deep_equal(complete("AgentHistory export " .. titled.id .. " js"), { "json", "jsonl" }))

  local labels = {}
  vim.ui.select = function(items, opts, choose)
    labels = vim.tbl_map(opts.format_item, items)
    choose(items[1])
  end
  vim.cmd("AgentHistory sessions")
  local project = vim.fn.strcharpart(vim.fn.fnamemodify(vim.fn.getcwd(), ":t"), 0, 19) .. "…" -- 20 columns at most
  H.step("sessions read title ?? preview · project · time", vim.tbl_contains(labels, "Fix the parser · " .. project .. " · just now")
    and vim.tbl_contains(labels, "Why does the parser choke on tabs? · " .. project .. " · just now"), labels)
  local two_hours_ago = os.date("!%Y-%m-%dT%H:%M:%S.000Z", os.time() - 7300)
  H.check("without preview and lastMessageAt: id and updatedAt", function()
    local label = picker.session_label({ id = "01ABC", updatedAt = two_hours_ago })
    return label == "01ABC · 2h ago", label
  end)
  H.check("lastMessageAt wins over updatedAt", function()
    local recent = os.date("!%Y-%m-%dT%H:%M:%S.000Z", os.time() - 3 * 86400 - 60)
    local label = picker.session_label({ id = "x", title = "t", updatedAt = two_hours_ago, lastMessageAt = recent })
    return label == "t · 3d ago", label
  end)

  vim.wait(5000, function()
    local found = history.request("history/searchMessages", { query = "choke" })
    return found and #found.hits > 0
  end, 100)
  vim.cmd("AgentHistory search choke")
  H.step("search items name the session, role and index, without **", labels[1]
    == "Why does the parser choke o… · user #0: Why does the parser choke on tabs?", labels)
  H.check("the matches' ranges come from highlights", function()
    local result = history.request("history/searchMessages", { query = "choke" })
    local text, marks = picker.hit_item(result.hits[1])
    return #marks == 1 and text:sub(marks[1][1] + 1, marks[1][2]) == "choke", { text, marks, result.hits[1].highlights }
  end)
  H.check("without highlights, from the ** markers", function()
    local plain, marks = picker.hit_item({ sessionId = "01ABC", role = "tool", index = 3, snippet = "a **tab** é \\*x \\\\" })
    return plain == "01ABC · tool #3: a tab é *x \\" and plain:sub(marks[1][1] + 1, marks[1][2]) == "tab", { plain, marks }
  end)
  H.check("highlights count UTF-16 units", function()
    local wide, marks = picker.hit_item({ sessionId = "s", role = "user", index = 0, snippet = "é **😀x** y",
      highlights = { { start = 4, ["end"] = 7 } } })
    return wide:sub(marks[1][1] + 1, marks[1][2]) == "😀x", { wide, marks }
  end)

  vim.cmd("AgentHistory usage")
  local usage = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  local widths = vim.tbl_map(vim.fn.strdisplaywidth, usage)
  H.step("usage is an aligned table with thousands separators", table.concat(usage, "\n"):find("1,234,567", 1, true)
    and usage[1]:find("prompt", 1, true) and #vim.tbl_filter(function(w) return w ~= widths[1] end, widths) == 0, usage)
  H.step("usage shows cost; a session without a known model is unpriced, not free",
    vim.endswith(usage[1], "cost") and usage[2]:find("$0.00+?", 1, true), usage)
  vim.cmd("normal q")

  local before = #history.request("history/listSessions", { limit = 500 }).sessions
  vim.cmd("AgentHistory import " .. vim.env.AH_IMPORT)
  local imported = vim.wait(30000, function()
    return H.noted(vim.log.levels.INFO, { "imported", vim.env.AH_IMPORT }) ~= nil
  end, 50)
  H.step("import says what it imported", imported and #history.request("history/listSessions", { limit = 500 }).sessions
    == before + 1, H.notes)

  -- Without a path, every agent's history the sidecar finds: none in this empty home, then
  -- a Gemini CLI chat where the CLI keeps it.
  local home_chats = vim.fs.joinpath(vim.env.HOME, ".gemini", "tmp")
  vim.cmd("AgentHistory import")
  local nowhere = vim.wait(30000, function()
    return H.noted(vim.log.levels.WARN, { "no agent's history found", "~/.gemini/tmp, ", "give a PATH" }) ~= nil
  end, 50)
  H.step("import without a path, finding no agent's folder, names the places it looked in", nowhere, H.notes)
  local chats = vim.fs.joinpath(home_chats, "9126eddec7f6", "chats")
  vim.fn.mkdir(chats, "p")
  assert(vim.uv.fs_copyfile(vim.env.AH_GEMINI, vim.fs.joinpath(chats, "session-2025-12-09T19-51-f0a689a6.json")))
  before = #history.request("history/listSessions", { limit = 500 }).sessions
  vim.cmd("AgentHistory import")
  local told = vim.env.AH_GEMINI_MESSAGES .. " messages in 1 sessions from 1 files (gemini-cli 1)"
  local everything = vim.wait(30000, function()
    return H.noted(vim.log.levels.INFO, { "imported every agent's history: " .. told }) ~= nil
  end, 50)
  H.step("import without a path brings in every agent's history it finds, and says whose", everything
    and #history.request("history/listSessions", { limit = 500 }).sessions == before + 1, H.notes)

  vim.cmd("help agent-history")
  H.step(":help agent-history opens", vim.bo.buftype == "help"
    and vim.api.nvim_buf_get_name(0):find("agent%-history%.txt$"), vim.api.nvim_buf_get_name(0))
  vim.cmd.helpclose()
  H.step("<Plug> mappings and no default keymaps", vim.fn.maparg("<Plug>(agent-history-sessions)", "n") ~= ""
    and vim.fn.maparg("<Plug>(agent-history-search)", "n") ~= ""
    and #vim.tbl_filter(function(map) return (map.rhs or ""):find("AgentHistory", 1, true)
      and not map.lhs:find("^<Plug>") end, vim.api.nvim_get_keymap("n")) == 0)
end)
