// Live capture on by default: the agents whose transcript folders exist on this machine.
// Mirrors the sidecar's default locations (sidecar/transcripts/locations.py).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { CaptureOptions } from "./protocol";

/** Each agent's transcript folder: $CLAUDE_CONFIG_DIR/projects (else ~/.claude/projects),
 * $CODEX_HOME/sessions (else ~/.codex/sessions); `others`, those of the agents the sidecar
 * follows unless `capture.agents` says otherwise, that live in the home folder (Gemini CLI's,
 * Continue's, Copilot CLI's, Cursor's agent transcripts; Cline's and Copilot Chat's, in VS
 * Code's own storage, the sidecar finds itself). */
export function agentFolders(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()) {
  return {
    claudeCode: path.join(env.CLAUDE_CONFIG_DIR || path.join(home, ".claude"), "projects"),
    codex: path.join(env.CODEX_HOME || path.join(home, ".codex"), "sessions"),
    others: [
      path.join(env.GEMINI_CLI_HOME || home, ".gemini", "tmp"),
      path.join(env.CONTINUE_GLOBAL_DIR || path.join(home, ".continue"), "sessions"),
      path.join(env.COPILOT_HOME || path.join(home, ".copilot"), "session-state"),
      path.join(home, ".cursor", "projects"),
    ],
  };
}

/** What to ask the sidecar to capture: the agents whose folders exist (the other agents'
 * as the sidecar finds them: `agents` is left out), unless the user turned capture off;
 * undefined when there is nothing to capture. */
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
  const others = folders.others.filter((folder) => fs.existsSync(folder));
  if (!claudeCode && !codex && others.length === 0) {
    return undefined;
  }
  const found = [...(claudeCode ? [folders.claudeCode] : []), ...(codex ? [folders.codex] : []), ...others];
  return { options: { claudeCode, codex }, folders: found };
}
