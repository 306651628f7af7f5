// Generated from protocol/history.model.json by protocol/generate_typescript.py. Do not edit.
/* eslint-disable */

/** Who wrote a message. */
export type Role = "system" | "user" | "assistant" | "tool";

/** What an edit did to a file. */
export type EditKind = "create" | "insert" | "replace" | "delete" | "rename";

/** How `history/getUsage` groups its figures. `agent` is the message's agentName, else the session's; `day` and `month` are the message's, in the request's timeZone (UTC by default); `project` is the session's projectId (`none` when it has none). */
export type UsageGroupBy = "agent" | "model" | "day" | "session" | "project" | "month";

/** What happened to a session, in `history/didChangeSession`. */
export type SessionChange = "created" | "updated" | "ended" | "deleted" | "compacted" | "forked";

/** `markdown` reads well (tool calls and long outputs folded in <details>); `json` is one document {session, messages, edits}; `jsonl` is lossless: one {"type":"session"} line, then one {"type":"message"} line per message, then one {"type":"edit"} line per edit. */
export type ExportFormat = "markdown" | "json" | "jsonl";

/** Which agent wrote a transcript; `agent-history` (addition) is our own jsonl export; `gemini-cli` (addition) is Gemini CLI's chat JSON or JSONL; `cline` (addition) is a Cline, Roo Code or Kilo Code task folder; `continue` (addition) is a Continue session; `copilot-chat` (addition) is a VS Code Copilot Chat session (`chatSessions/*.json` or `*.jsonl`); `copilot-cli` (addition) is a Copilot CLI `events.jsonl` (also VS Code's Copilot agent transcripts); `cursor` (addition) is Cursor's `globalStorage/state.vscdb`; `cursor-cli` (addition) is a Cursor agent transcript (`~/.cursor/projects/* /agent-transcripts/*.jsonl`); `opencode` (addition) is opencode's `opencode.db` or its JSON `storage/` tree; `zed` (addition) is Zed's agent `threads.db`; `aider` (addition) is an `.aider.chat.history.md`; `auto` tells them apart. */
export type TranscriptFormat = "claude-code" | "codex" | "agent-history" | "gemini-cli" | "cline" | "continue" | "copilot-chat" | "copilot-cli" | "cursor" | "cursor-cli" | "opencode" | "zed" | "aider" | "auto";

/** Token counts of one model call (non-negative integers up to 2^40, far above any model's window, so sums stay exact 64-bit integers; absent counts are 0). */
export interface Usage {
  /** Tokens sent to the model. */
  promptTokens?: number | null;
  /** Tokens the model produced. For a message this is its own size in tokens when known. */
  completionTokens?: number | null;
  /** Prompt tokens served from the provider's cache. */
  cacheReadTokens?: number | null;
  /** Prompt tokens written to the provider's cache. */
  cacheCreationTokens?: number | null;
  /** Of cacheCreationTokens, those written to a cache kept for one hour (Anthropic's `ephemeral_1h_input_tokens`, priced higher); the rest were written for 5 minutes. */
  cacheCreation1hTokens?: number | null;
  /** Reasoning tokens. */
  thinkingTokens?: number | null;
}

/** Token counts summed over many messages (exact integers, not bounded like one call's Usage). */
export interface SessionUsage {
  /** Tokens sent to the model. */
  promptTokens?: number | null;
  /** Tokens the model produced. For a message this is its own size in tokens when known. */
  completionTokens?: number | null;
  /** Prompt tokens served from the provider's cache. */
  cacheReadTokens?: number | null;
  /** Prompt tokens written to the provider's cache. */
  cacheCreationTokens?: number | null;
  /** Reasoning tokens. */
  thinkingTokens?: number | null;
  /** How many messages carried usage (model calls). */
  apiCalls?: number | null;
}

/** A tool call made by an assistant message. */
export interface ToolCall {
  /** The call's id, unique in its session; a tool message answers it with `toolCallId`. */
  id: string;
  /** The tool's name. */
  name: string;
  /** The call's arguments: any JSON. */
  arguments?: unknown | null;
}

