// Importing what the agents already wrote: Claude Code's and Codex's folders, or any file or
// folder; with progress (the sidecar's $/progress), cancellable, ending with a summary.
import * as fs from "fs";
import * as vscode from "vscode";
import { LanguageClient, WorkDoneProgress } from "vscode-languageclient/node";
import { agentFolders } from "./capture";
import type { HistoryClient } from "./history";
import { importSummary } from "./present";
import type { TranscriptFormat } from "./protocol";

type Run = (body: (argument?: unknown) => Promise<void>) => (argument?: unknown) => Promise<void>;
const REQUEST_CANCELLED = -32800;

let tokens = 0;

async function importPath(client: LanguageClient, history: HistoryClient, target: string, format: TranscriptFormat, name: string) {
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Importing ${name}`, cancellable: true },
    async (progress, cancel) => {
      const workDoneToken = `agentHistory.import.${process.pid}.${++tokens}`;
      let done = 0;
      const listening = client.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
        if (value.kind === "report") {
          const percentage = value.percentage ?? done;
          progress.report({ message: value.message && `${value.message} files`, increment: percentage - done });
          done = percentage;
        }
      });
      try {
        return await history.request("history/importTranscript", { path: target, format, workDoneToken }, cancel);
      } catch (error) {
        if ((error as { code?: number }).code === REQUEST_CANCELLED || cancel.isCancellationRequested) {
          return undefined;
        }
        throw error;
      } finally {
        listening.dispose();
      }
    },
  );
  if (result) {
    void vscode.window.showInformationMessage(`Agent History: ${importSummary(result)}`);
  } else {
    void vscode.window.showWarningMessage("Agent History: import cancelled; what was not committed was rolled back.");
  }
}

async function importAgent(client: LanguageClient, history: HistoryClient, agent: "claudeCode" | "codex") {
  const folder = agentFolders()[agent];
  const name = agent === "claudeCode" ? "Claude Code history" : "Codex history";
  if (!fs.existsSync(folder)) {
    void vscode.window.showWarningMessage(`Agent History: no ${name} here (${folder} does not exist).`);
    return;
  }
  await importPath(client, history, folder, agent === "claudeCode" ? "claude-code" : "codex", name);
}

async function importChosen(client: LanguageClient, history: HistoryClient) {
  const chosen = await vscode.window.showOpenDialog({
    canSelectFiles: true,
    canSelectFolders: true,
    canSelectMany: false,
    openLabel: "Import",
    title: "Import a transcript file or a folder of them",
  });
  if (chosen?.[0]) {
    await importPath(client, history, chosen[0].fsPath, "auto", chosen[0].fsPath);
  }
}

export function registerImports(client: LanguageClient, history: HistoryClient, run: Run): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand("agentHistory.importClaudeCode", run(() => importAgent(client, history, "claudeCode"))),
    vscode.commands.registerCommand("agentHistory.importCodex", run(() => importAgent(client, history, "codex"))),
    vscode.commands.registerCommand("agentHistory.importPath", run(() => importChosen(client, history))),
  ];
}
