// The settings the sidecar is started with, read afresh at each start: a change to any of
// them restarts the sidecar in place (see connection.ts).
import * as fs from "fs";
import * as path from "path";
import * as vscode from "vscode";
import { captureOptions } from "./capture";
import type { CaptureOptions, SyncOptions } from "./protocol";

/** The settings a running sidecar was started with. */
export const SIDECAR_SETTINGS = [
  "agentHistory.command",
  "agentHistory.databasePath",
  "agentHistory.sync",
  "agentHistory.capture",
] as const;

export interface SidecarSettings {
  command: string;
  args: string[];
  /** Empty: the sidecar's own default. */
  databasePath: string;
  sync: SyncOptions | null;
  capture: { options: CaptureOptions; folders: string[] } | undefined;
  projectId: string | undefined;
}

function onPath(program: string): boolean {
  return (process.env.PATH ?? "").split(path.delimiter).some((dir) => fs.existsSync(path.join(dir, program)));
}

function sidecarCommand(configured: string[]): { command: string; args: string[] } {
  if (configured.length > 0) {
    return { command: configured[0], args: configured.slice(1) };
  }
  if (onPath("agent-history")) {
    return { command: "agent-history", args: ["serve"] };
  }
  return { command: "python3", args: ["-m", "sidecar", "serve"] };
}

export function readSettings(): SidecarSettings {
  const settings = vscode.workspace.getConfiguration("agentHistory");
  return {
    ...sidecarCommand(settings.get<string[]>("command") ?? []),
    databasePath: settings.get<string>("databasePath") ?? "",
    sync: settings.get<SyncOptions | null>("sync") ?? null,
    capture: captureOptions(settings.get<boolean>("capture") ?? true),
    projectId: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
  };
}

/** The initialize request's options for these settings. */
export function initializationOptions(settings: SidecarSettings): object {
  return {
    ...(settings.databasePath ? { dbPath: settings.databasePath } : {}),
    ...(settings.sync?.url ? { sync: settings.sync } : {}),
    ...(settings.capture ? { capture: settings.capture.options } : {}),
    projectId: settings.projectId,
  };
}

/** The first sidecar setting this change touches, if any. */
export function changedSetting(event: vscode.ConfigurationChangeEvent): string | undefined {
  return SIDECAR_SETTINGS.find((name) => event.affectsConfiguration(name));
}
