// The real sidecar for node tests: spawned on a temporary database, the shared sample
// transcripts imported, shut down (or killed after a failed assertion) at the end.
import * as fs from "node:fs";
import { spawn } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import { StreamMessageReader, StreamMessageWriter, createMessageConnection } from "vscode-jsonrpc/node";
import { HistoryClient } from "../src/history";
import type { ImportTranscriptResult } from "../src/protocol";

export function samples(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const candidate = path.join(dir, "shared", "data", "transcripts");
    if (fs.existsSync(candidate)) {
      return candidate;
    }
  }
  throw new Error("the shared sample transcripts are not found");
}

/** Run `body` against a sidecar holding the Claude Code samples, started with these
 * initializationOptions. */
export async function withImportedSamples(
  body: (history: HistoryClient, imported: ImportTranscriptResult) => Promise<void>,
  initializationOptions: Record<string, unknown> = {},
): Promise<void> {
  await withSidecar(async (history) => {
    const imported = await history.request("history/importTranscript", { path: path.join(samples(), "claude-code") });
    await body(history, imported);
  }, initializationOptions);
}

/** Run `body` against a real sidecar on a temporary database, started with these
 * initializationOptions and `env` added to this process's environment. */
export async function withSidecar(
  body: (history: HistoryClient) => Promise<void>,
  initializationOptions: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = {},
): Promise<void> {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), "agent-history-node-"));
  const python = process.env.AGENT_HISTORY_PYTHON ?? "python3";
  const child = spawn(python, ["-m", "sidecar", "serve", "--db", path.join(folder, "history.db")], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  connection.listen();
  try {
    await connection.sendRequest("initialize", { processId: process.pid, capabilities: {}, initializationOptions });
    await connection.sendNotification("initialized", {});
    await body(new HistoryClient(connection));
    await connection.sendRequest("shutdown");
    await connection.sendNotification("exit");
  } finally {
    connection.dispose();
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(); // after a failed assertion it was never asked to shut down
      await exited;
    }
    fs.rmSync(folder, { recursive: true, force: true });
  }
}
