// Times as a person reads them: "2 h ago", and the local date and time. No VS Code or node
// import: the chat webview's script uses these too.

const UNITS: [number, string][] = [
  [365 * 24 * 3600, "y"],
  [30 * 24 * 3600, "mo"],
  [7 * 24 * 3600, "w"],
  [24 * 3600, "d"],
  [3600, "h"],
  [60, "min"],
];

/** "just now", "5 min ago", "2 h ago", "3 d ago". */
export function relativeTime(iso: string, now: Date = new Date()): string {
  const seconds = Math.max(0, (now.getTime() - Date.parse(iso)) / 1000);
  for (const [size, unit] of UNITS) {
    if (seconds >= size) {
      return `${Math.floor(seconds / size)} ${unit} ago`;
    }
  }
  return "just now";
}

/** A moment in local time: "2 Dec 2026, 09:30". */
export function localTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