/** A conversation between a user and an agent. */
export interface Session {
  /** ULID. */
  id: string;
  /** The project (usually the workspace folder) this session belongs to. */
  projectId?: string | null;
  /** What sort of session: free text chosen by the client, e.g. `chat`, `agent`, `task`. */
  kind: string;
  /** Human-readable title. */
  title?: string | null;
  /** The session's first real user request: the first user message with the agents' boilerplate removed (Claude Code's command, caveat, system-reminder and local-command wrappers; Codex's environment context, user instructions and AGENTS.md preambles; image placeholders), whitespace folded, at most 200 characters. Set by the store when such a message is appended or imported; absent until then. A session with no user message at all (a sub-agent started without a prompt) is named, once imported, by its first assistant text. Clients show `title ?? preview`. */
  preview?: string | null;
  /** The agent that runs the session. */
  agentName?: string | null;
  /** The model the session mainly uses. */
  model?: string | null;
  /** The session this one was forked from. */
  parentSessionId?: string | null;
  /** The parent's message this fork was taken at. */
  forkedFromMessageId?: string | null;
  /** ISO 8601 UTC with milliseconds. */
  createdAt: string;
  /** Last append, update, end, or compaction. */
  updatedAt: string;
  /** When the session was ended; absent while it is open. */
  endedAt?: string | null;
  /** `createdAt` of the session's newest message; absent while it has none. What "active 2 hours ago" is about (`updatedAt` also moves on a rename or an end). */
  lastMessageAt?: string | null;
  /** Messages stored (purged ones no longer count). */
  messageCount: number;
  /** Assistant messages with content. */
  turnCount: number;
  /** Tool calls made. */
  toolCallCount: number;
  /** Token usage summed over the session's messages. */
  usage: SessionUsage;
  /** Any JSON object; the store never interprets it. The key `todo` holds the session's TODO list. */
  metadata: Record<string, unknown>;
}

/** A message as a client appends it. */
export interface MessageInput {
  /** Who wrote it. */
  role: Role;
  /** The text. */
  content?: string | null;
  /** Code the message quotes or produced. */
  codeExcerpt?: string | null;
  /** Tool calls made by an assistant message. */
  toolCalls?: ToolCall[] | null;
  /** For role `tool`: the id of the call this message answers (required for that role). */
  toolCallId?: string | null;
  /** The (sub-)agent that wrote it, when not the session's agent. */
  agentName?: string | null;
  /** The model that produced it, when the source names one per message (a session may switch models); absent: the session's model. */
  model?: string | null;
  /** Token usage of the model call that produced it. */
  usage?: Usage | null;
  /** Any JSON object. */
  metadata?: Record<string, unknown> | null;
  /** A client-chosen id: appending the same id to the same session again appends nothing and returns the first result, so a client may retry after a timeout. */
  clientMessageId?: string | null;
}

/** A stored message. */
export interface Message extends MessageInput {
  /** ULID. */
  id: string;
  /** Its session. */
  sessionId: string;
  /** Dense per session, from 0, in append order. */
  index: number;
  /** True once a compaction summarised it; it stays readable until purged. */
  compacted: boolean;
  /** When it was appended. */
  createdAt: string;
}

/** Where an appended message landed. */
export interface AppendedMessage {
  /** ULID. */
  id: string;
  /** Its index in the session. */
  index: number;
  /** When it was appended. */
  createdAt: string;
}

/** A change an agent made to a file. */
export interface Edit {
  /** ULID. */
  id: string;
  /** The session's id. */
  sessionId: string;
  /** The message that made the edit. */
  messageId?: string | null;
  /** The file, as the client names it. */
  filePath: string;
  /** What the edit did. */
  kind: EditKind;
  /** A unified diff (may be empty for a pure rename). */
  diff: string;
  /** For `rename`: the new path. */
  newPath?: string | null;
  /** When it was recorded. */
  createdAt: string;
}

/** One inverse patch. */
export interface Patch {
  /** The file to apply it to (for an undone rename, the renamed path). */
  filePath: string;
  /** A unified diff that undoes the edit. */
  diff: string;
}

/** A user prompt. */
export interface RecentPrompt {
  /** The session's id. */
  sessionId: string;
  /** The message. */
  messageId: string;
  /** What the user wrote. */
  content: string;
  /** When. */
  createdAt: string;
}

