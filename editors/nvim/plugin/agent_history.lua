-- :AgentHistory sessions | search QUERY | show ID | export ID [FORMAT] [PATH] | usage [ID]
vim.api.nvim_create_user_command("AgentHistory", function(args)
  require("agent_history").command(args)
end, {
  nargs = "*",
  complete = function(_, line)
    if #vim.split(line, "%s+") <= 2 then
      return { "sessions", "search", "show", "export", "usage", "sync" }
    end
    return {}
  end,
  desc = "Agent History: browse, search, show, export sessions; token usage",
})
