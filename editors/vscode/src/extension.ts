// The Agent History extension: spawns the sidecar, shows sessions, transcripts, search,
// usage; and gives other extensions (the agent itself) the same sidecar through its API.
import * as fs from "fs";
import * as path from "path";
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";
import { captureOptions } from "./capture";
import { HistoryClient } from "./history";
import { registerMcpServer } from "./mcp";
import type { ExportFormat, SearchHit, Session, SyncOptions } from "./protocol";

const SCHEME = "agent-history";
let language: LanguageClient | undefined;

/** What other extensions get from `vscode.extensions.getExtension(...).activate()`. */
export interface AgentHistoryApi {
  createSession: HistoryClient["createSession"];
  appendMessages: HistoryClient["appendMessages"];
  getContext: HistoryClient["getContext"];
  searchMessages: HistoryClient["searchMessages"];
  onDidAppendMessages: HistoryClient["onDidAppendMessages"];
  /** Any other history/* request. */
  request: HistoryClient["request"];
}

function onPath(program: string): boolean {
  return (process.env.PATH ?? "").split(path.delimiter).some((dir) => fs.existsSync(path.join(dir, program)));
}

function sidecarCommand(): { command: string; args: string[] } {
  const configured = vscode.workspace.getConfiguration("agentHistory").get<string[]>("command") ?? [];
  if (configured.length > 0) {
    return { command: configured[0], args: configured.slice(1) };
  }
  if (onPath("agent-history")) {
    return { command: "agent-history", args: ["serve"] };
  }
  return { command: "python3", args: ["-m", "sidecar", "serve"] };
}

function tokens(session: Session): number {
  const u = session.usage;
  return (u.promptTokens ?? 0) + (u.completionTokens ?? 0) + (u.cacheReadTokens ?? 0) + (u.cacheCreationTokens ?? 0);
}

function reportError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  void vscode.window.showErrorMessage(`Agent History: ${message}`);
}

type Node = { kind: "project"; projectId: string; sessions: Session[] } | { kind: "session"; session: Session };

/** Sessions grouped by project, the current workspace's first; refreshed by notifications. */
class SessionsView implements vscode.TreeDataProvider<Node> {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly history: HistoryClient) {}

  refreshSoon(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.changed.fire(undefined), 100);
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (node?.kind === "project") {
      return node.sessions.map((session) => ({ kind: "session", session }));
    }
    if (node) {
      return [];
    }
    const { sessions } = await this.history.listSessions({ limit: 500 });
    const here = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const byProject = new Map<string, Session[]>();
    for (const session of sessions) {
      const key = session.projectId ?? "(no project)";
      byProject.set(key, [...(byProject.get(key) ?? []), session]);
    }
    const projects = [...byProject.entries()].sort(([a], [b]) => (a === here ? -1 : b === here ? 1 : a.localeCompare(b)));
    return projects.map(([projectId, list]) => ({ kind: "project", projectId, sessions: list }));
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === "project") {
      const item = new vscode.TreeItem(path.basename(node.projectId) || node.projectId, vscode.TreeItemCollapsibleState.Expanded);
      item.description = node.projectId;
      return item;
    }
    const session = node.session;
    const item = new vscode.TreeItem(session.title || session.id, vscode.TreeItemCollapsibleState.None);
    item.id = session.id;
    item.contextValue = "session";
    item.description = `${session.messageCount} msgs · ${tokens(session).toLocaleString()} tokens`;
    item.tooltip = `${session.id}\nupdated ${session.updatedAt}\nmodel ${session.model ?? "?"}`;
    item.command = { command: "agentHistory.open", title: "Open", arguments: [session.id] };
    return item;
  }
}

/** Transcripts as read-only markdown documents, agent-history:/<session>.md, kept current. */
class Transcripts implements vscode.TextDocumentContentProvider {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly history: HistoryClient) {}

  static uri(sessionId: string): vscode.Uri {
    return vscode.Uri.from({ scheme: SCHEME, path: `/${sessionId}.md` });
  }

  static sessionOf(uri: vscode.Uri): string {
    return path.basename(uri.path, ".md");
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const result = await this.history.exportSession({ sessionId: Transcripts.sessionOf(uri), format: "markdown" });
    return result.content;
  }

  touch(sessionId: string): void {
    this.changed.fire(Transcripts.uri(sessionId));
  }
}

