// Spawning the sidecar ourselves, so a failure can be told: the command tried and the last
// lines it wrote to stderr (the language client still copies stderr to the output).
import { ChildProcess, spawn } from "child_process";

const KEPT_LINES = 8;

export class Sidecar {
  private tail: string[] = []; // the last lines, across the client's restarts
  private closed: Promise<unknown> = Promise.resolve();

  constructor(
    readonly command: string,
    readonly args: string[],
  ) {}

  /** For ServerOptions: resolves once the process runs, rejects when it cannot be spawned. */
  start = (): Promise<ChildProcess> =>
    new Promise((resolve, reject) => {
      const child = spawn(this.command, this.args, { stdio: "pipe" });
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (text: string) => {
        // The client restarts a sidecar that exits: each run says the same, so say it once.
        const lines = text.split("\n").filter((line) => line.trim());
        this.tail = [...this.tail.filter((line) => !lines.includes(line)), ...lines].slice(-KEPT_LINES);
      });
      this.closed = new Promise((done) => child.once("close", done));
      child.once("error", reject);
      child.once("spawn", () => resolve(child));
    });

  commandLine(): string {
    return [this.command, ...this.args].join(" ");
  }

  /** What failed, in words: the command, the error, and the sidecar's last stderr lines
   * (read to the end: the connection may be gone before stderr is). */
  async describe(error: unknown): Promise<string> {
    await Promise.race([this.closed, new Promise((resolve) => setTimeout(resolve, 2000))]);
    const reason = error instanceof Error ? error.message : String(error);
    const said = this.tail.length ? `\n${this.tail.join("\n")}` : "";
    return `${this.commandLine()} did not start: ${reason}${said}`;
  }
}
