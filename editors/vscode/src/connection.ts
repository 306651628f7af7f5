// The sidecar as one connection that restarts in place: each start spawns it, with the
// settings of the moment, under a new LanguageClient. The notification handlers and the
// output channel outlive the clients, so the views and the API keep working across restarts,
// and requests made while it restarts wait for it.
import * as vscode from "vscode";
import { LanguageClient, ProgressType } from "vscode-languageclient/node";
import type { Disposable, Transport } from "./history";
import { initializationOptions, readSettings, SidecarSettings } from "./settings";
import { Sidecar } from "./sidecar";

export type State = "starting" | "ready" | "failed";
type Handler = (params: any) => void;

export class Connection implements Transport {
  private client: LanguageClient | undefined;
  /** Per method, every handler; each client gets one dispatcher per method (a client keeps
   * only one handler per method registered before it starts). */
  private readonly handlers = new Map<string, Set<Handler>>();
  private dispatchers: Disposable[] = [];
  private starting: Promise<boolean> = Promise.resolve(false);
  private readonly changed = new vscode.EventEmitter<State>();
  readonly onDidChangeState = this.changed.event;
  /** What the last start failed on; undefined once one succeeds. */
  failure: string | undefined;
  /** The settings the sidecar runs with. */
  settings: SidecarSettings | undefined;

  constructor(readonly log: vscode.LogOutputChannel) {}

  /** Settles when the current start has succeeded (true) or failed (false). */
  get ready(): Promise<boolean> {
    return this.starting;
  }

  /** Start the sidecar with the settings of the moment. */
  start(): Promise<boolean> {
    return this.queue(() => this.spawn());
  }

  /** Stop the sidecar and start it again, with the settings of the moment. */
  restart(reason: string): Promise<boolean> {
    return this.queue(async () => {
      this.log.info(`restarting the sidecar: ${reason}`);
      await this.stop();
      return this.spawn();
    });
  }

  /** Starts asked for while one runs go one after another. */
  private queue(body: () => Promise<boolean>): Promise<boolean> {
    this.starting = this.starting.then(body);
    return this.starting;
  }

  private async spawn(): Promise<boolean> {
    this.changed.fire("starting");
    const settings = (this.settings = readSettings());
    const sidecar = new Sidecar(settings.command, settings.args);
    this.log.info(
      `starting the sidecar: ${sidecar.commandLine()}; database ${settings.databasePath || "(the sidecar's default)"}` +
        `; capture ${settings.capture ? settings.capture.folders.join(", ") : "off"}; sync ${settings.sync?.url ?? "off"}`,
    );
    const began = Date.now();
    const client = (this.client = new LanguageClient("agentHistory", "Agent History", sidecar.start, {
      documentSelector: [], // a sidecar, not a language server: no documents
      initializationOptions: initializationOptions(settings),
      outputChannel: this.log, // the sidecar's stderr, beside the extension's own steps
    }));
    this.dispatchers = [...this.handlers.keys()].map((method) => this.dispatch(client, method));
    try {
      // The default error handler restarts a sidecar that dies (up to 4 times in 3 minutes).
      await client.start();
      this.failure = undefined;
      this.log.info(`the sidecar started in ${Date.now() - began} ms`);
    } catch (error) {
      this.failure = await sidecar.describe(error);
      this.log.error(this.failure);
    }
    this.changed.fire(this.failure ? "failed" : "ready");
    return !this.failure;
  }

  /** Stop the running sidecar, if any (one that failed to start has exited already). */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.dispatchers.forEach((dispatcher) => dispatcher.dispose());
    this.dispatchers = [];
    if (client?.isRunning()) {
      await client.stop().catch((error: unknown) => this.log.warn(`stopping the sidecar: ${String(error)}`));
      this.log.info("the sidecar stopped");
    }
  }

  private dispatch(client: LanguageClient, method: string): Disposable {
    return client.onNotification(method, (params: unknown) => this.handlers.get(method)?.forEach((handler) => handler(params)));
  }

  async sendRequest<R>(method: string, ...rest: unknown[]): Promise<R> {
    await this.starting;
    const client = this.client;
    if (!client?.isRunning()) {
      throw new Error(this.failure ?? "the sidecar is not running");
    }
    const transport: Transport = client;
    return transport.sendRequest<R>(method, ...rest);
  }

  onNotification(method: string, handler: Handler): Disposable {
    const handlers = this.handlers.get(method) ?? new Set<Handler>();
    if (!this.handlers.has(method)) {
      this.handlers.set(method, handlers);
      if (this.client) {
        this.dispatchers.push(this.dispatch(this.client, method));
      }
    }
    handlers.add(handler);
    return { dispose: () => handlers.delete(handler) };
  }

  /** $/progress of a request made through this connection (the running client's). */
  onProgress<P>(type: ProgressType<P>, token: string, handler: (value: P) => void): Disposable {
    if (!this.client) {
      throw new Error(this.failure ?? "the sidecar is not running");
    }
    return this.client.onProgress(type, token, handler);
  }
}
