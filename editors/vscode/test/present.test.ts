// How sessions and hits read to a person, on fixed moments and on real imported transcripts
// (the shared samples, imported by the real sidecar).
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { test } from "node:test";
import * as os from "node:os";
import * as path from "node:path";
import type { HistoryClient } from "../src/history";
import {
  hitSessionLabel,
  importSummary,
  nothingFound,
  plainSnippet,
  relativeTime,
  sessionIcon,
  sessionLabel,
  sessionTooltip,
  shortLabel,
  timeGroup,
} from "../src/present";
import { samples, withImportedSamples, withSidecar } from "./sidecar";

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

// Every variable the sidecar's default locations read (sidecar/transcripts/locations.py),
// emptied: each falls back to HOME.
const LOCATION_VARIABLES = ["CLAUDE_CONFIG_DIR", "CODEX_HOME", "GEMINI_CLI_HOME", "CONTINUE_GLOBAL_DIR", "COPILOT_HOME"];
const XDG_VARIABLES = ["XDG_CONFIG_HOME", "XDG_DATA_HOME", "FLATPAK_XDG_DATA_HOME", "APPDATA", "LOCALAPPDATA"];

test("importing every agent's history says where it looked when it finds none, and whence what it imported came", async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "agent-history-home-"));
  const env = Object.fromEntries([...LOCATION_VARIABLES, ...XDG_VARIABLES].map((name) => [name, ""]));
  try {
    await withSidecar(
      async (history) => {
        const none = await history.request("history/importTranscript", {});
        const projects = path.join(home, ".claude", "projects");
        assert.match(nothingFound(none) ?? "", /^no agent's history found on this machine \(looked in \d+ places: /);
        assert.ok(nothingFound(none)?.includes(projects), nothingFound(none));
        fs.cpSync(path.join(samples(), "claude-code"), path.join(projects, "-work-sample"), { recursive: true });
        const transcripts = fs.readdirSync(path.join(projects, "-work-sample")).filter((name) => name.endsWith(".jsonl"));
        const imported = await history.request("history/importTranscript", {});
        assert.equal(nothingFound(imported), undefined);
        const count = transcripts.length;
        assert.match(importSummary(imported), new RegExp(`^Imported ${count} sessions, \\d+ new messages from ${count} files: claude-code ${count}\\.$`));
      },
      {},
      { ...env, HOME: home },
    );
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
