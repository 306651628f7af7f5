// The protocol module: typed history/* calls over any JSON-RPC connection.
//
// It knows nothing of VS Code, so the same code runs inside the extension (over
// vscode-languageclient) and in node tests (over a vscode-jsonrpc MessageConnection
// to the real sidecar).
import { ErrorCodes } from "./protocol";
import type { Notifications, Requests } from "./protocol";

export interface CancellationToken {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: () => unknown): unknown;
}

export interface Disposable {
  dispose(): unknown;
}

/** What both a LanguageClient and a vscode-jsonrpc MessageConnection provide. */
export interface Transport {
  sendRequest<R>(method: string, ...rest: unknown[]): Promise<R>;
  onNotification(method: string, handler: (params: any) => void): Disposable;
}

export type Method = keyof Requests;
export type ParamsOf<M extends Method> = Requests[M][0];
export type ResultOf<M extends Method> = Requests[M][1];

export class HistoryClient {
  constructor(private readonly transport: Transport) {}

  /** Any history/* request, typed by the contract. */
  request<M extends Method>(method: M, params: ParamsOf<M>, token?: CancellationToken): Promise<ResultOf<M>> {
    // An undefined trailing argument would turn the params into a positional array.
    const rest = [...(params === null ? [] : [params]), ...(token ? [token] : [])];
    return this.transport.sendRequest<ResultOf<M>>(method, ...rest);
  }

  /** Hear a history/* notification, from this client's writes or any other process's. */
  on<N extends keyof Notifications>(method: N, handler: (params: Notifications[N]) => void): Disposable {
    return this.transport.onNotification(method, handler);
  }

  /** Whether the database holds this session (false on SessionNotFound; other errors thrown). */
  async holds(sessionId: string): Promise<boolean> {
    try {
      await this.request("history/getSession", { sessionId });
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === ErrorCodes.SessionNotFound) {
        return false;
      }
      throw error;
    }
  }

  createSession(params: ParamsOf<"history/createSession">) {
    return this.request("history/createSession", params);
  }

  appendMessages(params: ParamsOf<"history/appendMessages">, token?: CancellationToken) {
    return this.request("history/appendMessages", params, token);
  }

  getContext(params: ParamsOf<"history/getContext">) {
    return this.request("history/getContext", params);
  }

  searchMessages(params: ParamsOf<"history/searchMessages">, token?: CancellationToken) {
    return this.request("history/searchMessages", params, token);
  }

  listSessions(params: ParamsOf<"history/listSessions">) {
    return this.request("history/listSessions", params);
  }

  exportSession(params: ParamsOf<"history/exportSession">, token?: CancellationToken) {
    return this.request("history/exportSession", params, token);
  }

  onDidAppendMessages(handler: (params: Notifications["history/didAppendMessages"]) => void): Disposable {
    return this.on("history/didAppendMessages", handler);
  }

  onDidChangeSession(handler: (params: Notifications["history/didChangeSession"]) => void): Disposable {
    return this.on("history/didChangeSession", handler);
  }
}
