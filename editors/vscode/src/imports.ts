// Importing what the agents already wrote: Claude Code's and Codex's folders, or any file or
// folder; with progress (the sidecar's $/progress), cancellable, ending with a summary.
import * as fs from "fs";
import * as vscode from "vscode";
import { WorkDoneProgress } from "vscode-languageclient/node";
import { agentFolders } from "./capture";
import type { Connection } from "./connection";
import type { HistoryClient } from "./history";
import { importSummary } from "./present";
import type { TranscriptFormat } from "./protocol";

type Run = (body: (argument?: unknown) => Promise<void>) => (argument?: unknown) => Promise<void>;
const REQUEST_CANCELLED = -32800;

let tokens = 0;

async function importPath(sidecar: Connection, history: HistoryClient, target: string, format: TranscriptFormat, name: string) {
  sidecar.log.info(`import of ${target} (${format}) begun`);
  const began = Date.now();
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Importing ${name}`, cancellable: true },
    async (progress, cancel) => {
      const workDoneToken = `agentHistory.import.${process.pid}.${++tokens}`;
      let done = 0;
      const listening = sidecar.onProgress(WorkDoneProgress.type, workDoneToken, (value) => {
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
  sidecar.log.info(`import of ${target} ${result ? `ended in ${Date.now() - began} ms: ${importSummary(result)}` : "cancelled"}`);
  if (result) {
    void vscode.window.showInformationMessage(`Agent History: ${importSummary(result)}`);
  } else {
    void vscode.window.showWarningMessage("Agent History: import cancelled; what was not committed was rolled back.");
  }
}

async function importAgent(sidecar: Connection, history: HistoryClient, agent: "claudeCode" | "codex") {
  const folder = agentFolders()[agent];
  const name = agent === "claudeCode" ? "Claude Code history" : "Codex history";
  if (!fs.existsSync(folder)) {
    void vscode.window.showWarningMessage(`Agent History: no ${name} here (${folder} does not exist).`);
    return;
  }
  await importPath(sidecar, history, folder, agent === "claudeCode" ? "claude-code" : "codex", name);
}

async function importChosen(sidecar: Connection, history: HistoryClient) {
  const chosen = await vscode.window.showOpenDialog({
    canSelectFiles: true,
    canSelectFolders: true,
    canSelectMany: false,
    openLabel: "Import",
    title: "Import a transcript file or a folder of them",
  });
  if (chosen?.[0]) {
    await importPath(sidecar, history, chosen[0].fsPath, "auto", chosen[0].fsPath);
  }
}

export function registerImports(sidecar: Connection, history: HistoryClient, run: Run): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand("agentHistory.importClaudeCode", run(() => importAgent(sidecar, history, "claudeCode"))),
    vscode.commands.registerCommand("agentHistory.importCodex", run(() => importAgent(sidecar, history, "codex"))),
    vscode.commands.registerCommand("agentHistory.importPath", run(() => importChosen(sidecar, history))),
  ];
}
