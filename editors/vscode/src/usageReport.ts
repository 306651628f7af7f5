// The usage panel's page body: tokens and cost by day (a bar chart, inline SVG) and by model
// (a table with bars), for one scope (the workspace or every project). Pure: no VS Code
// import, so node tests render it from the real sidecar's answers.
import { costLabel, usageTokens } from "./present";
import type { GetUsageResult, UsageGroup } from "./protocol";

export interface UsageScope {
  /** "This workspace (agent-history)" or "All projects". */
  title: string;
  byDay: GetUsageResult;
  byModel: GetUsageResult;
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const count = (n: number) => n.toLocaleString("en-US");

/** Short token counts for axes: 950, 12.3k, 4.5M. */
export function compactTokens(n: number): string {
  if (n < 1000) {
    return String(n);
  }
  return n < 1_000_000 ? `${(n / 1000).toFixed(1)}k` : `${(n / 1_000_000).toFixed(1)}M`;
}

/** The days the chart shows: the last `span` days with use, oldest first (a history imported
 * from months of occasional sessions still shows them, not 29 empty days and one bar). */
export function chartDays(groups: UsageGroup[], span = 30): UsageGroup[] {
  return [...groups].sort((a, b) => a.key.localeCompare(b.key)).slice(-span);
}

const WIDTH = 640;
const HEIGHT = 140;

/** Tokens per day as bars, each with a tooltip of its figures. */
export function dayChart(days: UsageGroup[]): string {
  if (!days.length) {
    return '<p class="note">No usage recorded.</p>';
  }
  const most = Math.max(1, ...days.map((day) => usageTokens(day.usage)));
  const slot = WIDTH / days.length;
  const bars = days.map((day, i) => {
    const tokens = usageTokens(day.usage);
    const height = Math.max(1, Math.round((tokens / most) * (HEIGHT - 30)));
    const tip = `${day.key}: ${count(tokens)} tokens · ${costLabel(day.cost, day.unpricedCalls > 0)}`;
    const width = Math.min(40, slot - 2);
    return `<rect class="bar" x="${(i * slot + 1).toFixed(1)}" y="${HEIGHT - 16 - height}" width="${width.toFixed(1)}" height="${height}"><title>${escape(tip)}</title></rect>`;
  });
  const last = days[days.length - 1].key;
  return `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="Tokens per day">` +
    `<text x="0" y="10">${compactTokens(most)} tokens</text><line x1="0" y1="${HEIGHT - 16}" x2="${WIDTH}" y2="${HEIGHT - 16}"/>` +
    `${bars.join("")}<text x="0" y="${HEIGHT - 2}">${days[0].key}</text>` +
    `<text x="${WIDTH}" y="${HEIGHT - 2}" text-anchor="end">${last}</text></svg>`;
}

/** Tokens and cost per model, largest first, each with a bar of its share. */
export function modelTable(groups: UsageGroup[]): string {
  const most = Math.max(1, ...groups.map((group) => usageTokens(group.usage)));
  const rows = groups.map((group) => {
    const tokens = usageTokens(group.usage);
    const share = Math.round((tokens / most) * 100);
    return `<tr><td class="model">${escape(group.key)}</td><td class="num">${count(tokens)}</td>` +
      `<td class="num">${costLabel(group.cost, group.unpricedCalls > 0)}</td>` +
      `<td class="share"><svg viewBox="0 0 100 8" preserveAspectRatio="none"><rect class="bar" width="${share}" height="8"/></svg></td></tr>`;
  });
  return `<table class="models"><thead><tr><th>Model</th><th class="num">Tokens</th><th class="num">Cost</th><th></th></tr></thead>` +
    `<tbody>${rows.join("") || '<tr><td colspan="4">No usage recorded.</td></tr>'}</tbody></table>`;
}

/** One scope: its totals, its days, its models, and the models with no known price. */
export function scopeSection(scope: UsageScope): string {
  const days = chartDays(scope.byDay.groups);
  const total = scope.byDay;
  const unpriced = total.unpricedModels.length
    ? `<p class="note">No known price for ${total.unpricedModels.map(escape).join(", ")}: their calls are not in the cost (+?).</p>`
    : "";
  return `<section><h2>${escape(scope.title)}</h2>` +
    `<p class="total"><b>${count(usageTokens(total.total))}</b> tokens · <b>${costLabel(total.cost, total.unpricedModels.length > 0)}</b>` +
    ` · ${count(total.total.apiCalls ?? 0)} model calls</p>` +
    `<h3>By day${days.length ? ` (the last ${days.length} days with use)` : ""}</h3>${dayChart(days)}<h3>By model</h3>${modelTable(scope.byModel.groups)}${unpriced}</section>`;
}