/** One search result. */
export interface SearchHit {
  /** The session's id. */
  sessionId: string;
  /** The hit's session's `title`. */
  sessionTitle?: string | null;
  /** The hit's session's `preview`. */
  sessionPreview?: string | null;
  /** The hit's session's `projectId`. */
  projectId?: string | null;
  /** The message. */
  messageId: string;
  /** Its index. */
  index: number;
  /** Its role. */
  role: Role;
  /** When. */
  createdAt: string;
  /** Text around the match, on one line, matched words marked with `**`. The text's own `*` and `\` are escaped as `\*` and `\\`, so every unescaped `**` is a marker. */
  snippet: string;
  /** Where the matched words are in `snippet`, in order: so a client marks them without parsing `**`. `snippet[start:end]` is the word as the text writes it (escaped). */
  highlights: Highlight[];
  /** Relevance; higher is better. */
  score: number;
}

/** A matched word's place in a search hit's `snippet`. */
export interface Highlight {
  /** Offset in `snippet` of a matched word's first character (just after its opening `**`), in UTF-16 code units (LSP's default position encoding; JavaScript and VS Code index strings so). */
  start: number;
  /** Offset just past its last character (exclusive; its closing `**` starts here), in UTF-16 code units. */
  end: number;
}

/** Usage of one group. */
export interface UsageGroup {
  /** The group's key (agent name, model, day `YYYY-MM-DD` or month `YYYY-MM` in the request's timeZone, session id or project id; `unknown` when absent). */
  key: string;
  /** Its usage. */
  usage: SessionUsage;
  /** USD for its priced calls, from the genai-prices data at each call's time. */
  cost: number;
  /** Calls whose model the price data does not know: their cost is unknown, not counted in `cost` (never taken as free). */
  unpricedCalls: number;
}

/** What to delete. Every limit is optional; a policy with none deletes nothing. */
export interface RetentionPolicy {
  /** Delete sessions not updated for this many days. */
  maxAgeDays?: number | null;
  /** Keep only this many sessions, the most recently updated. */
  maxSessions?: number | null;
  /** Keep only this many sessions per project, the most recently updated. */
  maxSessionsPerProject?: number | null;
  /** Delete compacted messages older than this many days. */
  purgeCompactedOlderThanDays?: number | null;
}

/** `initialize.initializationOptions`. */
export interface InitializationOptions {
  /** The database file; overrides `--db` and the default. */
  dbPath?: string | null;
  /** The projectId given to sessions created or imported without one. Filters that omit projectId still span all projects. */
  projectId?: string | null;
  /** Refuse every write with StorageError. */
  readOnly?: boolean | null;
  /** A policy applied at start and then daily. */
  retention?: RetentionPolicy | null;
  /** Addition: the per-message size limit in bytes (default 8 MiB). */
  maxMessageBytes?: number | null;
  /** Addition: how long a write waits for another process's lock before StorageBusy (default 5000). */
  busyTimeoutMs?: number | null;
  /** Addition: run the background search indexer (default true). With false, searches see only what another process has indexed. */
  searchIndex?: boolean | null;
  /** Addition: mask credentials (tokens of a known format, private key blocks, passwords in URLs, Authorization values, literals assigned to secret-sounding names) in every text a user can read back (messages, sessions, edits, compaction summaries, imports) before it is stored (default true). */
  redact?: boolean | null;
  /** Addition: encrypt the database and its search index at rest (aegis256) with the key in this file (64 hex digits; the file must be mode 0600). `$AGENT_HISTORY_KEY` takes precedence, then `$AGENT_HISTORY_KEY_FILE`. Every process on one file must use the same key. */
  encryptionKeyFile?: string | null;
  /** Addition: keep this history in sync with a Turso Cloud database or any server speaking Turso's sync protocol. Without it nothing leaves this machine. */
  sync?: SyncOptions | null;
  /** Addition: follow the agents' transcript folders and import what they write as they write it (see CaptureOptions). `serve --capture` turns it on with the defaults when this is absent. */
  capture?: CaptureOptions | null;
}

/** `capabilities.experimental.history` in the initialize result. */
export interface HistoryCapabilities {
  /** The database file in use. */
  dbPath: string;
  /** The schema version (PRAGMA user_version). */
  schemaVersion: number;
  /** The history/* methods this server answers. */
  features: string[];
}

