// The extension's protocol module driven through vscode-jsonrpc against the real sidecar.
// AGENT_HISTORY_PYTHON names the Python that has the sidecar installed (default python3).
import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import {
  CancellationTokenSource,
  MessageConnection,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  createMessageConnection,
} from "vscode-jsonrpc/node";
import { HistoryClient } from "../src/history";
import { ErrorCodes, Notifications } from "../src/protocol";

const python = process.env.AGENT_HISTORY_PYTHON ?? "python3";
const folder = fs.mkdtempSync(path.join(os.tmpdir(), "agent-history-node-"));
const dbPath = path.join(folder, "history.db");

interface Running {
  process: ChildProcess;
  connection: MessageConnection;
  history: HistoryClient;
}

async function startSidecar(): Promise<Running> {
  const child = spawn(python, ["-m", "sidecar", "serve", "--db", dbPath], { stdio: ["pipe", "pipe", "inherit"] });
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  connection.listen();
  await connection.sendRequest("initialize", { processId: process.pid, capabilities: {}, initializationOptions: {} });
  await connection.sendNotification("initialized", {});
  return { process: child, connection, history: new HistoryClient(connection) };
}

async function stopSidecar(running: Running): Promise<void> {
  await running.connection.sendRequest("shutdown");
  await running.connection.sendNotification("exit");
  running.connection.dispose();
  await new Promise((resolve) => running.process.once("exit", resolve));
}

let sidecar: Running;
before(async () => {
  sidecar = await startSidecar();
});
after(
  async () => {
    await stopSidecar(sidecar);
    fs.rmSync(folder, { recursive: true, force: true });
  },
  { timeout: 10_000 }, // a sidecar that does not exit after shutdown/exit fails the run instead of hanging it
);

test("append, read back the context, and hear the notification", async () => {
  const { history } = sidecar;
  const session = await history.createSession({ kind: "agent", title: "from node" });
  const heard = new Promise<Notifications["history/didAppendMessages"]>((resolve) => {
    const listener = history.onDidAppendMessages((params) => {
      if (params.sessionId === session.id) {
        listener.dispose();
        resolve(params);
      }
    });
  });
  const appended = await history.appendMessages({
    sessionId: session.id,
    messages: [
      { role: "user", content: "hello from node" },
      { role: "assistant", content: "hi", toolCalls: [{ id: "c1", name: "bash", arguments: { command: "ls" } }] },
    ],
  });
  assert.deepEqual(
    appended.messages.map((m) => m.index),
    [0, 1],
  );
  const notification = await heard;
  assert.deepEqual(
    notification.messages.map((m) => m.content),
    ["hello from node", "hi"],
  );
  const context = await history.getContext({ sessionId: session.id, maxMessages: 50 });
  assert.equal(context.messages.length, 2);
  assert.deepEqual(
    context.pendingToolCalls.map((call) => call.id),
    ["c1"],
  );
});

test("another process's append reaches this client within a second", async () => {
  const session = await sidecar.history.createSession({ kind: "agent" });
  const other = await startSidecar();
  try {
    const heard = new Promise<number>((resolve) => {
      sidecar.history.onDidAppendMessages((params) => {
        if (params.sessionId === session.id) {
          resolve(Date.now());
        }
      });
    });
    await other.history.appendMessages({ sessionId: session.id, messages: [{ role: "user", content: "from afar" }] });
    const acknowledged = Date.now();
    assert.ok((await heard) - acknowledged < 1000);
  } finally {
    await stopSidecar(other);
  }
});

test("errors carry the contract's codes and name the field", async () => {
  await assert.rejects(sidecar.history.getContext({ sessionId: "no such session" }), (error: ResponseError<unknown>) => {
    assert.equal(error.code, ErrorCodes.SessionNotFound);
    return true;
  });
  await assert.rejects(
    sidecar.history.request("history/appendMessages", {
      sessionId: "x",
      messages: [{ role: "robot" as never, content: "?" }],
    }),
    (error: ResponseError<unknown>) => {
      assert.equal(error.code, ErrorCodes.InvalidParams);
      assert.match(error.message, /messages\[0\]\.role: expected one of system, user, assistant, tool/);
      return true;
    },
  );
  // The extension's "Sync Now" on a sidecar without sync configured.
  await assert.rejects(sidecar.history.request("history/sync", null), (error: ResponseError<unknown>) => {
    assert.equal(error.code, -32600);
    assert.match(error.message, /sync is not configured/);
    return true;
  });
});

// After a restart on another database, the extension closes the chats of sessions it lacks.
test("holds: true for a session of this database, false for an unknown one", async () => {
  const session = await sidecar.history.createSession({ kind: "chat", title: "held" });
  assert.equal(await sidecar.history.holds(session.id), true);
  assert.equal(await sidecar.history.holds("01ARZ3NDEKTSV4RRFFQ69G5FAV"), false);
});

test("a cancelled request is answered as cancelled and commits nothing", async () => {
  const { history } = sidecar;
  const session = await history.createSession({ kind: "chat" });
  for (let batch = 0; batch < 20; batch++) {
    const messages = Array.from({ length: 1000 }, (_, n) => ({ role: "user" as const, content: `message ${batch}-${n}` }));
    await history.appendMessages({ sessionId: session.id, messages });
  }
  const before = await history.request("history/stats", null);
  const source = new CancellationTokenSource();
  const fork = history.request("history/forkSession", { sessionId: session.id }, source.token);
  setTimeout(() => source.cancel(), 20);
  await assert.rejects(fork, (error: ResponseError<unknown>) => {
    assert.equal(error.code, ErrorCodes.RequestCancelled);
    return true;
  });
  const afterwards = await history.request("history/stats", null);
  assert.equal(afterwards.sessions, before.sessions);
  assert.equal(afterwards.messages, before.messages);
});
