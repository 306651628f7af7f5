// Which agents' folders the extension asks the sidecar to capture by default.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { captureOptions } from "../src/capture";

test("capture is on for the agents whose folders exist, honouring CLAUDE_CONFIG_DIR, and off on request", () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "agent-history-home-"));
  const claude = path.join(home, "elsewhere");
  fs.mkdirSync(path.join(claude, "projects"), { recursive: true });
  const env = { CLAUDE_CONFIG_DIR: claude };
  assert.deepEqual(captureOptions(true, env, home), {
    options: { claudeCode: true, codex: false },
    folders: [path.join(claude, "projects")],
  });
  assert.equal(captureOptions(true, {}, home), undefined); // ~/.claude/projects does not exist there
  fs.mkdirSync(path.join(home, ".codex", "sessions"), { recursive: true });
  assert.deepEqual(captureOptions(true, {}, home)?.options, { claudeCode: false, codex: true });
  assert.equal(captureOptions(false, env, home), undefined);
});

test("capture is on for the other agents' folders too, the sidecar choosing which of theirs to follow", () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "agent-history-home-"));
  assert.equal(captureOptions(true, {}, home), undefined);
  const gemini = path.join(home, ".gemini", "tmp");
  fs.mkdirSync(gemini, { recursive: true });
  assert.deepEqual(captureOptions(true, {}, home), { options: { claudeCode: false, codex: false }, folders: [gemini] });
});
