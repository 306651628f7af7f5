-- Pickers: sessions as `title ?? preview ?? id · project · 2h ago`, search hits as
-- `session · role #index: snippet` with the matched words as ranges, never raw `**`.
-- They are shown by agent_history.backends: snacks.picker or telescope when installed,
-- else vim.ui.select.
local M = {}

local LABEL_WIDTH, PROJECT_WIDTH = 56, 20

--- Seconds since the epoch of an ISO 8601 UTC time (`2026-11-22T03:11:00.123Z`).
function M.epoch(iso)
  local y, mo, d, h, mi, s = iso:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if not y then
    return nil
  end
  y, mo = tonumber(y), tonumber(mo)
  -- Days from the civil date (Howard Hinnant's algorithm): os.time would read it as local time.
  y = mo <= 2 and y - 1 or y
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (mo + (mo > 2 and -3 or 9)) + 2) / 5) + tonumber(d) - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
end

--- "just now", "5m ago", "2h ago", "3d ago", "4mo ago", "2y ago".
function M.relative(iso, now)
  local moment = iso and M.epoch(iso)
  if not moment then
    return ""
  end
  local ago = (now or os.time()) - moment
  for _, unit in ipairs({ { 31536000, "y" }, { 2592000, "mo" }, { 86400, "d" }, { 3600, "h" }, { 60, "m" } }) do
    if ago >= unit[1] then
      return math.floor(ago / unit[1]) .. unit[2] .. " ago"
    end
  end
  return "just now"
end

local function shorten(text, width)
  text = vim.trim((text or ""):gsub("%s+", " "))
  if vim.fn.strchars(text) <= width then
    return text
  end
  return vim.fn.strcharpart(text, 0, width - 1) .. "…"
end

local function present(value)
  return value ~= nil and value ~= vim.NIL and value ~= "" and value or nil
end

--- What a session is called: its title, else its first request, else its id.
function M.name(session)
  return shorten(present(session.title) or present(session.preview) or session.id, LABEL_WIDTH)
end

function M.session_label(session, now)
  local parts = { M.name(session) }
  local project = present(session.projectId)
  if project then
    table.insert(parts, shorten(vim.fn.fnamemodify((project:gsub("/$", "")), ":t"), PROJECT_WIDTH))
  end
  table.insert(parts, M.relative(present(session.lastMessageAt) or session.updatedAt, now))
  return table.concat(parts, " · ")
end

local function byte_index(text, utf16)
  if vim.fn.has("nvim-0.11") == 1 then
    return vim.str_byteindex(text, "utf-16", utf16, false)
  end
  return vim.str_byteindex(text, utf16, true)
end

--- A snippet as plain text, with the byte ranges {start, end} (0-based, end exclusive)
--- of its matched words: from `highlights` (UTF-16 offsets into the snippet) when the
--- sidecar sends them, else from its `**` markers; `\*` and `\\` unescaped.
function M.snippet(snippet, highlights)
  local text, at, marks, open = {}, {}, {}, nil
  local i, length = 1, #snippet
  while i <= length do
    local two = snippet:sub(i, i + 1)
    at[i] = #table.concat(text)
    if two == "\\*" or two == "\\\\" then
      table.insert(text, two:sub(2))
      i = i + 2
    elseif two == "**" then
      if open then
        table.insert(marks, { open, at[i] })
        open = nil
      else
        open = at[i]
      end
      i = i + 2
    else
      table.insert(text, snippet:sub(i, i))
      i = i + 1
    end
  end
  at[length + 1] = #table.concat(text)
  if type(highlights) == "table" and #highlights > 0 then
    marks = {}
    for _, range in ipairs(highlights) do
      local from, to = byte_index(snippet, range.start) + 1, byte_index(snippet, range["end"]) + 1
      if at[from] and at[to] then
        table.insert(marks, { at[from], at[to] })
      end
    end
  end
  return table.concat(text), marks
end

--- A search hit: its label and the byte ranges of its matches within the label.
function M.hit_item(hit)
  local session = present(hit.sessionTitle) or present(hit.sessionPreview) or hit.sessionId
  local prefix = string.format("%s · %s #%d: ", shorten(session, 28), hit.role, hit.index)
  local text, marks = M.snippet(hit.snippet or "", hit.highlights)
  for _, mark in ipairs(marks) do
    mark[1], mark[2] = mark[1] + #prefix, mark[2] + #prefix
  end
  return prefix .. text, marks
end

--- The label's pieces for snacks: plain text and the matches in `Search`.
function M.segments(text, marks)
  local pieces, at = {}, 0
  for _, mark in ipairs(marks or {}) do
    table.insert(pieces, { text:sub(at + 1, mark[1]) })
    table.insert(pieces, { text:sub(mark[1] + 1, mark[2]), "Search" })
    at = mark[2]
  end
  table.insert(pieces, { text:sub(at + 1) })
  return pieces
end

--- Pick one of `entries` ({text, marks?, session_id, index?, value}); on_choice(value).
function M.pick(title, entries, on_choice)
  require("agent_history.backends").pick(title, entries, on_choice)
end

function M.sessions(sessions, on_choice)
  local now = os.time()
  local entries = vim.tbl_map(function(session)
    return { text = M.session_label(session, now), session_id = session.id, value = session }
  end, sessions)
  M.pick("Agent History sessions", entries, on_choice)
end

function M.hits(query, hits, on_choice)
  local entries = vim.tbl_map(function(hit)
    local text, marks = M.hit_item(hit)
    return { text = text, marks = marks, session_id = hit.sessionId, index = hit.index, value = hit }
  end, hits)
  M.pick("Agent History: " .. query, entries, on_choice)
end

return M
