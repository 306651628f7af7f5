// The Agent History extension: spawns the sidecar, shows sessions, transcripts, search,
// usage; and gives other extensions (the agent itself) the same sidecar through its API.
import * as vscode from "vscode";
import { ChatPanels } from "./chat";
import { Connection, State } from "./connection";
import { HistoryClient } from "./history";
import { IndexLag } from "./indexing";
import { registerImports } from "./imports";
import { registerMcpServer } from "./mcp";
import { changedSetting } from "./settings";
import { UsagePanel } from "./usage";
import {
  costLabel,
  hitSessionLabel,
  lastActive,
  matchesFilter,
  plainSnippet,
  projectName,
  relativeTime,
  sessionDescription,
  sessionIcon,
  sessionLabel,
  sessionTooltip,
  shortLabel,
  timeGroup,
  TIME_GROUPS,
  totalTokens,
} from "./present";
import type { ExportFormat, SearchHit, Session } from "./protocol";

const SCHEME = "agent-history";
let connection: Connection | undefined;

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

function reportError(log: vscode.LogOutputChannel, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  log.error(message);
  void vscode.window.showErrorMessage(`Agent History: ${message}`);
}

type Grouping = "project" | "time";
type Action = { kind: "action"; label: string; icon: string; command: vscode.Command };
type Node = { kind: "group"; key: string; grouping: Grouping; sessions: Session[] } | { kind: "session"; session: Session } | Action;
const action = (label: string, icon: string, command: string, args: unknown[] = []): Action => ({
  kind: "action",
  label,
  icon,
  command: { title: label, command, arguments: args },
});
const FAILED: Node[] = [
  action("Open the setting", "gear", "workbench.action.openSettings", ["agentHistory.command"]),
  action("Show the output", "output", "agentHistory.showOutput"),
  action("Retry", "refresh", "agentHistory.restart"),
];
const NO_PROJECT = "(no project)";

/** Sessions grouped by project (the current workspace's first, then by last activity) or by
 * time (Today, Yesterday, Last 7 days, Older); refreshed by notifications. */
class SessionsView implements vscode.TreeDataProvider<Node> {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private timer: NodeJS.Timeout | undefined;
  private grouping: Grouping = "project";
  /** Shown only: sessions whose title, preview or project hold this text. */
  filter = "";
  /** After each listing: how many sessions there are, and how many the filter shows. */
  private readonly counted = new vscode.EventEmitter<{ shown: number; all: number }>();
  readonly onDidCount = this.counted.event;

  /** `ready()` settles when the sidecar has started (or failed to: then the view offers a retry). */
  constructor(
    private readonly history: HistoryClient,
    private readonly ready: () => Promise<boolean>,
  ) {}

  refreshSoon(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.changed.fire(undefined), 100);
  }

  filterBy(filter: string): void {
    this.filter = filter;
    void vscode.commands.executeCommand("setContext", "agentHistory.filtered", filter.trim() !== "");
    this.changed.fire(undefined);
  }

  groupBy(grouping: Grouping): void {
    this.grouping = grouping;
    void vscode.commands.executeCommand("setContext", "agentHistory.grouping", grouping);
    this.changed.fire(undefined);
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (node?.kind === "group") {
      return node.sessions.map((session) => ({ kind: "session", session }));
    }
    if (node) {
      return [];
    }
    if (!(await this.ready())) {
      return FAILED; // a welcome view would hide the tree's message, which says what failed
    }
    const listed = (await this.history.listSessions({ limit: 500 })).sessions;
    const sessions = this.filter.trim() ? listed.filter((session) => matchesFilter(session, this.filter)) : listed;
    this.counted.fire({ shown: sessions.length, all: listed.length });
    return this.grouping === "time" ? byTime(sessions) : byProject(sessions);
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === "action") {
      const item = new vscode.TreeItem(node.label);
      item.iconPath = new vscode.ThemeIcon(node.icon);
      item.command = node.command;
      return item;
    }
    if (node.kind === "group") {
      const named = node.grouping === "project" && node.key !== NO_PROJECT;
      const item = new vscode.TreeItem(named ? projectName(node.key) : node.key, vscode.TreeItemCollapsibleState.Expanded);
      item.id = `${node.grouping}:${node.key}`;
      item.description = named ? node.key : `${node.sessions.length}`;
      item.iconPath = new vscode.ThemeIcon(node.grouping === "project" ? "folder" : "calendar");
      return item;
    }
    const session = node.session;
    const item = new vscode.TreeItem(shortLabel(session), vscode.TreeItemCollapsibleState.None);
    item.id = session.id;
    item.contextValue = "session";
    item.description = sessionDescription(session);
    item.tooltip = new vscode.MarkdownString(sessionTooltip(session));
    item.iconPath = new vscode.ThemeIcon(sessionIcon(session));
    item.command = { command: "agentHistory.open", title: "Open", arguments: [session.id] };
    item.accessibilityInformation = { label: `${sessionLabel(session)}, ${item.description}` };
    return item;
  }
}

