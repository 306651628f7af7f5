// Live capture on by default: the agents whose transcript folders exist on this machine.
// Mirrors the sidecar's default locations (sidecar/transcripts/locations.py).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { CaptureOptions } from "./protocol";

/** Each agent's transcript folder: $CLAUDE_CONFIG_DIR/projects (else ~/.claude/projects),
 * $CODEX_HOME/sessions (else ~/.codex/sessions). */
export function agentFolders(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()) {
  return {
    claudeCode: path.join(env.CLAUDE_CONFIG_DIR || path.join(home, ".claude"), "projects"),
    codex: path.join(env.CODEX_HOME || path.join(home, ".codex"), "sessions"),
  };
}

/** What to ask the sidecar to capture: the agents whose folders exist, unless the user
 * turned capture off; undefined when there is nothing to capture. */
export function captureOptions(
  enabled: boolean,
  env: NodeJS.ProcessEnv = process.env,
  home: string = os.homedir(),
): { options: CaptureOptions; folders: string[] } | undefined {
  if (!enabled) {
    return undefined;
  }
  const folders = agentFolders(env, home);
  const claudeCode = fs.existsSync(folders.claudeCode);
  const codex = fs.existsSync(folders.codex);
  if (!claudeCode && !codex) {
    return undefined;
  }
  const found = [...(claudeCode ? [folders.claudeCode] : []), ...(codex ? [folders.codex] : [])];
  return { options: { claudeCode, codex }, folders: found };
}
