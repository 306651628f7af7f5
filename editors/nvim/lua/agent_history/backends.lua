-- Where pickers are shown: snacks.picker or telescope when installed (matches highlighted,
-- the transcript as the preview, at the hit), else vim.ui.select (which fzf-lua and others
-- replace when their ui-select is registered). setup{ picker = ... } chooses:
-- "auto" (the first installed of snacks, telescope), "snacks", "telescope" or "select".
local M = {}

--- The transcript an entry previews, and the line of its message (1 when it has none).
local function transcript(entry)
  local export = require("agent_history").request("history/exportSession", {
    sessionId = entry.session_id,
    format = "markdown",
  })
  local lines = vim.split(export and export.content or "", "\n", { plain = true })
  for number, line in ipairs(entry.index and lines or {}) do
    if line:find("^### " .. entry.index .. "%. ") then
      return lines, number
    end
  end
  return lines, 1
end

local function at_top(window, line)
  vim.api.nvim_win_set_cursor(window, { line, 0 })
  vim.api.nvim_win_call(window, function()
    vim.cmd("normal! zt")
  end)
end

function M.snacks(title, entries, on_choice)
  require("snacks").picker.pick({
    title = title,
    items = entries,
    format = function(item)
      return require("agent_history.picker").segments(item.text, item.marks)
    end,
    preview = function(ctx)
      local lines, line = transcript(ctx.item)
      ctx.preview:reset()
      ctx.preview:set_lines(lines)
      ctx.preview:highlight({ ft = "markdown" })
      at_top(ctx.win, line)
    end,
    confirm = function(picker, item)
      picker:close()
      if item then
        on_choice(item.value)
      end
    end,
  })
end

function M.telescope(title, entries, on_choice)
  local actions, state = require("telescope.actions"), require("telescope.actions.state")
  local previewers = require("telescope.previewers")
  require("telescope.pickers")
    .new({}, {
      prompt_title = title,
      finder = require("telescope.finders").new_table({
        results = entries,
        entry_maker = function(entry)
          local marks = vim.tbl_map(function(mark)
            return { mark, "Search" }
          end, entry.marks or {})
          return {
            value = entry,
            ordinal = entry.text,
            display = function()
              return entry.text, marks
            end,
          }
        end,
      }),
      sorter = require("telescope.config").values.generic_sorter({}),
      previewer = previewers.new_buffer_previewer({
        title = "Transcript",
        define_preview = function(self, item)
          local lines, line = transcript(item.value)
          vim.api.nvim_buf_set_lines(self.state.bufnr, 0, -1, false, lines)
          vim.bo[self.state.bufnr].filetype = "markdown"
          at_top(self.state.winid, line)
        end,
      }),
      attach_mappings = function(prompt)
        actions.select_default:replace(function()
          local selected = state.get_selected_entry()
          actions.close(prompt)
          if selected then
            on_choice(selected.value.value)
          end
        end)
        return true
      end,
    })
    :find()
end

function M.select(title, entries, on_choice)
  vim.ui.select(entries, {
    prompt = title,
    format_item = function(entry)
      return entry.text
    end,
  }, function(entry)
    if entry then
      on_choice(entry.value)
    end
  end)
end

local function installed(name)
  local module = ({ snacks = "snacks", telescope = "telescope.pickers" })[name]
  if not module then
    return name == "select"
  end
  local ok, loaded = pcall(require, module)
  return ok and (name ~= "snacks" or (type(loaded) == "table" and loaded.picker ~= nil))
end

--- The backend setup{ picker } names, or the first installed one for "auto".
function M.chosen()
  local wanted = require("agent_history").config.picker or "auto"
  for _, name in ipairs(wanted == "auto" and { "snacks", "telescope", "select" } or { wanted, "select" }) do
    if installed(name) then
      return name
    end
  end
end

function M.pick(title, entries, on_choice)
  M[M.chosen()](title, entries, on_choice)
end

return M