async function openTranscript(sessionId: string, index?: number): Promise<void> {
  const document = await vscode.workspace.openTextDocument(Transcripts.uri(sessionId));
  await vscode.languages.setTextDocumentLanguage(document, "markdown");
  const editor = await vscode.window.showTextDocument(document, { preview: false });
  if (index !== undefined) {
    const line = document.getText().split("\n").findIndex((text) => text.startsWith(`### ${index}. `));
    if (line >= 0) {
      const position = new vscode.Position(line, 0);
      editor.selection = new vscode.Selection(position, position);
      editor.revealRange(new vscode.Range(position, position), vscode.TextEditorRevealType.AtTop);
    }
  }
}

async function search(history: HistoryClient): Promise<void> {
  const query = await vscode.window.showInputBox({ prompt: "Search everything the agents said or ran" });
  if (!query) {
    return;
  }
  const { hits } = await history.searchMessages({ query, limit: 50 });
  const picked = await vscode.window.showQuickPick(
    hits.map((hit: SearchHit) => ({
      label: `${hit.role} #${hit.index}`,
      description: hit.createdAt.slice(0, 16).replace("T", " "),
      detail: hit.snippet.replace(/\*\*/g, ""), // quick picks show no markdown
      hit,
    })),
    {
      placeHolder: hits.length ? `${hits.length} hit${hits.length === 1 ? "" : "s"} for ${query}` : `nothing found for ${query}`,
      matchOnDetail: true,
    },
  );
  if (picked) {
    await openTranscript(picked.hit.sessionId, picked.hit.index);
  }
}

function sessionArgument(argument: unknown): string | undefined {
  if (typeof argument === "string") {
    return argument;
  }
  const node = argument as Node | undefined;
  if (node?.kind === "session") {
    return node.session.id;
  }
  const active = vscode.window.activeTextEditor?.document.uri;
  return active?.scheme === SCHEME ? Transcripts.sessionOf(active) : undefined;
}

async function exportSession(history: HistoryClient, sessionId: string): Promise<void> {
  const format = (await vscode.window.showQuickPick(["markdown", "json", "jsonl"], { placeHolder: "Export format" })) as
    | ExportFormat
    | undefined;
  if (!format) {
    return;
  }
  const extension = format === "markdown" ? "md" : format;
  const target = await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.file(`${sessionId}.${extension}`) });
  if (target) {
    const { content } = await history.exportSession({ sessionId, format });
    await vscode.workspace.fs.writeFile(target, Buffer.from(content, "utf8"));
  }
}

