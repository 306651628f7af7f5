// The sessions view's note of how far the search index is behind, on the real sidecar.
import * as assert from "node:assert/strict";
import { test } from "node:test";
import { IndexLag, indexingNote } from "../src/indexing";
import { HistoryClient } from "../src/history";
import { withImportedSamples } from "./sidecar";

const QUICK_POLL_MS = 20;

/** An IndexLag on `history`, polling quickly, and a wait for the note it shows to satisfy `wanted`. */
function follow(history: HistoryClient) {
  const shown: (string | undefined)[] = [];
  let waiting: (() => void) | undefined;
  const lag = new IndexLag(history, (note) => {
    shown.push(note);
    waiting?.();
  }, QUICK_POLL_MS);
  const until = (wanted: (note: string | undefined) => boolean) =>
    new Promise<void>((resolve) => {
      waiting = () => wanted(lag.note) && resolve();
      waiting();
    });
  return { lag, shown, until };
}

test("the note says how many messages are not searchable yet, and nothing when none or unknown", () => {
  assert.equal(indexingNote({ indexBehind: 12_345 }), `Indexing: ${(12_345).toLocaleString()} messages not searchable yet`);
  assert.equal(indexingNote({ indexBehind: 1 }), "Indexing: 1 message not searchable yet");
  assert.equal(indexingNote({ indexBehind: 0 }), undefined);
  assert.equal(indexingNote({ indexBehind: null }), undefined);
  assert.equal(indexingNote({}), undefined);
});

test("while nothing indexes, the note counts every message and follows new ones by polling", async () => {
  await withImportedSamples(async (history) => {
    const { messages } = await history.request("history/stats", null);
    const { lag, until } = follow(history);
    try {
      await lag.check();
      assert.equal(lag.note, indexingNote({ indexBehind: messages }));
      const session = await history.createSession({ kind: "agent" });
      await history.appendMessages({ sessionId: session.id, messages: [{ role: "user", content: "not searchable yet" }] });
      await until((note) => note === indexingNote({ indexBehind: messages + 1 })); // no check(): the poll saw it
    } finally {
      lag.dispose();
    }
  }, { searchIndex: false });
});

test("after an import the note goes away once the index has caught up", async () => {
  await withImportedSamples(async (history) => {
    const { lag, shown, until } = follow(history);
    try {
      await lag.check();
      await until((note) => note === undefined);
      assert.equal((await history.request("history/stats", null)).indexBehind, 0);
      assert.ok(shown.slice(0, -1).every((note) => note?.startsWith("Indexing: ")), String(shown));
    } finally {
      lag.dispose();
    }
  });
});

test("new messages while stats are being asked are asked about again", async () => {
  await withImportedSamples(async (history) => {
    let asked = 0;
    let askedAgain: () => void = () => undefined;
    const counting = new HistoryClient({
      sendRequest: <R>(method: string) => {
        asked += 1;
        askedAgain();
        return history.request(method as "history/stats", null) as Promise<R>;
      },
      onNotification: () => ({ dispose: () => undefined }),
    });
    const { lag, until } = follow(counting);
    try {
      await lag.check();
      await until((note) => note === undefined); // caught up: no poll is due
      const before = asked;
      const again = new Promise<void>((resolve) => (askedAgain = () => asked === before + 2 && resolve()));
      const first = lag.check();
      void lag.check(); // messages came while the first answer was on its way
      await first;
      await again; // the test's 30 s timeout fails it if stats are never asked again
    } finally {
      lag.dispose();
    }
  });
});
