// The filter, the chat transcript's reading of messages and the usage report, on the real
// sidecar's answers for the imported shared samples.
import * as assert from "node:assert/strict";
import { test } from "node:test";
import { author, callSubject, copyText, isFailure, sizeLabel, thinkingOf } from "../src/chatModel";
import { matchesFilter, projectName } from "../src/present";
import type { Message } from "../src/protocol";
import { chartDays, compactTokens, dayChart, modelTable, scopeSection } from "../src/usageReport";
import { withImportedSamples } from "./sidecar";

test("sizes and token counts read as a person reads them", () => {
  assert.equal(sizeLabel("x".repeat(812)), "812 B");
  assert.equal(sizeLabel("é".repeat(1150)), "2.3 KB"); // UTF-8 bytes, not characters
  assert.equal(compactTokens(950), "950");
  assert.equal(compactTokens(12_345), "12.3k");
  assert.equal(compactTokens(4_500_000), "4.5M");
  assert.equal(dayChart([]), '<p class="note">No usage recorded.</p>');
});

test("the filter, the chat's reading and the usage report, on real imported sessions", async () => {
  await withImportedSamples(async (history) => {
    const { sessions } = await history.listSessions({ limit: 500 });
    const first = sessions.find((session) => session.preview) ?? assert.fail("no session has a preview");
    const word = (first.preview ?? "").split(/\s+/).find((w) => w.length > 5) ?? assert.fail("no word");
    assert.ok(sessions.filter((session) => matchesFilter(session, word.toUpperCase())).includes(first));
    const project = first.projectId ?? assert.fail("no project");
    const inProject = sessions.filter((session) => session.projectId === project);
    const byName = sessions.filter((session) => matchesFilter(session, projectName(project)));
    assert.ok(inProject.every((session) => byName.includes(session)) && byName.length < sessions.length);
    assert.deepEqual(sessions.filter((session) => matchesFilter(session, "no-such-words-anywhere")), []);

    const messages: Message[] = [];
    for (const session of sessions) {
      messages.push(...(await history.request("history/getMessages", { sessionId: session.id, limit: 1000 })).messages);
    }
    const calls = messages.flatMap((message) => message.toolCalls ?? []);
    assert.ok(calls.length > 10, `${calls.length} tool calls`);
    const bash = calls.find((call) => call.name === "Bash") ?? assert.fail("no Bash call");
    assert.equal(callSubject(bash), String((bash.arguments as { command: string }).command).replace(/\s+/g, " ").trim().slice(0, 90).replace(/^(.{89}).+$/, "$1…"));
    assert.ok(calls.every((call) => typeof callSubject(call) === "string" && callSubject(call).length <= 90));
    assert.ok(messages.some((message) => message.role === "tool" && isFailure(message)), "no failed tool result in the samples");
    const thoughtful = messages.find((message) => thinkingOf(message));
    assert.ok(thoughtful && author(thoughtful).startsWith("Assistant"));
    const withCall = messages.find((message) => message.content && message.toolCalls?.length) ?? assert.fail();
    assert.ok(copyText(withCall).startsWith(withCall.content ?? "") && copyText(withCall).includes(withCall.toolCalls![0].name));

    const byDay = await history.request("history/getUsage", { groupBy: "day" });
    const byModel = await history.request("history/getUsage", { groupBy: "model" });
    const days = chartDays(byDay.groups, 3);
    assert.deepEqual(days.map((day) => day.key), byDay.groups.map((group) => group.key).sort().slice(-3)); // the last days with use
    const chart = dayChart(chartDays(byDay.groups));
    assert.equal(chart.match(/<rect class="bar"/g)?.length, Math.min(30, byDay.groups.length));
    for (const group of chartDays(byDay.groups)) {
      assert.ok(chart.includes(`<title>${group.key}: `), group.key);
    }
    const table = modelTable(byModel.groups);
    assert.ok(byModel.groups.length > 0 && byModel.groups.every((group) => table.includes(`>${group.key}<`)));
    const section = scopeSection({ title: "All projects", byDay, byModel });
    assert.match(section, /<b>[\d,]+<\/b> tokens · <b>\$\d+\.\d\d(\+\?)?<\/b>/);
    assert.equal(section.includes("No known price for"), byDay.unpricedModels.length > 0);
  });
});
