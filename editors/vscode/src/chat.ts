// Transcripts as a chat, in a webview panel per session: the last page at once, earlier ones
// as the reader scrolls up, new messages from the sidecar's notifications; Copy, Fork here,
// Export, Open as Markdown. The page is the extension's own script and style (a nonce'd
// CSP, no remote content); the theme's colours come from --vscode-* variables.
import { randomBytes } from "crypto";
import * as vscode from "vscode";
import type { FromWebview, Page, SessionLink, ToWebview } from "./chatModel";
import type { HistoryClient } from "./history";
import { sessionDescription, sessionLabel, shortLabel, totalTokens } from "./present";
import type { Message, Session } from "./protocol";

const PAGE = 200;

/** What the panels ask the rest of the extension to do. */
export interface ChatActions {
  exportSession(sessionId: string): Promise<void>;
  openMarkdown(sessionId: string): Promise<void>;
}

export class ChatPanels implements vscode.Disposable {
  private readonly panels = new Map<string, ChatPanel>();
  private readonly changedActive = new vscode.EventEmitter<void>();
  /** Fires when the focused chat changes (or none is focused any more). */
  readonly onDidChangeActive = this.changedActive.event;

  constructor(
    private readonly history: HistoryClient,
    private readonly extensionUri: vscode.Uri,
    private readonly actions: ChatActions,
  ) {}

  /** The session of the chat in front, if a chat is. */
  active(): string | undefined {
    return [...this.panels.values()].find((chat) => chat.panel.active)?.sessionId;
  }

  /** Show a session's chat, at its end or scrolled to the message `index`. */
  async open(sessionId: string, index?: number): Promise<void> {
    const open = this.panels.get(sessionId);
    if (open) {
      open.panel.reveal();
      if (index !== undefined) {
        await open.load(index);
      }
      return;
    }
    const session = await this.history.request("history/getSession", { sessionId });
    const chat = new ChatPanel(this, session, this.extensionUri, index);
    this.panels.set(sessionId, chat);
    chat.panel.onDidDispose(() => {
      this.panels.delete(sessionId);
      this.changedActive.fire();
    });
    chat.panel.onDidChangeViewState(() => this.changedActive.fire());
    this.changedActive.fire();
  }

  appended(sessionId: string, messages: Message[]): void {
    this.panels.get(sessionId)?.post({ type: "live", messages });
  }

  /** A session renamed, ended or compacted: its chat's header (and tab) follow. */
  changed(session: Session): void {
    void this.panels.get(session.id)?.showHeader(session);
  }

  close(sessionId: string): void {
    this.panels.get(sessionId)?.panel.dispose();
  }

  /** After a restart (perhaps on another database): the chats of sessions it lacks close. */
  async closeMissing(): Promise<void> {
    const open = [...this.panels.keys()];
    const held = await Promise.all(open.map((sessionId) => this.history.holds(sessionId)));
    open.filter((_, at) => !held[at]).forEach((sessionId) => this.close(sessionId));
  }

  dispose(): void {
    [...this.panels.values()].forEach((chat) => chat.panel.dispose());
    this.changedActive.dispose();
  }

  /** A message from a panel's page, acted on. */
  async handle(chat: ChatPanel, message: FromWebview): Promise<void> {
    const sessionId = chat.sessionId;
    switch (message.type) {
      case "ready":
        await chat.showHeader(await this.history.request("history/getSession", { sessionId }));
        return chat.load(chat.target);
      case "earlier": {
        const page = await this.history.request("history/getMessages", { sessionId, beforeIndex: message.beforeIndex, limit: PAGE });
        return chat.post({ type: "page", place: "before", messages: page.messages });
      }
      case "later": {
        const page = await this.history.request("history/getMessages", { sessionId, afterIndex: message.afterIndex, limit: PAGE });
        return chat.post({ type: "page", place: "after", messages: page.messages, hasMoreAfter: page.hasMore });
      }
      case "copy":
        await vscode.env.clipboard.writeText(message.text);
        return void vscode.window.setStatusBarMessage("Agent History: message copied", 3000);
      case "fork": {
        const fork = await this.history.request("history/forkSession", { sessionId, atMessageId: message.messageId });
        return this.open(fork.id);
      }
      case "open":
        return this.open(message.sessionId);
      case "export":
        return this.actions.exportSession(sessionId);
      case "markdown":
        return this.actions.openMarkdown(sessionId);
    }
  }