export interface CreateSessionParams {
  /** Defaults to initializationOptions.projectId. */
  projectId?: string | null;
  /** What sort of session. */
  kind: string;
  /** Title. */
  title?: string | null;
  /** Agent. */
  agentName?: string | null;
  /** Model. */
  model?: string | null;
  /** Initial metadata. */
  metadata?: Record<string, unknown> | null;
}

/** Names one session. */
export interface SessionParams {
  /** The session's id. */
  sessionId: string;
}

export interface ListSessionsParams {
  /** Only this project. */
  projectId?: string | null;
  /** Only this kind. */
  kind?: string | null;
  /** Only this agent. */
  agentName?: string | null;
  /** Only sessions whose title, preview or first user prompt contains this text (case-insensitive). */
  query?: string | null;
  /** Include ended sessions. */
  includeEnded?: boolean | null;
  /** Page size. */
  limit?: number | null;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
}

export interface UpdateSessionParams {
  /** The session's id. */
  sessionId: string;
  /** New title. */
  title?: string | null;
  /** Merged into the session's metadata key by key; a null value deletes its key. */
  metadata?: Record<string, unknown> | null;
}

export interface DeleteSessionParams {
  /** The session's id. */
  sessionId: string;
  /** Addition: an LSP progress token (string or integer); when given, the server reports `$/progress` begin/report/end under it. */
  workDoneToken?: unknown | null;
}

export interface ForkSessionParams {
  /** The session's id. */
  sessionId: string;
  /** The last message the fork holds (default: the newest). */
  atMessageId?: string | null;
  /** Addition: an LSP progress token (string or integer); when given, the server reports `$/progress` begin/report/end under it. */
  workDoneToken?: unknown | null;
}

export interface AppendMessagesParams {
  /** The session's id. */
  sessionId: string;
  /** 1 to 1000 messages, appended all or nothing; more is PayloadTooLarge. */
  messages: MessageInput[];
}

export interface GetMessagesParams {
  /** The session's id. */
  sessionId: string;
  /** Only messages with a greater index. */
  afterIndex?: number | null;
  /** Only messages with a smaller index. Given alone, the page is the `limit` messages just before it, so a client can scroll back. */
  beforeIndex?: number | null;
  /** Only these roles. */
  roles?: Role[] | null;
  /** Page size. */
  limit?: number | null;
}

export interface GetContextParams {
  /** The session's id. */
  sessionId: string;
  /** At most this many messages (default: no limit). */
  maxMessages?: number | null;
  /** At most this many tokens; a message counts its recorded completionTokens where known, else ceil(chars / 4) of its content, code excerpt and tool calls. */
  maxTokens?: number | null;
}

export interface RecentPromptsParams {
  /** Only this project. */
  projectId?: string | null;
  /** How many. */
  limit?: number | null;
}

export interface SearchMessagesParams {
  /** Words (all must match), "exact phrases", a OR b, NOT word or -word, prefix*. */
  query: string;
  /** Only this project. */
  projectId?: string | null;
  /** Only this session. */
  sessionId?: string | null;
  /** Only these roles. */
  roles?: Role[] | null;
  /** Only messages created at or after this time. */
  since?: string | null;
  /** Only messages created before this time. */
  until?: string | null;
  /** How many hits. */
  limit?: number | null;
}

export interface RecordEditParams {
  /** The session's id. */
  sessionId: string;
  /** The message that made the edit; must be in the session. */
  messageId?: string | null;
  /** The file. */
  filePath: string;
  /** What it did. */
  kind: EditKind;
  /** A unified diff of the change. */
  diff: string;
  /** For `rename`: the new path (required for that kind). */
  newPath?: string | null;
}

export interface ListEditsParams {
  /** Only edits of this file (as filePath or newPath). */
  filePath?: string | null;
  /** Only this session's edits. */
  sessionId?: string | null;
  /** Only edits recorded at or after this time. */
  since?: string | null;
  /** How many. */
  limit?: number | null;
}

export interface RevertEditsParams {
  /** The session's id. */
  sessionId: string;
  /** Undo only the edits after this one (default: all). */
  afterEditId?: string | null;
}

export interface CompactSessionParams {
  /** The session's id. */
  sessionId: string;
  /** The summary that replaces the compacted messages in getContext. */
  summary: string;
  /** How many of the newest non-compacted messages stay as they are. */
  preserveCount: number;
}