/** Say once (per machine) that transcripts are captured, and how to stop it. */
function announceCapture(context: vscode.ExtensionContext, folders: string[]): void {
  const key = "agentHistory.captureAnnounced";
  if (!context.globalState.get<boolean>(key)) {
    void context.globalState.update(key, true);
    void vscode.window.showInformationMessage(
      `Agent History keeps the transcripts in ${folders.join(" and ")} as they are written, ` +
        "so they outlive the agents' own clean-up. The setting agentHistory.capture turns this off.",
    );
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<AgentHistoryApi> {
  const { command, args } = sidecarCommand();
  const databasePath = vscode.workspace.getConfiguration("agentHistory").get<string>("databasePath");
  const sync = vscode.workspace.getConfiguration("agentHistory").get<SyncOptions | null>("sync");
  const capture = captureOptions(vscode.workspace.getConfiguration("agentHistory").get<boolean>("capture") ?? true);
  const serverOptions: ServerOptions = { command, args };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [], // a sidecar, not a language server: no documents
    initializationOptions: {
      ...(databasePath ? { dbPath: databasePath } : {}),
      ...(sync?.url ? { sync } : {}),
      ...(capture ? { capture: capture.options } : {}),
      projectId: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
    },
    outputChannelName: "Agent History",
  };
  // The default error handler restarts a sidecar that dies (up to 4 times in 3 minutes).
  language = new LanguageClient("agentHistory", "Agent History", serverOptions, clientOptions);
  await language.start();
  const history = new HistoryClient(language);
  if (capture) {
    announceCapture(context, capture.folders);
  }

  const view = new SessionsView(history);
  const transcripts = new Transcripts(history);
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 50);
  const showActiveTokens = async () => {
    const sessionId = sessionArgument(undefined);
    if (!sessionId) {
      return status.hide();
    }
    const [session, spent] = await Promise.all([
      history.request("history/getSession", { sessionId }),
      history.request("history/getUsage", { sessionId }),
    ]);
    // A model without a known price is left out of the cost, never counted free: `+?`.
    const cost = `$${spent.cost.toFixed(2)}${spent.unpricedModels.length ? "+?" : ""}`;
    status.text = `$(history) ${tokens(session).toLocaleString()} tokens · ${cost}`;
    status.tooltip = `Agent History: ${session.title ?? session.id}\ncost ${cost} (genai-prices)`;
    status.show();
  };
  const run = (body: (argument?: unknown) => Promise<void>) => async (argument?: unknown) => {
    try {
      await body(argument);
    } catch (error) {
      reportError(error);
    }
  };

  context.subscriptions.push(
    language,
    status,
    registerMcpServer({ command, args }, databasePath || undefined),
    vscode.window.registerTreeDataProvider("agentHistory.sessions", view),
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, transcripts),
    history.onDidAppendMessages(({ sessionId }) => {
      view.refreshSoon();
      transcripts.touch(sessionId);
      void showActiveTokens();
    }),
    history.onDidChangeSession(() => view.refreshSoon()),
    vscode.window.onDidChangeActiveTextEditor(() => void showActiveTokens().catch(() => status.hide())),
    vscode.commands.registerCommand("agentHistory.refresh", () => view.refreshSoon()),
    vscode.commands.registerCommand("agentHistory.search", run(() => search(history))),
    vscode.commands.registerCommand(
      "agentHistory.sync",
      run(async () => {
        const moved = await history.request("history/sync", null);
        const summary = `pushed ${moved.pushedMessages}, pulled ${moved.pulledMessages} messages`;
        if (moved.online) {
          void vscode.window.showInformationMessage(`Agent History synced: ${summary}.`);
        } else {
          void vscode.window.showWarningMessage(`Agent History is offline (${moved.error ?? "no answer"}); changes wait.`);
        }
      }),
    ),
    vscode.commands.registerCommand(
      "agentHistory.open",
      run(async (argument) => {
        const sessionId = sessionArgument(argument);
        if (sessionId) {
          await openTranscript(sessionId);
        }
      }),
    ),
    vscode.commands.registerCommand(
      "agentHistory.export",
      run(async (argument) => {
        const sessionId = sessionArgument(argument);
        if (sessionId) {
          await exportSession(history, sessionId);
        }
      }),
    ),
    vscode.commands.registerCommand(
      "agentHistory.fork",
      run(async (argument) => {
        const sessionId = sessionArgument(argument);
        if (sessionId) {
          const fork = await history.request("history/forkSession", { sessionId });
          await openTranscript(fork.id);
        }
      }),
    ),
    vscode.commands.registerCommand(
      "agentHistory.delete",
      run(async (argument) => {
        const sessionId = sessionArgument(argument);
        const answer = sessionId
          ? await vscode.window.showWarningMessage(`Delete session ${sessionId} and all its messages?`, { modal: true }, "Delete")
          : undefined;
        if (sessionId && answer === "Delete") {
          await history.request("history/deleteSession", { sessionId });
        }
      }),
    ),
  );

  return {
    createSession: (params) => history.createSession(params),
    appendMessages: (params, token) => history.appendMessages(params, token),
    getContext: (params) => history.getContext(params),
    searchMessages: (params, token) => history.searchMessages(params, token),
    onDidAppendMessages: (handler) => history.onDidAppendMessages(handler),
    request: (method, params, token) => history.request(method, params, token),
  };
}

export async function deactivate(): Promise<void> {
  await language?.stop();
}
