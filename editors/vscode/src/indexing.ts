// How far the search index is behind the history (`history/stats`' indexBehind), as a note
// the sessions view and the search show while messages are not yet searchable. It knows
// nothing of VS Code, so node tests drive it on the real sidecar.
import type { HistoryClient } from "./history";
import type { StatsResult } from "./protocol";

/** While the index is behind, stats are asked again this often (ms). */
export const POLL_MS = 2000;

/** "Indexing: 12,345 messages not searchable yet"; undefined once none is left (or unknown). */
export function indexingNote(stats: Pick<StatsResult, "indexBehind">): string | undefined {
  const behind = stats.indexBehind ?? 0;
  return behind > 0 ? `Indexing: ${behind.toLocaleString()} message${behind === 1 ? "" : "s"} not searchable yet` : undefined;
}

/** Follows the index's lag: `check()` asks stats now, and again every POLL_MS while the
 * index is behind; `show` hears each change of the note. */
export class IndexLag {
  note: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private asking = false;
  private askAgain = false; // messages came while stats were being asked: the answer may predate them

  constructor(
    private readonly history: HistoryClient,
    private readonly show: (note: string | undefined) => void,
    private readonly pollMs = POLL_MS,
  ) {}

  /** After a start or new messages: the note follows, polling until the index catches up. */
  async check(): Promise<void> {
    if (this.asking) {
      this.askAgain = true;
      return;
    }
    if (this.timer) {
      return; // a poll is due: it will see these messages too
    }
    this.asking = true;
    try {
      this.update(indexingNote(await this.history.request("history/stats", null)));
    } catch {
      this.update(undefined); // a sidecar that stopped: no note, the view says what failed
    } finally {
      this.asking = false;
    }
    if (this.note || this.askAgain) {
      this.askAgain = false;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.check();
      }, this.pollMs);
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private update(note: string | undefined): void {
    if (note !== this.note) {
      this.note = note;
      this.show(note);
    }
  }
}
