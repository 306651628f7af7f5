-- :AgentHistory [sessions | search QUERY | show ID | export ID [FORMAT] [PATH] | usage [ID] | import [PATH] | sync]
-- and <Plug>(agent-history-…) mappings; no default keymaps. See :help agent-history.
if vim.g.loaded_agent_history then
  return
end
vim.g.loaded_agent_history = true

vim.api.nvim_create_user_command("AgentHistory", function(args)
  require("agent_history").command(args)
end, {
  nargs = "*",
  complete = function(arglead, line, position)
    return require("agent_history.complete").complete(arglead, line:sub(1, position))
  end,
  desc = "Agent History: browse, search, show, export sessions; token usage; import",
})

local function plug(name, rhs, desc)
  vim.keymap.set("n", "<Plug>(agent-history-" .. name .. ")", rhs, { desc = "Agent History: " .. desc })
end
plug("sessions", "<Cmd>AgentHistory sessions<CR>", "pick a session")
plug("search", function()
  vim.ui.input({ prompt = "Search agent history: " }, function(query)
    if query and query ~= "" then
      require("agent_history").search(query)
    end
  end)
end, "search")
plug("usage", "<Cmd>AgentHistory usage<CR>", "token usage")
plug("import", "<Cmd>AgentHistory import<CR>", "import the agents' transcripts")
plug("sync", "<Cmd>AgentHistory sync<CR>", "sync now")