export interface GetUsageParams {
  /** Only this session. */
  sessionId?: string | null;
  /** Only this project. */
  projectId?: string | null;
  /** Only the calls of this agent: the message's agentName, else the session's (as `groupBy: agent` names them). */
  agent?: string | null;
  /** Only messages created at or after this time. An ISO date or date-time; without an offset, in `timeZone`. */
  since?: string | null;
  /** Only messages created before this time. An ISO date or date-time; without an offset, in `timeZone`. */
  until?: string | null;
  /** An IANA time zone (`Europe/Paris`): `since`/`until` without an offset are its local times, and `day`/`month` groups are its days and months (default: UTC). */
  timeZone?: string | null;
  /** Also give figures per group. */
  groupBy?: UsageGroupBy | null;
}

export interface GetMetadataParams {
  /** The session's id. */
  sessionId: string;
  /** The key. */
  key: string;
}

export interface SetMetadataParams {
  /** The session's id. */
  sessionId: string;
  /** The key. */
  key: string;
  /** Any JSON; null (or absent) deletes the key. */
  value?: unknown | null;
}

export interface ApplyRetentionParams extends RetentionPolicy {
  /** Report what would go, delete nothing. */
  dryRun?: boolean | null;
  /** Addition: an LSP progress token (string or integer); when given, the server reports `$/progress` begin/report/end under it. */
  workDoneToken?: unknown | null;
}

export interface ExportSessionParams {
  /** The session's id. */
  sessionId: string;
  /** The output format. */
  format: ExportFormat;
  /** Addition: an LSP progress token (string or integer); when given, the server reports `$/progress` begin/report/end under it. */
  workDoneToken?: unknown | null;
}

export interface ImportTranscriptParams {
  /** A transcript file or a directory of them. Addition: optional; without it, every agent's default location that exists on this machine (with `format` naming an agent, only that agent's; `agent-history` and `aider` have none), files told apart as with `auto`. */
  path?: string | null;
  /** Which agent wrote it (`auto`: tell them apart). Without `path`: whose default locations to read (`auto`: every agent's). */
  format?: TranscriptFormat | null;
  /** Overrides the working directory as projectId. */
  projectId?: string | null;
  /** Addition: an LSP progress token (string or integer); when given, the server reports `$/progress` begin/report/end under it. */
  workDoneToken?: unknown | null;
}

export interface SubscribeParams {
  /** Only sessions of this project. */
  projectId?: string | null;
  /** Only these sessions. */
  sessionIds?: string[] | null;
}

/** An empty object. */
export interface EmptyResult {
}

