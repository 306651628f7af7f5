// How sessions and hits read to a person, on fixed moments and on real imported transcripts
// (the shared samples, imported by the real sidecar).
import * as assert from "node:assert/strict";
import { test } from "node:test";
import type { HistoryClient } from "../src/history";
import {
  hitSessionLabel,
  importSummary,
  plainSnippet,
  relativeTime,
  sessionIcon,
  sessionLabel,
  sessionTooltip,
  shortLabel,
  timeGroup,
} from "../src/present";
import { withImportedSamples } from "./sidecar";

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

test("relative times and time groups count local calendar days", () => {
  const now = new Date(2026, 11, 2, 9, 30); // local time
  const at = (days: number, hours = 0) => new Date(now.getTime() - (days * 24 + hours) * 3600_000).toISOString();
  assert.equal(relativeTime(at(0), now), "just now");
  assert.equal(relativeTime(new Date(now.getTime() - 5 * 60_000).toISOString(), now), "5 min ago");
  assert.equal(relativeTime(at(0, 2), now), "2 h ago");
  assert.equal(relativeTime(at(3), now), "3 d ago");
  assert.equal(timeGroup(at(0, 9), now), "Today");
  assert.equal(timeGroup(at(0, 10), now), "Yesterday"); // 23:30 the day before
  assert.equal(timeGroup(at(6), now), "Last 7 days");
  assert.equal(timeGroup(at(8), now), "Older");
});

test("each kind of session has its icon", () => {
  const base = { id: "01J", kind: "chat", createdAt: "", updatedAt: "", messageCount: 0, turnCount: 0, toolCallCount: 0 };
  const session = (more: object) => ({ ...base, usage: {}, metadata: {}, ...more }) as Parameters<typeof sessionIcon>[0];
  assert.equal(sessionIcon(session({})), "comment-discussion");
  assert.equal(sessionIcon(session({ kind: "agent" })), "hubot");
  assert.equal(sessionIcon(session({ kind: "agent", metadata: { source: "codex" } })), "cloud-download");
  assert.equal(sessionIcon(session({ kind: "subagent", metadata: { source: "claude-code" } })), "type-hierarchy-sub");
  assert.equal(sessionIcon(session({ parentSessionId: "01P", forkedFromMessageId: "01M" })), "repo-forked");
});

test("a snippet loses its markers and escapes, found by the highlights", () => {
  const snippet = "a \\*star\\* and **kumquat** and **ünïcode** \\\\ end";
  const start = snippet.indexOf("kumquat");
  const second = snippet.indexOf("ünïcode");
  const highlights = [
    { start, end: start + 7 },
    { start: second, end: second + 7 },
  ];
  assert.equal(plainSnippet(snippet, highlights), "a *star* and kumquat and ünïcode \\ end");
});

/** The search index catches up in the background: ask until it answers (bounded). */
async function searchWhenIndexed(history: HistoryClient, query: string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { hits } = await history.searchMessages({ query, limit: 20 });
    if (hits.length > 0 || Date.now() > deadline) {
      assert.ok(hits.length > 0, `no hits for ${query} after 30 s`);
      return hits;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test("real imported sessions are named by their first request, never by a bare ULID", async () => {
  await withImportedSamples(async (history, imported) => {
    assert.match(importSummary(imported), /^Imported \d+ sessions, \d+ new messages from \d+ files/);
    const { sessions } = await history.listSessions({ limit: 500 });
    assert.ok(sessions.length >= 7, `${sessions.length} sessions`);
    for (const session of sessions) {
      assert.doesNotMatch(sessionLabel(session), ULID, `${session.id} has no title or preview`);
      assert.ok(shortLabel(session).length <= 60 && sessionLabel(session).startsWith(shortLabel(session).replace(/…$/, "")));
      assert.match(sessionTooltip(session), /Last active: /);
    }
    assert.ok(sessions.every((session) => sessionIcon(session) !== "comment-discussion")); // agents' imported sessions
    assert.ok(sessions.some((session) => sessionIcon(session) === "cloud-download"));
    const hits = await searchWhenIndexed(history, "claude");
    for (const hit of hits) {
      assert.doesNotMatch(hitSessionLabel(hit), ULID);
      const text = plainSnippet(hit.snippet, hit.highlights);
      for (const { start, end } of hit.highlights) {
        assert.equal(hit.snippet.slice(start - 2, start), "**");
        assert.ok(text.includes(hit.snippet.slice(start, end).replace(/\\(.)/g, "$1")));
      }
    }
  });
});