function byProject(sessions: Session[]): Node[] {
  const here = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const groups = new Map<string, Session[]>();
  // Sessions come newest first, so the groups are made in order of last activity.
  for (const session of [...sessions].sort((a, b) => lastActive(b).localeCompare(lastActive(a)))) {
    const key = session.projectId ?? NO_PROJECT;
    groups.set(key, [...(groups.get(key) ?? []), session]);
  }
  const keys = [...groups.keys()].sort((a, b) => Number(b === here) - Number(a === here));
  return keys.map((key) => ({ kind: "group", grouping: "project", key, sessions: groups.get(key) ?? [] }));
}

function byTime(sessions: Session[]): Node[] {
  const now = new Date();
  const sorted = [...sessions].sort((a, b) => lastActive(b).localeCompare(lastActive(a)));
  return TIME_GROUPS.map((key) => ({
    kind: "group" as const,
    grouping: "time" as const,
    key,
    sessions: sorted.filter((session) => timeGroup(lastActive(session), now) === key),
  })).filter((group) => group.sessions.length > 0);
}

/** Transcripts as read-only markdown documents, agent-history:/<label>.md?<session id>
 * (the tab shows the session's label), kept current. */
class Transcripts implements vscode.TextDocumentContentProvider {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  constructor(private readonly history: HistoryClient) {}

