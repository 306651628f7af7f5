// The usage panel: tokens and cost, in all, by model, and by day over the last 30 days
// with use, for the workspace and for every project, refreshed as messages arrive. A page without script
// (its CSP allows only the extension's stylesheet).
import * as vscode from "vscode";
import type { HistoryClient } from "./history";
import { projectName } from "./present";
import type { GetUsageParams } from "./protocol";
import { scopeSection, UsageScope } from "./usageReport";

export class UsagePanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly history: HistoryClient,
    private readonly extensionUri: vscode.Uri,
  ) {}

  async show(): Promise<void> {
    if (this.panel) {
      this.panel.reveal();
    } else {
      this.panel = vscode.window.createWebviewPanel("agentHistory.usage", "Agent History: Usage", vscode.ViewColumn.Active, {
        localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, "media")],
      });
      this.panel.onDidDispose(() => (this.panel = undefined));
    }
    await this.render();
  }

  /** New messages: the figures follow, at most every 2 s. */
  refreshSoon(): void {
    if (this.panel && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.render();
      }, 2000);
    }
  }

  private async scope(title: string, projectId?: string): Promise<UsageScope> {
    const base: GetUsageParams = {
      ...(projectId ? { projectId } : {}),
      timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    };
    const [byDay, byModel] = await Promise.all([
      this.history.request("history/getUsage", { ...base, groupBy: "day" }),
      this.history.request("history/getUsage", { ...base, groupBy: "model" }),
    ]);
    return { title, byDay, byModel };
  }

  private async render(): Promise<void> {
    const panel = this.panel;
    if (!panel) {
      return;
    }
    const here = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const scopes = await Promise.all([
      ...(here ? [this.scope(`This workspace (${projectName(here)})`, here)] : []),
      this.scope("All projects"),
    ]);
    const style = panel.webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, "media", "usage.css"));
    panel.webview.html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${panel.webview.cspSource};">
<link rel="stylesheet" href="${style}"><title>Usage</title></head>
<body><h1>Tokens and cost</h1>${scopes.map((scope) => scopeSection(scope)).join("")}
<p class="note">Cost from the genai-prices data at each call's time; cache reads and writes priced as the provider prices them.</p></body></html>`;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.panel?.dispose();
  }
}