  /** The links of a session's header: the session it is a sub-agent of, its own sub-agents. */
  async links(session: Session): Promise<{ parent?: SessionLink; subagents: SessionLink[] }> {
    const link = (other: Session): SessionLink => ({ id: other.id, label: shortLabel(other, 40) });
    const parent = session.parentSessionId && session.kind === "subagent"
      ? await this.history.request("history/getSession", { sessionId: session.parentSessionId }).then(link, () => undefined)
      : undefined;
    // Not by project: Claude Code runs a sub-agent in a worktree of its own.
    const { sessions } = await this.history.listSessions({ kind: "subagent", limit: 500 });
    return { parent, subagents: sessions.filter((other) => other.parentSessionId === session.id).map(link) };
  }

  /** The latest compaction's summary, shown after the last message it summarised. */
  async compactionSummary(sessionId: string): Promise<string | undefined> {
    const context = await this.history.request("history/getContext", { sessionId, maxMessages: 1 });
    return context.summary ?? undefined;
  }

  /** The page opened at the session's end, or around the message `index`. */
  async page(sessionId: string, index?: number): Promise<Page> {
    if (index === undefined) {
      // Backwards from past any index: the newest page, even if messages came since getSession.
      const page = await this.history.request("history/getMessages", { sessionId, beforeIndex: Number.MAX_SAFE_INTEGER, limit: PAGE });
      return { place: "end", messages: page.messages };
    }
    const from = index - PAGE / 4;
    const page = await this.history.request("history/getMessages", { sessionId, ...(from >= 0 ? { afterIndex: from } : {}), limit: PAGE });
    return { place: "at", messages: page.messages, hasMoreAfter: page.hasMore, target: index };
  }
}

class ChatPanel {
  readonly panel: vscode.WebviewPanel;

  constructor(
    private readonly panels: ChatPanels,
    private session: Session,
    extensionUri: vscode.Uri,
    /** The message the chat opens at (else its end). */
    public target?: number,
  ) {
    const roots = [vscode.Uri.joinPath(extensionUri, "media"), vscode.Uri.joinPath(extensionUri, "out", "webview")];
    this.panel = vscode.window.createWebviewPanel("agentHistory.chat", shortLabel(session, 40), vscode.ViewColumn.Active, {
      enableScripts: true,
      enableFindWidget: true,
      retainContextWhenHidden: true, // a long transcript is not rebuilt on every tab switch
      localResourceRoots: roots,
    });
    this.panel.iconPath = vscode.Uri.joinPath(extensionUri, "media", "chat.svg");
    const webview = this.panel.webview;
    webview.onDidReceiveMessage((message: FromWebview) =>
      this.panels.handle(this, message).catch((error: unknown) => {
        void vscode.window.showErrorMessage(`Agent History: ${error instanceof Error ? error.message : String(error)}`);
      }),
    );
    const nonce = randomBytes(16).toString("base64");
    const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, "out", "webview", "chat.js"));
    const style = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, "media", "chat.css"));
    webview.html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src ${webview.cspSource} data:; style-src ${webview.cspSource}; script-src 'nonce-${nonce}';">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${style}">
<title>${escapeHtml(sessionLabel(session))}</title></head>
<body><header id="header"></header><main id="log"></main>
<script nonce="${nonce}" src="${script}"></script></body></html>`;
  }

  get sessionId(): string {
    return this.session.id;
  }

  post(message: ToWebview): void {
    void this.panel.webview.postMessage(message);
  }

  async load(index?: number): Promise<void> {
    this.post({ type: "page", ...(await this.panels.page(this.session.id, index)) });
  }

  async showHeader(session: Session): Promise<void> {
    this.session = session;
    this.panel.title = shortLabel(session, 40);
    const [links, compactionSummary] = await Promise.all([this.panels.links(session), this.panels.compactionSummary(session.id)]);
    const facts = [
      sessionDescription(session),
      session.projectId,
      `${plural(session.messageCount, "message")} · ${plural(session.toolCallCount, "tool call")} · ${totalTokens(session).toLocaleString()} tokens`,
    ].filter(Boolean).join(" · ");
    this.post({ type: "header", title: sessionLabel(session), facts, ...links, compactionSummary });
  }
}

const plural = (n: number, what: string) => `${n.toLocaleString()} ${what}${n === 1 ? "" : "s"}`;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