export interface ListSessionsResult {
  /** Newest updatedAt first. */
  sessions: Session[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  nextCursor?: string | null;
}

export interface DeleteSessionResult {
  /** False when no session had that id (deleting is idempotent). */
  deleted: boolean;
}

export interface AppendMessagesResult {
  /** One per input message, in order. */
  messages: AppendedMessage[];
}

export interface GetMessagesResult {
  /** In index order. */
  messages: Message[];
  /** More messages lie beyond the page in the direction of paging. */
  hasMore: boolean;
}

export interface GetContextResult {
  /** The latest compaction summary. */
  summary?: string | null;
  /** Oldest first. */
  messages: Message[];
  /** Calls with no result yet. */
  pendingToolCalls: ToolCall[];
}

export interface RecentPromptsResult {
  /** Newest first. */
  prompts: RecentPrompt[];
}

export interface SearchMessagesResult {
  /** Best first. */
  hits: SearchHit[];
}

export interface ListEditsResult {
  /** Oldest first. */
  edits: Edit[];
}

export interface RevertEditsResult {
  /** Newest edit's inverse first: apply in this order. */
  patches: Patch[];
}

export interface CompactSessionResult {
  /** Messages newly compacted. */
  compactedCount: number;
}

export interface GetUsageResult {
  /** Over everything selected. */
  total: SessionUsage;
  /** Per group when groupBy is given, largest total first. */
  groups: UsageGroup[];
  /** USD over everything selected, priced calls only. */
  cost: number;
  /** Models with usage that the price data does not know, sorted: their calls are left out of `cost`. */
  unpricedModels: string[];
}

export interface GetMetadataResult {
  /** The value, or null when the key is absent. */
  value?: unknown | null;
}

export interface ApplyRetentionResult {
  /** Sessions deleted (or that would be). */
  deletedSessions: number;
  /** Compacted messages purged (or that would be). */
  purgedMessages: number;
  /** The deleted sessions. */
  sessionIds: string[];
}

/** Where and how often to sync. */
export interface SyncOptions {
  /** The remote database: `libsql://…` / `https://…` (Turso Cloud) or `http://host:port` (a `tursodb --sync-server`). */
  url: string;
  /** A file (mode 0600) holding the auth token. `$AGENT_HISTORY_SYNC_TOKEN` takes precedence; neither is needed for a server without auth. */
  authTokenFile?: string | null;
  /** How often to sync in the background (default 10 s); local writes never wait for it. */
  intervalSeconds?: number | null;
  /** Addition: the deadline of each network step (connecting, sending, every wait for bytes; default 10 s). A remote that accepts connections and never answers makes a round `online: false` after it, never a hang. */
  timeoutSeconds?: number | null;
}

/** What one sync round moved. */
export interface SyncResult {
  /** Whether the remote answered. When false, local changes stay queued in the replica for the next round. */
  online: boolean;
  /** Messages of this store newly copied to the replica (sent if online). */
  pushedMessages: number;
  /** Messages from other machines added to this store. */
  pulledMessages: number;
  /** Sessions and messages deleted here because another machine deleted them. */
  deleted: number;
  /** Messages whose index changed to the order all machines agree on. */
  renumbered: number;
  /** Sessions changed here by what was pulled. */
  sessionIds: string[];
  /** Why the remote could not be reached, when it could not. */
  error?: string | null;
}

export interface StatsResult {
  /** Sessions. */
  sessions: number;
  /** Messages. */
  messages: number;
  /** Edits. */
  edits: number;
  /** Compacted messages. */
  compactedMessages: number;
  /** The database file. */
  dbPath: string;
  /** Bytes on disk (database and write-ahead log). */
  dbBytes: number;
  /** PRAGMA user_version. */
  schemaVersion: number;
  /** Addition: how many credentials of each kind (aws-access-key, github-token, private-key, url-password, password, secret, token, authorization, …) were masked at ingest. */
  redactions: Record<string, number>;
  /** Addition: what live capture has read (absent when it never ran on this database). */
  capture?: CaptureStats | null;
  /** Addition: messages committed but not yet taken into the search index (0 when search finds everything; large right after a bulk import, shrinking as the indexer catches up). Absent when this sidecar cannot tell (a read-only sidecar on a database that has no index yet, an index that cannot be opened). */
  indexBehind?: number | null;
}

export interface ExportSessionResult {
  /** The exported text. */
  content: string;
}

export interface ImportTranscriptResult {
  /** The sessions created or given new messages (empty when everything was already imported). */
  sessions: Session[];
  /** Addition: transcript files read. */
  files: number;
  /** Addition: messages added. */
  messages: number;
  /** Addition: lines skipped as malformed (not JSON, or missing what their kind needs), plus messages over the size limit. */
  skippedLines: number;
  /** Addition: `.jsonl` files of no known format (with format `auto`). */
  skippedFiles: number;
  /** Addition, only without `path`: each default location looked at, in order, whether it is on this machine and what came in from it. None found: every entry has `found: false` and nothing is imported (not an error: an editor can say where it looked and offer to name a path). */
  sources?: ImportSource[] | null;
}

/** Addition: one default location an import without `path` looked at, and what came in from it. */
export interface ImportSource {
  /** Whose location: the format name, or the program's (`roo-code`, `kilo-code`; `copilot-chat (Code - Insiders)`, `copilot-chat (empty windows)`). */
  agent: string;
  /** The format kept there. */
  format: TranscriptFormat;
  /** The folder looked at. */
  path: string;
  /** Whether it is on this machine (the counts are 0 when not). */
  found: boolean;
  /** Transcript files read there. */
  files: number;
  /** Sessions created or given new messages from there (they are in the result's `sessions`). */
  sessions: number;
  /** Messages added from there. */
  messages: number;
  /** As the result's `skippedLines`, for this location. */
  skippedLines: number;
  /** As the result's `skippedFiles`, for this location. */
  skippedFiles: number;
}

export interface DidAppendMessagesParams {
  /** The session's id. */
  sessionId: string;
  /** The committed messages, in index order. */
  messages: Message[];
}

export interface DidChangeSessionParams {
  /** The session's id. */
  sessionId: string;
  /** What happened. */
  change: SessionChange;
  /** The session after the change (for `deleted`, as it was). */
  session: Session;
}

/** Addition: live capture. The folders are followed as the agents write them: each complete new line is imported, or a whole document once it is quiet (as `history/importTranscript` would, so nothing is imported twice), and one sidecar per database captures at a time. */
export interface CaptureOptions {
  /** Follow Claude Code's transcripts: `$CLAUDE_CONFIG_DIR/projects`, else `~/.claude/projects`. */
  claudeCode?: boolean | null;
  /** Follow Codex's rollouts: `$CODEX_HOME/sessions`, else `~/.codex/sessions`. */
  codex?: boolean | null;
  /** More folders of transcripts to follow (of any format `agents` names, Claude Code's or Codex's). */
  paths?: string[] | null;
  /** Addition: the other agents whose default folders to follow (Claude Code's and Codex's have `claudeCode` and `codex`), by the names `history/importTranscript` gives their sources: `copilot-cli`, `gemini-cli`, `cline`, `roo-code`, `kilo-code`, `continue`, `copilot-chat` (every VS Code fork's too; `copilot-chat (VSCodium)` names one), `cursor-cli`. Absent: all of them, where their folder exists; `[]`: none. Their JSON documents are read again whole once quiet after each change. The agents that keep a database (opencode, Zed, Cursor's chats) are not followed: import them. */
  agents?: string[] | null;
  /** Poll the folders instead of waiting for file events (default: only where events cannot be had, such as network filesystems; `$AGENT_HISTORY_CAPTURE_POLLING=1` forces it). */
  polling?: boolean | null;
}

/** Addition: what live capture has read. */
export interface CaptureStats {
  /** Transcript files live capture has read whole. */
  files: number;
  /** Lines of those files that could not be read (not JSON, or missing what their kind needs), all files together; `agent-history watch` names them per file. */
  skippedLines: number;
}

/** Every request: method -> [params, result]. */
export interface Requests {
  "history/createSession": [CreateSessionParams, Session];
  "history/getSession": [SessionParams, Session];
  "history/listSessions": [ListSessionsParams, ListSessionsResult];
  "history/updateSession": [UpdateSessionParams, Session];
  "history/endSession": [SessionParams, Session];
  "history/deleteSession": [DeleteSessionParams, DeleteSessionResult];
  "history/forkSession": [ForkSessionParams, Session];
  "history/appendMessages": [AppendMessagesParams, AppendMessagesResult];
  "history/getMessages": [GetMessagesParams, GetMessagesResult];
  "history/getContext": [GetContextParams, GetContextResult];
  "history/recentPrompts": [RecentPromptsParams, RecentPromptsResult];
  "history/searchMessages": [SearchMessagesParams, SearchMessagesResult];
  "history/recordEdit": [RecordEditParams, Edit];
  "history/listEdits": [ListEditsParams, ListEditsResult];
  "history/revertEdits": [RevertEditsParams, RevertEditsResult];
  "history/compactSession": [CompactSessionParams, CompactSessionResult];
  "history/getUsage": [GetUsageParams, GetUsageResult];
  "history/getMetadata": [GetMetadataParams, GetMetadataResult];
  "history/setMetadata": [SetMetadataParams, EmptyResult];
  "history/applyRetention": [ApplyRetentionParams, ApplyRetentionResult];
  "history/stats": [null, StatsResult];
  "history/exportSession": [ExportSessionParams, ExportSessionResult];
  "history/importTranscript": [ImportTranscriptParams, ImportTranscriptResult];
  "history/subscribe": [SubscribeParams, EmptyResult];
  "history/sync": [null, SyncResult];
}

/** Every notification from the sidecar: method -> params. */
export interface Notifications {
  "history/didAppendMessages": DidAppendMessagesParams;
  "history/didChangeSession": DidChangeSessionParams;
}

/** The contract's error codes by name. */
export const ErrorCodes = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  RequestCancelled: -32800,
  SessionNotFound: -32001,
  MessageNotFound: -32002,
  PayloadTooLarge: -32003,
  StorageBusy: -32004,
  StorageError: -32005,
} as const;
