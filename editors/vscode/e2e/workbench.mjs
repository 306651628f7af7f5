// Drives a real VS Code (code-server) in Chromium as a person would: the welcome view of an
// empty database, importing Claude Code's history from it, the sessions named by their
// titles, a row's inline actions and grouped context menu, the quick filter, sessions as chats
// (a folded tool call, a failed one in red, thinking folded, a compaction marked), a session
// that another process appends appearing live (as a row, then in its open chat), grouping by
// time, search as you type, opening a hit, deleting it, the usage panel, a 5,000-message
// session paging back; or (E2E_MODE=failing) a sidecar that cannot start, told in the view;
// or (E2E_MODE=captured) a fresh install showing the Claude Code history it captured by itself.
// Every wait is on something shown. Run by tests/test_vscode_e2e.py.
// Environment: E2E_URL, E2E_EXCHANGE (directory shared with the test), PLAYWRIGHT_CORE (its path).
import { createRequire } from "node:module";
import * as fs from "node:fs";
import * as path from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const exchange = process.env.E2E_EXCHANGE;
// Animations finished first: a menu is shot as shown, not halfway through its fade.
const shot = (page, name) => page.screenshot({ path: path.join(exchange, `${name}.png`), animations: "disabled" });
const waitForFile = async (name, timeout = 30000) => {
  const deadline = Date.now() + timeout;
  while (!fs.existsSync(path.join(exchange, name))) {
    if (Date.now() > deadline) throw new Error(`no ${name}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** The page inside the webview in front (VS Code nests it in two iframes). */
const webview = (page) => page.locator("iframe.webview:visible").last().contentFrame().locator("iframe").contentFrame();

/** Run a command from the palette, by its title as the palette shows it. The focus goes to
 * the view's title first: a webview in front takes the focus back a moment after the palette
 * closes, and the command's own quick pick, losing it, closed (seen once in 5 runs). */
async function command(page, title) {
  await page.locator("#workbench\\.parts\\.sidebar .composite.title .title-label").first().click();
  await page.keyboard.press("F1");
  const quickInput = page.locator(".quick-input-widget");
  await quickInput.locator("input").pressSequentially(title, { timeout: 15000 }); // into the input, focused
  await quickInput.locator(".monaco-list-row.focused", { hasText: title }).first().waitFor({ timeout: 15000 });
  await page.keyboard.press("Enter");
  return quickInput;
}
const steps = {};

/** Hover `target` until `shown` appears: the tree re-rendering its rows (the import's last
 * notifications) takes a hover away before its tooltip shows (seen once in 5 runs). */
async function hoverUntilShown(page, target, shown) {
  for (let tries = 1; ; tries++) {
    await page.mouse.move(0, 0);
    await target.hover();
    try {
      return await shown.waitFor({ timeout: 5000 });
    } catch (error) {
      if (tries === 3) throw error;
    }
  }
}

/** A sidecar that cannot start: the view says what was tried and what it said, and offers
 * the setting, the output and a retry; once what it lacked is there, Retry brings the
 * sessions in place (no reload). */
async function failing(page, sidebar) {
  const rows = sidebar.locator(".monaco-list-row .label-name");
  await rows.filter({ hasText: "Retry" }).first().waitFor({ timeout: 60000 });
  steps.actions = await rows.allTextContents();
  // The message may show a frame after the rows: waited for, as a person would read it.
  const told = sidebar.locator(".message", { hasText: "did not start" }).first();
  await told.waitFor({ timeout: 15000 });
  steps.message = await told.textContent();
  await shot(page, "0-failing");
  fs.writeFileSync(path.join(exchange, "failed"), "");
  await waitForFile("fixed", 60000);
  await rows.filter({ hasText: "Retry" }).first().click();
  await rows.filter({ hasText: "made before the retry" }).first().waitFor({ timeout: 60000 });
  steps.retried = { rows: await rows.allTextContents(), messages: await sidebar.locator(".message").allTextContents() };
  await shot(page, "0-retried");
  await showOutput(page, "started in");
  await shot(page, "0-output");
}

/** The database setting changed in the Settings editor: the sidecar restarts on the other
 * database and the view shows its sessions, with no reload; the output tells each step. */
async function switchDatabase(page, sidebar) {
  const secondDb = fs.readFileSync(path.join(exchange, "second-db"), "utf8");
  await command(page, "Preferences: Open User Settings");
  const settings = page.locator(".settings-editor");
  await settings.locator(".settings-header .monaco-editor").first().click(); // its search box
  await page.keyboard.type("agentHistory.databasePath");
  const input = settings.locator(".setting-item-contents", { hasText: "Database Path" }).locator("input").first();
  await input.waitFor({ timeout: 15000 });
  const asked = Date.now();
  await input.fill(secondDb);
  const labels = sidebar.locator(".monaco-list-row .label-name");
  await labels.filter({ hasText: "from the second database" }).first().waitFor({ timeout: 60000 });
  await labels.filter({ hasText: "a long session" }).first().waitFor({ state: "detached", timeout: 15000 });
  // The other database's chat closes: its session is not in this one.
  await page.locator(".tabs-container .tab", { hasText: "a long session" }).first().waitFor({ state: "detached", timeout: 15000 });
  steps.switched = { ms: Date.now() - asked, rows: await labels.allTextContents() };
  steps.switched.tabs = (await page.locator(".tabs-container .tab").allTextContents()).map((text) => text.trim());
  // The Settings editor opens as a modal over the workbench: closed by its close button.
  const modal = page.locator(".monaco-modal-editor-block");
  await modal.locator('.action-label[aria-label^="Close Modal Editor"]').click();
  await modal.first().waitFor({ state: "detached", timeout: 15000 });
  await shot(page, "9-switched");

  await showOutput(page, "databasePath changed");
  await shot(page, "9-output");
}

/** The Agent History output, shown at its end, once it shows `text` (the test reads all of it
 * from its log file: the view renders only the lines in sight). */
async function showOutput(page, text) {
  await command(page, "Agent History: Show Output");
  await page.locator(".part.panel .view-lines", { hasText: text }).first().waitFor({ timeout: 15000 });
}

/** A fresh install on a machine with Claude Code history (E2E_MODE=captured): with nothing
 * clicked, the sessions appear by their names, and the capture is announced once. */
async function captured(page, sidebar) {
  const notice = page.locator(".notification-list-item-message", { hasText: "as they are written" });
  await notice.first().waitFor({ timeout: 60000 });
  steps.announced = (await notice.first().textContent()).trim();
  await page.waitForFunction(
    () => document.querySelectorAll("#workbench\\.parts\\.sidebar .monaco-list-row .label-name").length >= 8,
    null,
    { timeout: 60000 },
  );
  steps.rows = await sidebar.locator(".monaco-list-row .label-name").allTextContents();
  await shot(page, "0-captured");
}

/** The history: from an empty database's welcome view to opening a search hit. */
async function history(page, sidebar, welcome) {
  // An empty database: the welcome view, with its one import of every agent's history and
  // its import of a file or folder.
  const buttons = ["Import every agent's history", "Import a file or folder…"];
  for (const name of buttons) {
    await welcome.getByRole("button", { name }).waitFor({ timeout: 60000 });
  }
  steps.welcomeButtons = await welcome.locator(".monaco-button").allTextContents();
  await shot(page, "1-welcome");

  // Import from it: progress, then a summary notification, then the sessions by their names.
  await welcome.getByRole("button", { name: buttons[0] }).click();
  const summary = page.locator(".notification-list-item-message", { hasText: "Agent History: Imported" });
  await summary.first().waitFor({ timeout: 60000 });
  steps.imported = (await summary.first().textContent()).trim();
  const labels = sidebar.locator(".monaco-list-row .label-name");
  await page.waitForFunction(
    () => document.querySelectorAll("#workbench\\.parts\\.sidebar .monaco-list-row .label-name").length >= 8,
    null,
    { timeout: 30000 },
  );
  steps.rows = await labels.allTextContents();
  steps.bareIds = steps.rows.filter((text) => ULID.test(text.trim()));
  const row = sidebar.locator(".monaco-list-row", { has: page.locator(".codicon-cloud-download") }).first();
  await hoverUntilShown(page, row, page.locator(".monaco-hover", { hasText: "Last active" }).first());
  steps.inline = await row.locator(".actions .action-label").evaluateAll((labels) => labels.map((label) => label.getAttribute("aria-label")));
  steps.view = true;
  await shot(page, "2-sessions");

  // Its context menu: grouped, Delete last, no "Agent History:" prefix.
  await row.click({ button: "right" });
  const menu = page.locator(".monaco-menu-container .monaco-menu");
  await menu.locator(".action-label", { hasText: "Delete…" }).first().waitFor({ timeout: 15000 });
  steps.menu = await menu.locator(".action-item").evaluateAll((items) =>
    items.map((item) => (item.classList.contains("disabled") && item.querySelector(".separator") ? "|" : item.textContent.trim())),
  );
  await shot(page, "2-context-menu");
  await page.keyboard.press("Escape");
  await menu.first().waitFor({ state: "detached", timeout: 15000 });

  // The quick filter: words of a session's name keep its rows, the view says how many.
  const name = (await row.locator(".label-name").textContent()).trim();
  const word = name.split(/\s+/).sort((a, b) => b.length - a.length)[0];
  await sidebar.hover();
  await page.locator('.action-label[aria-label="Filter Sessions…"]').first().click();
  await page.locator(".quick-input-widget input").waitFor({ timeout: 15000 });
  await page.locator(".quick-input-widget input").pressSequentially(word);
  const filterMessage = sidebar.locator(".message", { hasText: "sessions match" }).first();
  await sidebar.locator(".message", { hasText: `“${word}”` }).waitFor({ timeout: 15000 }); // every key typed
  steps.filter = { word, message: (await filterMessage.textContent()).trim(), rows: await labels.allTextContents(), name };
  await shot(page, "2-filter");
  await page.keyboard.press("Enter");
  await page.locator('.action-label[aria-label="Clear Filter"]').first().click();
  await filterMessage.waitFor({ state: "detached", timeout: 15000 });

  // A session with tool calls, as a chat: turns, each call folded with its name and status.
  await row.click();
  const chat = webview(page);
  const call = chat.locator("details.tool").first();
  await call.waitFor({ timeout: 30000 });
  steps.toolCall = {
    open: await call.evaluate((details) => details.open),
    name: await call.locator(".tool-name").textContent(),
    status: await call.locator(".status").textContent(),
    turns: await chat.locator("article.turn.user, article.turn.assistant").count(),
  };
  await call.locator("summary").click(); // unfolded: its arguments and its result
  await call.locator(".label", { hasText: "Result" }).waitFor({ timeout: 15000 });
  steps.toolCall.unfolded = await call.evaluate((details) => details.open);
  await shot(page, "6-chat");

  // A session with a failed call, thinking and a compaction: each shown for what it is.
  await sidebar.locator(".monaco-list-row", { hasText: "brainstorm:" }).first().click();
  const marked = webview(page);
  const failed = marked.locator("details.tool.failed").first();
  await failed.waitFor({ timeout: 30000 });
  await marked.locator("details.compaction").waitFor({ timeout: 15000 });
  steps.marked = {
    failedStatus: await failed.locator(".status").textContent(),
    failedInRed: await failed.locator(".status").evaluate((status) => status.classList.contains("error")),
    thinking: await marked.locator("details.thinking").count(),
    thinkingOpen: await marked.locator("details.thinking[open]").count(),
    compaction: (await marked.locator("details.compaction summary").textContent()).trim(),
    compacted: await marked.locator("article.turn.compacted").count(),
  };
  await failed.scrollIntoViewIfNeeded();
  await shot(page, "6-chat-error");

  fs.writeFileSync(path.join(exchange, "ready"), "");
  await waitForFile("appended");
  const appendedAt = Number(fs.readFileSync(path.join(exchange, "appended"), "utf8"));
  await sidebar.getByText("appended live", { exact: false }).first().waitFor({ timeout: 10000 });
  steps.liveMs = Date.now() - appendedAt;

  // Grouped by time: the toggle in the view's title.
  await sidebar.hover();
  await page.locator('.action-label[aria-label="Group by Time"]').first().click();
  await sidebar.locator(".monaco-list-row .label-name", { hasText: /^Today$/ }).first().waitFor({ timeout: 15000 });
  steps.groupedByTime = await labels.allTextContents();
  await shot(page, "3-by-time");

  // Search as you type: the hit names its session.
  const quickInput = await command(page, "Agent History: Search");
  await quickInput.locator('input[placeholder^="Search everything"]').pressSequentially("kumquat", { timeout: 15000 });
  const hit = quickInput.locator(".monaco-list-row", { hasText: "appended live" }).first();
  await hit.waitFor({ timeout: 15000 });
  steps.hit = (await hit.textContent()).trim();
  steps.highlighted = await hit.locator(".highlight").allTextContents();
  await shot(page, "4-search");
  await page.keyboard.press("Enter");
  // The hit's chat, scrolled to it; then a message another process appends shows up in it.
  const hitChat = webview(page);
  await hitChat.locator("article.target", { hasText: "kumquat" }).waitFor({ timeout: 15000 });
  steps.tab = (await page.locator(".tabs-container .tab.active").first().textContent()).trim();
  steps.opened = true;
  const tokens = page.locator(".statusbar-item", { hasText: "tokens" });
  await tokens.first().waitFor({ timeout: 15000 });
  fs.writeFileSync(path.join(exchange, "chat-open"), "");
  await waitForFile("appended-chat");
  const appendedToChat = Number(fs.readFileSync(path.join(exchange, "appended-chat"), "utf8"));
  await hitChat.locator("article.turn.assistant", { hasText: "the second kumquat arrived live" }).waitFor({ timeout: 15000 });
  steps.liveChatMs = Date.now() - appendedToChat;
  steps.chatTurns = (await hitChat.locator("article.turn .prose").allTextContents()).map((text) => text.trim());
  await shot(page, "5-transcript");

  // Delete the open session: the dialog names it; its tab, its row and the status bar go.
  await command(page, "Agent History: Delete…");
  const dialog = page.locator(".monaco-dialog-box");
  await dialog.waitFor({ timeout: 15000 });
  steps.deleteDialog = (await dialog.locator(".dialog-message-text").textContent()).trim();
  await dialog.getByRole("button", { name: "Delete" }).click();
  await page.locator(".tabs-container .tab", { hasText: "appended live" }).first().waitFor({ state: "detached", timeout: 15000 });
  await sidebar.getByText("appended live").first().waitFor({ state: "detached", timeout: 15000 });
  // The status bar follows the chat now in front (the one opened before), never the deleted one.
  await page.locator('.statusbar-item[aria-label*="appended live"]').waitFor({ state: "detached", timeout: 15000 });
  steps.deleted = true;

  // Usage: tokens and cost by day (a chart) and by model, for the workspace and all projects.
  await command(page, "Agent History: Show Usage");
  const usage = webview(page);
  await usage.locator("section", { hasText: "All projects" }).locator("td.model").first().waitFor({ timeout: 15000 });
  steps.usage = {
    sections: await usage.locator("h2").allTextContents(),
    totals: await usage.locator(".total").allTextContents(),
    models: await usage.locator("td.model").allTextContents(),
    bars: await usage.locator("svg.chart rect.bar").count(),
  };
  await shot(page, "7-usage");

  // A 5,000-message session: opens at its end at once; scrolling up brings the page before.
  const picker = await command(page, "Agent History: Open Transcript");
  await picker.locator('input[placeholder="Which session?"]').pressSequentially("a long session", { timeout: 15000 });
  await picker.locator(".monaco-list-row", { hasText: "a long session" }).first().waitFor({ timeout: 15000 });
  const asked = Date.now();
  await page.keyboard.press("Enter");
  const long = webview(page);
  const newest = long.locator("article.turn").last();
  await newest.locator(".prose", { hasText: "message 4999" }).waitFor({ timeout: 15000 });
  steps.long = { openMs: Date.now() - asked, last: (await newest.locator(".prose").textContent()).trim() };
  steps.long.first = Number(await long.locator("article.turn").first().getAttribute("data-index"));
  const reading = long.locator(`article#m${steps.long.first}`);
  await long.locator("body").evaluate(() => window.scrollTo(0, 0));
  await long.locator(`article#m${steps.long.first - 200}`).waitFor({ state: "attached", timeout: 15000 });
  steps.long.afterScrollUp = Number(await long.locator("article.turn").first().getAttribute("data-index"));
  steps.long.keptInView = await reading.evaluate((turn) => {
    const box = turn.getBoundingClientRect();
    return box.bottom > 0 && box.top < window.innerHeight;
  });
  await shot(page, "8-long");

  await switchDatabase(page, sidebar);
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(process.env.E2E_URL);
  await page.waitForSelector(".monaco-workbench", { timeout: 90000 });
  const activity = page.locator('.activitybar [aria-label^="Agent History"]').first();
  await activity.waitFor({ timeout: 60000 });
  await activity.click();
  const sidebar = page.locator("#workbench\\.parts\\.sidebar");
  await sidebar.waitFor();
  const side = await sidebar.boundingBox(); // widen it by its sash, so the screenshots show the descriptions
  await page.mouse.move(side.x + side.width + 1, side.y + 300);
  await page.mouse.down();
  await page.mouse.move(side.x + 560, side.y + 300, { steps: 5 });
  await page.mouse.up();
  await page.mouse.move(side.x + 200, side.y + 700); // off the sash, which stays lit under the pointer

  const welcome = sidebar.locator(".welcome-view-content");
  const modes = { failing, captured, history };
  await modes[process.env.E2E_MODE](page, sidebar, welcome);
} catch (error) {
  steps.error = String(error && error.stack || error);
  const pages = browser.contexts().flatMap((context) => context.pages());
  if (pages[0]) await shot(pages[0], "failure");
} finally {
  fs.writeFileSync(path.join(exchange, "steps.json"), JSON.stringify(steps));
  await browser.close();
}
