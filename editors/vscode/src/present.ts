// How a session and a search hit read to a person: label, "2 h ago", time group, icon, tooltip.
// Pure functions (no VS Code import), so node tests check them without a workbench.
import * as os from "os";
import * as path from "path";
import type { Highlight, ImportTranscriptResult, SearchHit, Session, SessionUsage } from "./protocol";
import { localTime, relativeTime } from "./time";

export { relativeTime };

/** What a person recognises a session by: its title, else its first request, else its id. */
export function sessionLabel(session: Pick<Session, "id" | "title" | "preview">): string {
  return session.title?.trim() || session.preview?.trim() || session.id;
}

/** The label cut to `max` characters at a word, so a row still shows its description. */
export function shortLabel(session: Pick<Session, "id" | "title" | "preview">, max = 60): string {
  const label = sessionLabel(session);
  if (label.length <= max) {
    return label;
  }
  const cut = label.slice(0, max - 1);
  const space = cut.lastIndexOf(" ");
  return `${space > max / 2 ? cut.slice(0, space) : cut}…`;
}

/** The hit's session, named as the tree names it. */
export function hitSessionLabel(hit: SearchHit): string {
  return sessionLabel({ id: hit.sessionId, title: hit.sessionTitle, preview: hit.sessionPreview });
}

/** When the session was last active: its newest message, else its last change. */
export function lastActive(session: Session): string {
  return session.lastMessageAt ?? session.updatedAt;
}

export const TIME_GROUPS = ["Today", "Yesterday", "Last 7 days", "Older"] as const;
export type TimeGroup = (typeof TIME_GROUPS)[number];

/** The time group of a moment, by local calendar days. */
export function timeGroup(iso: string, now: Date = new Date()): TimeGroup {
  const midnight = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const at = Date.parse(iso);
  const day = 24 * 3600 * 1000;
  if (at >= midnight) {
    return "Today";
  }
  if (at >= midnight - day) {
    return "Yesterday";
  }
  return at >= midnight - 7 * day ? "Last 7 days" : "Older";
}

/** A ThemeIcon id per kind of session: fork, sub-agent, imported, agent, chat. */
export function sessionIcon(session: Session): string {
  if (session.forkedFromMessageId) {
    return "repo-forked";
  }
  if (session.kind === "subagent" || session.parentSessionId) {
    return "type-hierarchy-sub";
  }
  if (typeof session.metadata?.source === "string") {
    return "cloud-download";
  }
  return session.kind === "agent" || session.kind === "task" ? "hubot" : "comment-discussion";
}

/** The row's description: 2 h ago · agent · model (the time first: a narrow view cuts the end). */
export function sessionDescription(session: Session, now: Date = new Date()): string {
  const who = [session.agentName, session.model].filter(Boolean).join(" · ");
  return [relativeTime(lastActive(session), now), who].filter(Boolean).join(" · ");
}

export function totalTokens(session: Session): number {
  return usageTokens(session.usage);
}

/** Every token a usage counts: prompt, completion, cache read and cache creation. */
export function usageTokens(u: SessionUsage): number {
  return (u.promptTokens ?? 0) + (u.completionTokens ?? 0) + (u.cacheReadTokens ?? 0) + (u.cacheCreationTokens ?? 0);
}

/** A cost in dollars; `+?` when some calls' models have no known price (never taken as free). */
export function costLabel(cost: number, unpriced: boolean): string {
  return `$${cost.toFixed(2)}${unpriced ? "+?" : ""}`;
}

/** Markdown for the row's tooltip (no HTML, no links to follow). */
export function sessionTooltip(session: Session): string {
  const escape = (text: string) => text.replace(/([\\`*_{}[\]()#+\-.!|<>])/g, "\\$1");
  const source = typeof session.metadata?.source === "string" ? ` · imported from ${session.metadata.source}` : "";
  const rows = [
    `**${escape(sessionLabel(session))}**`,
    "",
    `${escape(session.kind)}${escape(source)}${session.agentName ? ` · ${escape(session.agentName)}` : ""}${session.model ? ` · ${escape(session.model)}` : ""}`,
    "",
    `Project: ${escape(session.projectId ?? "(no project)")}`,
    "",
    `Created: ${localTime(session.createdAt)}  `,
    `Last active: ${localTime(lastActive(session))}`,
    "",
    `${session.messageCount} messages · ${session.turnCount} turns · ${session.toolCallCount} tool calls · ${totalTokens(session).toLocaleString()} tokens`,
    "",
    `\`${session.id}\``,
  ];
  return rows.join("\n");
}

/** A snippet as plain text: without the `**` around the matched words (found by the hit's
 * `highlights`, not by parsing) and without the escapes of the text's own `*` and `\`. */
export function plainSnippet(snippet: string, highlights: Highlight[]): string {
  const markers = new Set(highlights.flatMap(({ start, end }) => [start - 2, end]));
  let text = "";
  for (let i = 0; i < snippet.length; ) {
    if (markers.has(i)) {
      i += 2;
    } else if (snippet[i] === "\\" && i + 1 < snippet.length) {
      text += snippet[i + 1];
      i += 2;
    } else {
      text += snippet[i];
      i += 1;
    }
  }
  return text;
}

/** What an import did, in a sentence; of every agent's history, which agents it came from. */
export function importSummary(result: ImportTranscriptResult): string {
  const skipped = result.skippedLines + result.skippedFiles;
  const files = `${result.files} file${result.files === 1 ? "" : "s"}`;
  const what = result.sessions.length
    ? `${result.sessions.length} session${result.sessions.length === 1 ? "" : "s"}, ${result.messages} new messages from ${files}`
    : `nothing new in ${files}`;
  const from = (result.sources ?? []).filter((source) => source.sessions > 0).map((source) => `${source.agent} ${source.sessions}`);
  const agents = from.length ? `: ${from.join(", ")}` : "";
  return `Imported ${what}${agents}${skipped ? ` (${result.skippedFiles} files, ${result.skippedLines} lines skipped)` : ""}.`;
}

/** For an import of every agent's history that found none on this machine: where it looked. */
export function nothingFound(result: ImportTranscriptResult): string | undefined {
  const sources = result.sources ?? [];
  if (!sources.length || sources.some((source) => source.found)) {
    return undefined;
  }
  const home = os.homedir();
  const places = sources.map((source) => (source.path.startsWith(home + path.sep) ? `~${source.path.slice(home.length)}` : source.path));
  return `no agent's history found on this machine (looked in ${sources.length} places: ${places.join(", ")}). Import a file or folder instead?`;
}

/** Whether a session matches the view's filter: its title, preview or project, any case. */
export function matchesFilter(session: Session, filter: string): boolean {
  const wanted = filter.trim().toLocaleLowerCase();
  return [session.title, session.preview, session.projectId].some((text) => text?.toLocaleLowerCase().includes(wanted));
}

/** A project's name for a row: the folder's last part. */
export function projectName(projectId: string): string {
  return path.basename(projectId) || projectId;
}
