// What the chat transcript shows of a message, as data: who wrote it, its thinking, whether a
// tool failed, how big an output is, what a call was about, what Copy copies. No VS Code,
// node or DOM import: the webview's script and the node tests both use it.
import type { Message, ToolCall } from "./protocol";

/** A transcript page sent to the webview: its messages in index order, and where they go. */
export interface Page {
  messages: Message[];
  /** `end`: the session's newest messages (the view follows new ones); `at`: around `target`;
   * `before`/`after`: an earlier or a later page of a view already open. */
  place: "end" | "at" | "before" | "after";
  /** For `at` and `after`: whether later messages exist than this page's last. */
  hasMoreAfter?: boolean;
  /** For `at`: the message to scroll to. */
  target?: number;
}

/** A link to another session: a sub-agent or the session it belongs to. */
export interface SessionLink {
  id: string;
  label: string;
}

/** Everything the webview hears from the extension. */
export type ToWebview =
  | { type: "header"; title: string; facts: string; parent?: SessionLink; subagents: SessionLink[]; compactionSummary?: string }
  | ({ type: "page" } & Page)
  | { type: "live"; messages: Message[] };

/** Everything the extension hears from the webview. */
export type FromWebview =
  | { type: "ready" }
  | { type: "earlier"; beforeIndex: number }
  | { type: "later"; afterIndex: number }
  | { type: "copy"; text: string }
  | { type: "fork"; messageId: string }
  | { type: "open"; sessionId: string }
  | { type: "export" }
  | { type: "markdown" };

const ROLES: Record<Message["role"], string> = { user: "You", assistant: "Assistant", tool: "Tool", system: "System" };

/** The name over a message: "You", "Assistant", "Assistant · Explore" for a sub-agent's. */
export function author(message: Message): string {
  return [ROLES[message.role], message.agentName].filter(Boolean).join(" · ");
}

/** The model's reasoning recorded with a message (Claude Code's thinking, Codex's reasoning). */
export function thinkingOf(message: Message): string | undefined {
  const thinking = message.metadata?.thinking;
  return typeof thinking === "string" && thinking.trim() ? thinking : undefined;
}

/** A tool result that failed, or an API error the agent recorded as a message. */
export function isFailure(message: Message): boolean {
  return message.metadata?.isError === true || message.metadata?.isApiErrorMessage === true;
}

const encoder = new TextEncoder();

/** A text's size in UTF-8: "812 B", "2.3 KB", "1.2 MB". */
export function sizeLabel(text: string): string {
  const bytes = encoder.encode(text).length;
  if (bytes < 1000) {
    return `${bytes} B`;
  }
  return bytes < 1_000_000 ? `${(bytes / 1000).toFixed(1)} KB` : `${(bytes / 1_000_000).toFixed(1)} MB`;
}

// The argument that says what a call was about, by the names agents give it.
const TELLING = ["command", "file_path", "path", "pattern", "query", "url", "description", "prompt"];

/** What a call was about, on one line: its command, file, pattern or first text argument. */
export function callSubject(call: ToolCall, max = 90): string {
  const args = call.arguments;
  let subject = "";
  if (typeof args === "string") {
    subject = args;
  } else if (args && typeof args === "object") {
    const record = args as Record<string, unknown>;
    const key = TELLING.find((name) => typeof record[name] === "string") ?? Object.keys(record).find((name) => typeof record[name] === "string");
    subject = key ? String(record[key]) : "";
  }
  const line = subject.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** A call's arguments as text to show: JSON, indented. */
export function argumentsText(call: ToolCall): string {
  return typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments ?? null, null, 2);
}

/** What Copy puts on the clipboard: the message's text, its code, its calls. */
export function copyText(message: Message): string {
  const calls = (message.toolCalls ?? []).map((call) => `${call.name} ${argumentsText(call)}`);
  return [message.content, message.codeExcerpt, ...calls].filter((part) => part && part.trim()).join("\n\n");
}
