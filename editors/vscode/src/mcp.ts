// Offers `agent-history mcp` to VS Code's MCP support (Copilot's agent mode), so the agent
// can search and read its past sessions. The API arrived in VS Code 1.101; on an older
// VS Code (this extension supports 1.90 on) nothing is registered.
import * as vscode from "vscode";
import { changedSetting, SidecarSettings } from "./settings";

/** The id under `contributes.mcpServerDefinitionProviders` in package.json. */
const PROVIDER_ID = "agentHistory.mcp";
const SETTING = "agentHistory.mcpServer.enabled";

interface Command {
  command: string;
  args: string[];
}

interface Provider {
  onDidChangeMcpServerDefinitions: vscode.Event<void>;
  provideMcpServerDefinitions(): object[];
}

/** The part of VS Code 1.101's API used here; @types/vscode 1.90 does not declare it. */
interface McpApi {
  lm?: { registerMcpServerDefinitionProvider?(id: string, provider: Provider): vscode.Disposable };
  McpStdioServerDefinition?: new (label: string, command: string, args?: string[]) => object;
}

/** The sidecar's own command with `serve` swapped for `mcp`, on the same database. */
export function mcpCommand(sidecar: Command, databasePath?: string): Command {
  const args = sidecar.args.includes("serve")
    ? sidecar.args.map((arg) => (arg === "serve" ? "mcp" : arg))
    : [...sidecar.args, "mcp"];
  return { command: sidecar.command, args: databasePath ? [...args, "--db", databasePath] : args };
}

/** `current` gives the settings the sidecar runs with (undefined before its first start). */
export function registerMcpServer(current: () => SidecarSettings | undefined): vscode.Disposable {
  const api = vscode as unknown as McpApi;
  const Definition = api.McpStdioServerDefinition;
  if (!api.lm?.registerMcpServerDefinitionProvider || !Definition) {
    return new vscode.Disposable(() => undefined);
  }
  const changed = new vscode.EventEmitter<void>();
  const provider: Provider = {
    onDidChangeMcpServerDefinitions: changed.event,
    provideMcpServerDefinitions: () => {
      const sidecar = current();
      if (!sidecar || !vscode.workspace.getConfiguration().get<boolean>(SETTING, true)) {
        return [];
      }
      const { command, args } = mcpCommand(sidecar, sidecar.databasePath || undefined);
      return [new Definition("Agent History", command, args)];
    },
  };
  return vscode.Disposable.from(
    changed,
    api.lm.registerMcpServerDefinitionProvider(PROVIDER_ID, provider),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(SETTING) || changedSetting(event)) {
        changed.fire();
      }
    }),
  );
}