  static uri(session: Session): vscode.Uri {
    const name = shortLabel(session, 40).replace(/[\\/:*?"<>|\s]+/g, " ").trim();
    return vscode.Uri.from({ scheme: SCHEME, path: `/${name || session.id}.md`, query: session.id });
  }

  static sessionOf(uri: vscode.Uri): string {
    return uri.query;
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const result = await this.history.exportSession({ sessionId: Transcripts.sessionOf(uri), format: "markdown" });
    return result.content;
  }

  touch(sessionId: string): void {
    for (const document of vscode.workspace.textDocuments) {
      if (document.uri.scheme === SCHEME && Transcripts.sessionOf(document.uri) === sessionId) {
        this.changed.fire(document.uri);
      }
    }
  }
}

/** The transcript as markdown text, for those who want text (scrolled to message `index`). */
async function openMarkdown(history: HistoryClient, sessionId: string, index?: number): Promise<void> {
  const session = await history.request("history/getSession", { sessionId });
  const document = await vscode.workspace.openTextDocument(Transcripts.uri(session));
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

type HitItem = vscode.QuickPickItem & { hit: SearchHit };

function hitItem(hit: SearchHit): HitItem {
  return {
    label: `$(comment) ${hitSessionLabel(hit)}`,
    description: `${hit.role} · ${relativeTime(hit.createdAt)}${hit.projectId ? ` · ${projectName(hit.projectId)}` : ""}`,
    detail: plainSnippet(hit.snippet, hit.highlights), // quick picks show no markdown
    alwaysShow: true, // the server matched it (stems too); the quick pick only highlights the words
    hit,
  };
}

/** The tabs showing markdown transcripts, each with its session. */
function transcriptTabs(): { tab: vscode.Tab; sessionId: string }[] {
  return vscode.window.tabGroups.all
    .flatMap((group) => group.tabs)
    .flatMap((tab) =>
      tab.input instanceof vscode.TabInputText && tab.input.uri.scheme === SCHEME
        ? [{ tab, sessionId: Transcripts.sessionOf(tab.input.uri) }]
        : [],
    );
}

/** Close the tabs showing a session's markdown transcript. */
async function closeTranscripts(sessionId: string): Promise<void> {
  await vscode.window.tabGroups.close(transcriptTabs().filter((shown) => shown.sessionId === sessionId).map(({ tab }) => tab));
}

/** After a restart (perhaps on another database): close what shows sessions it lacks. */
async function closeMissing(history: HistoryClient, chats: ChatPanels): Promise<void> {
  const shown = transcriptTabs();
  const held = await Promise.all(shown.map(({ sessionId }) => history.holds(sessionId)));
  await Promise.all([chats.closeMissing(), vscode.window.tabGroups.close(shown.filter((_, at) => !held[at]).map(({ tab }) => tab))]);
}

/** Search as you type: each pause of 250 ms asks the sidecar, cancelling the question before;
 * a hit opens its chat scrolled to the message. */
async function search(history: HistoryClient, chats: ChatPanels): Promise<void> {
  const pick = vscode.window.createQuickPick<HitItem>();
  pick.placeholder = "Search everything the agents said or ran";
  pick.matchOnDescription = true;
  pick.matchOnDetail = true;
  let timer: NodeJS.Timeout | undefined;
  let pending: vscode.CancellationTokenSource | undefined;
  const ask = async (query: string) => {
    pending?.cancel();
    const source = (pending = new vscode.CancellationTokenSource());
    pick.busy = true;
    try {
      const { hits } = await history.searchMessages({ query, limit: 50 }, source.token);
      if (!source.token.isCancellationRequested) {
        pick.items = hits.map(hitItem);
        pick.title = hits.length ? `${hits.length} hit${hits.length === 1 ? "" : "s"}` : `nothing found for ${query}`;
      }
    } catch (error) {
      if (!source.token.isCancellationRequested) {
        pick.title = error instanceof Error ? error.message : String(error);
      }
    } finally {
      if (pending === source) {
        pick.busy = false;
      }
    }
  };
  const picked = new Promise<HitItem | undefined>((resolve) => {
    pick.onDidChangeValue((value) => {
      clearTimeout(timer);
      timer = value.trim() ? setTimeout(() => void ask(value), 250) : undefined;
    });
    pick.onDidAccept(() => resolve(pick.selectedItems[0]));
    pick.onDidHide(() => resolve(undefined));
  });
  pick.show();
  const item = await picked;
  clearTimeout(timer);
  pending?.cancel();
  pick.dispose();
  if (item) {
    await chats.open(item.hit.sessionId, item.hit.index);
  }
}

/** The session a command acts on: the row or id it was given, else the chat or markdown
 * transcript in front, else one the person picks. */
async function targetSession(history: HistoryClient, chats: ChatPanels, argument: unknown): Promise<string | undefined> {
  return shownSession(chats, argument) ?? (await pickSession(history));
}

/** The session given, or shown in front; no question asked. */
function shownSession(chats: ChatPanels, argument?: unknown): string | undefined {
  if (typeof argument === "string") {
    return argument;
  }
  const node = argument as Node | undefined;
  if (node?.kind === "session") {
    return node.session.id;
  }
  const active = vscode.window.activeTextEditor?.document.uri;
  return chats.active() ?? (active?.scheme === SCHEME ? Transcripts.sessionOf(active) : undefined);
}

async function pickSession(history: HistoryClient): Promise<string | undefined> {
  const { sessions } = await history.listSessions({ limit: 200 });
  const picked = await vscode.window.showQuickPick(
    sessions.map((session) => ({
      label: `$(${sessionIcon(session)}) ${shortLabel(session)}`,
      description: sessionDescription(session),
      detail: session.projectId ? projectName(session.projectId) : undefined,
      id: session.id,
    })),
    { placeHolder: "Which session?", matchOnDescription: true, matchOnDetail: true },
  );
  return picked?.id;
}

/** Export to a file the person names (default: the session's title, in the workspace folder),
 * then offer to open it or reveal it. */
async function exportSession(history: HistoryClient, sessionId: string): Promise<void> {
  const format = (await vscode.window.showQuickPick(["markdown", "json", "jsonl"], { placeHolder: "Export format" })) as
    | ExportFormat
    | undefined;
  if (!format) {
    return;
  }
  const session = await history.request("history/getSession", { sessionId });
  const name = `${shortLabel(session, 60).replace(/[\\/:*?"<>|]+/g, " ").trim() || session.id}.${format === "markdown" ? "md" : format}`;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? vscode.Uri.file(process.cwd());
  const target = await vscode.window.showSaveDialog({ defaultUri: vscode.Uri.joinPath(folder, name) });
  if (!target) {
    return;
  }
  const { content } = await history.exportSession({ sessionId, format });
  await vscode.workspace.fs.writeFile(target, Buffer.from(content, "utf8"));
  const next = await vscode.window.showInformationMessage(`Exported “${sessionLabel(session)}”.`, "Open", "Reveal");
  if (next === "Open") {
    await vscode.window.showTextDocument(target);
  } else if (next === "Reveal") {
    await vscode.commands.executeCommand("revealFileInOS", target);
  }
}

/** The quick filter: the tree shows only what matches as the person types. */
function filterSessions(view: SessionsView): void {
  const box = vscode.window.createInputBox();
  box.title = "Filter sessions";
  box.placeholder = "Words in a title, a first request or a project";
  box.prompt = "The view narrows as you type; Enter keeps the filter, the view's Clear Filter button removes it.";
  box.value = view.filter;
  box.onDidChangeValue((value) => view.filterBy(value));
  box.onDidAccept(() => box.hide());
  box.onDidHide(() => box.dispose());
  box.show();
}

async function renameSession(history: HistoryClient, sessionId: string): Promise<void> {
  const session = await history.request("history/getSession", { sessionId });
  const title = await vscode.window.showInputBox({ title: "Rename session", value: sessionLabel(session), prompt: "Its new title" });
  if (title?.trim()) {
    await history.request("history/updateSession", { sessionId, title: title.trim() });
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
  const log = vscode.window.createOutputChannel("Agent History", { log: true });
  const sidecar = (connection = new Connection(log));
  const history = new HistoryClient(sidecar);
  // The view is there (loading) before the sidecar answers; its welcome says what comes next.
  const view = new SessionsView(history, () => sidecar.ready);
  const tree = vscode.window.createTreeView("agentHistory.sessions", { treeDataProvider: view });
  const transcripts = new Transcripts(history);
  const chats = new ChatPanels(history, context.extensionUri, {
    exportSession: (sessionId) => exportSession(history, sessionId),
    openMarkdown: (sessionId) => openMarkdown(history, sessionId),
  });
  const usage = new UsagePanel(history, context.extensionUri);
  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 50);
  const showActiveTokens = async () => {
    const sessionId = shownSession(chats);
    if (!sessionId) {
      return status.hide();
    }
    const [session, spent] = await Promise.all([
      history.request("history/getSession", { sessionId }),
      history.request("history/getUsage", { sessionId }),
    ]);
    const cost = costLabel(spent.cost, spent.unpricedModels.length > 0);
    status.text = `$(history) ${totalTokens(session).toLocaleString()} tokens · ${cost}`;
    status.tooltip = `Agent History: ${sessionLabel(session)}\ncost ${cost} (genai-prices)`;
    status.show();
  };
  const followActive = () => void showActiveTokens().catch(() => status.hide());
  const run = (body: (argument?: unknown) => Promise<void>) => async (argument?: unknown) => {
    try {
      await body(argument);
    } catch (error) {
      reportError(log, error);
    }
  };
  /** A command on a session: the one given or in front, else one picked. */
  const onSession = (body: (sessionId: string) => Promise<unknown>) =>
    run(async (argument) => {
      const sessionId = await targetSession(history, chats, argument);
      if (sessionId) {
        await body(sessionId);
      }
    });
  let viewNote: string | undefined; // what failed, or how many sessions the filter leaves
  const showNotes = () => {
    tree.message = [viewNote, lag.note].filter(Boolean).join(" · ") || undefined;
  };
  const lag = new IndexLag(history, showNotes);
  const followIndex = () => void lag.check();
  const showFilter = ({ shown, all }: { shown: number; all: number }) => {
    viewNote = view.filter.trim() ? `${shown} of ${all} sessions match “${view.filter.trim()}”` : undefined;
    showNotes();
  };

  /** Each start: the view loads, then shows the sessions (or the welcome) or what failed. */
  const showState = (state: State) => {
    // What failed, above the rows that offer the setting, the output, a retry.
    viewNote = state === "failed" ? sidecar.failure : undefined;
    showNotes();
    // The welcome view (imports) only once the sidecar answers: not while it starts.
    void vscode.commands.executeCommand("setContext", "agentHistory.state", state);
    view.refreshSoon();
    usage.refreshSoon();
    followActive();
    if (state === "ready") {
      followIndex();
      void closeMissing(history, chats).catch((error: unknown) => reportError(log, error));
    }
    if (state === "ready" && sidecar.settings?.capture) {
      announceCapture(context, sidecar.settings.capture.folders);
    }
  };

  context.subscriptions.push(
    log,
    tree,
    lag,
    { dispose: () => void sidecar.stop() },
    status,
    chats,
    usage,
    sidecar.onDidChangeState(showState),
    vscode.workspace.onDidChangeConfiguration((event) => {
      const setting = changedSetting(event);
      if (setting) {
        void sidecar.restart(`${setting} changed`);
      }
    }),
    vscode.commands.registerCommand("agentHistory.restart", () => void sidecar.restart("asked for (Retry or Restart Sidecar)")),
    vscode.commands.registerCommand("agentHistory.showOutput", () => log.show()),
    registerMcpServer(() => sidecar.settings),
    ...registerImports(sidecar, history, run),
    vscode.workspace.registerTextDocumentContentProvider(SCHEME, transcripts),
    view.onDidCount(showFilter),
    history.onDidAppendMessages(({ sessionId, messages }) => {
      view.refreshSoon();
      transcripts.touch(sessionId);
      chats.appended(sessionId, messages);
      usage.refreshSoon();
      followActive();
      followIndex();
    }),
    history.onDidChangeSession(({ sessionId, change, session }) => {
      view.refreshSoon();
      followIndex();
      if (change === "deleted") {
        void closeTranscripts(sessionId); // deleted here or by any other process
        chats.close(sessionId);
      } else {
        chats.changed(session);
      }
    }),
    vscode.window.onDidChangeActiveTextEditor(followActive),
    chats.onDidChangeActive(followActive),
    vscode.commands.registerCommand("agentHistory.refresh", () => view.refreshSoon()),
    vscode.commands.registerCommand("agentHistory.groupByTime", () => view.groupBy("time")),
    vscode.commands.registerCommand("agentHistory.groupByProject", () => view.groupBy("project")),
    vscode.commands.registerCommand("agentHistory.filter", () => filterSessions(view)),
    vscode.commands.registerCommand("agentHistory.clearFilter", () => view.filterBy("")),
    vscode.commands.registerCommand("agentHistory.search", run(() => search(history, chats))),
    vscode.commands.registerCommand("agentHistory.showUsage", run(() => usage.show())),
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
    vscode.commands.registerCommand("agentHistory.open", onSession((sessionId) => chats.open(sessionId))),
    vscode.commands.registerCommand("agentHistory.openMarkdown", onSession((sessionId) => openMarkdown(history, sessionId))),
    vscode.commands.registerCommand("agentHistory.export", onSession((sessionId) => exportSession(history, sessionId))),
    vscode.commands.registerCommand("agentHistory.rename", onSession((sessionId) => renameSession(history, sessionId))),
    vscode.commands.registerCommand(
      "agentHistory.copyId",
      onSession(async (sessionId) => {
        await vscode.env.clipboard.writeText(sessionId);
        vscode.window.setStatusBarMessage(`Agent History: copied ${sessionId}`, 3000);
      }),
    ),
    vscode.commands.registerCommand(
      "agentHistory.fork",
      onSession(async (sessionId) => {
        const fork = await history.request("history/forkSession", { sessionId });
        await chats.open(fork.id);
      }),
    ),
    vscode.commands.registerCommand(
      "agentHistory.delete",
      onSession(async (sessionId) => {
        const session = await history.request("history/getSession", { sessionId });
        const answer = await vscode.window.showWarningMessage(
          `Delete “${sessionLabel(session)}” and its ${session.messageCount} message${session.messageCount === 1 ? "" : "s"}?`,
          { modal: true, detail: `${session.projectId ?? NO_PROJECT} · ${session.id}` },
          "Delete",
        );
        if (answer === "Delete") {
          await history.request("history/deleteSession", { sessionId });
        }
      }),
    ),
  );

  void sidecar.start();
  return api(history);
}

function api(history: HistoryClient): AgentHistoryApi {
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
  await connection?.stop();
}
