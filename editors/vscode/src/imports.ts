// Importing what the agents already wrote: every agent's history the sidecar finds (its own
// list of default locations: importTranscript without a path), or any file or folder; with
// progress (the sidecar's $/progress), cancellable, ending with a summary.
import * as vscode from "vscode";
import { WorkDoneProgress } from "vscode-languageclient/node";
import type { Connection } from "./connection";
import type { HistoryClient } from "./history";
import { importSummary, nothingFound } from "./present";
import type { TranscriptFormat } from "./protocol";

type Run = (body: (argument?: unknown) => Promise<void>) => (argument?: unknown) => Promise<void>;
const REQUEST_CANCELLED = -32800;

let tokens = 0;

const IMPORT_PATH = "Import a File or Folder…";

/** Import `target`, or with none every agent's history the sidecar finds. */
async function importPath(
  sidecar: Connection,
  history: HistoryClient,
  target: string | undefined,
  format: TranscriptFormat,
  name: string,
) {
  sidecar.log.info(`import of ${target ?? "every agent's history"} (${format}) begun`);
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
        const where = target === undefined ? {} : { path: target };
        return await history.request("history/importTranscript", { ...where, format, workDoneToken }, cancel);
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
  const told = result && (nothingFound(result) ?? importSummary(result));
  sidecar.log.info(`import of ${target ?? "every agent's history"} ${told ? `ended in ${Date.now() - began} ms: ${told}` : "cancelled"}`);
  if (result && nothingFound(result)) {
    // Not awaited: a notification left unanswered would hold the command for ever.
    void vscode.window.showWarningMessage(`Agent History: ${told}`, IMPORT_PATH).then((chosen) => {
      if (chosen === IMPORT_PATH) {
        void vscode.commands.executeCommand("agentHistory.importPath");
      }
    });
  } else if (result) {
    void vscode.window.showInformationMessage(`Agent History: ${told}`);
  } else {
    void vscode.window.showWarningMessage("Agent History: import cancelled; what was not committed was rolled back.");
  }
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
    vscode.commands.registerCommand("agentHistory.importAll", run(() => importPath(sidecar, history, undefined, "auto", "every agent's history"))),
    vscode.commands.registerCommand("agentHistory.importPath", run(() => importChosen(sidecar, history))),
  ];
}
