// Drives a real VS Code (code-server) in Chromium as a person would: the welcome view of an
// empty database, importing Claude Code's history from it, the sessions named by their
// titles, a session that another process appends appearing live, grouping by time, search as
// you type, opening a hit, deleting it; or (E2E_MODE=failing) a sidecar that cannot start, told in the view;
// or (E2E_MODE=captured) a fresh install showing the Claude Code history it captured by itself.
// Every wait is on something shown. Run by tests/test_vscode_e2e.py.
// Environment: E2E_URL, E2E_EXCHANGE (directory shared with the test), PLAYWRIGHT_CORE (its path).
import { createRequire } from "node:module";
import * as fs from "node:fs";
import * as path from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const exchange = process.env.E2E_EXCHANGE;
const shot = (page, name) => page.screenshot({ path: path.join(exchange, `${name}.png`) });
const waitForFile = async (name, timeout = 30000) => {
  const deadline = Date.now() + timeout;
  while (!fs.existsSync(path.join(exchange, name))) {
    if (Date.now() > deadline) throw new Error(`no ${name}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const steps = {};

/** A sidecar that cannot start: the view says what was tried and what it said, and offers
 * the setting, the output and a retry. */
async function failing(page, sidebar) {
  const rows = sidebar.locator(".monaco-list-row .label-name");
  await rows.filter({ hasText: "Retry" }).first().waitFor({ timeout: 60000 });
  steps.actions = await rows.allTextContents();
  steps.message = await sidebar.locator(".message").first().textContent();
  await shot(page, "0-failing");
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
  // An empty database: the welcome view, with its three buttons.
  const buttons = ["Import Claude Code history", "Import Codex history", "Import a file or folder…"];
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
  await row.hover();
  await page.locator(".monaco-hover", { hasText: "Last active" }).first().waitFor({ timeout: 15000 });
  steps.view = true;
  await shot(page, "2-sessions");

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
  await page.keyboard.press("F1");
  const quickInput = page.locator(".quick-input-widget");
  await quickInput.locator("input").waitFor({ timeout: 15000 });
  await page.keyboard.type("Agent History: Search");
  await quickInput.locator(".monaco-list-row", { hasText: "Agent History: Search" }).first().waitFor({ timeout: 15000 });
  await page.keyboard.press("Enter");
  await quickInput.locator('input[placeholder^="Search everything"]').waitFor({ timeout: 15000 });
  await page.keyboard.type("kumquat");
  const hit = quickInput.locator(".monaco-list-row", { hasText: "appended live" }).first();
  await hit.waitFor({ timeout: 15000 });
  steps.hit = (await hit.textContent()).trim();
  steps.highlighted = await hit.locator(".highlight").allTextContents();
  await shot(page, "4-search");
  await page.keyboard.press("Enter");
  await page.locator(".monaco-editor .view-lines", { hasText: "kumquat" }).first().waitFor({ timeout: 15000 });
  steps.tab = (await page.locator(".tabs-container .tab.active").first().textContent()).trim();
  steps.opened = true;
  const tokens = page.locator(".statusbar-item", { hasText: "tokens" });
  await tokens.first().waitFor({ timeout: 15000 });
  await shot(page, "5-transcript");

  // Delete the open session: the dialog names it; its tab, its row and the status bar go.
  await page.keyboard.press("F1");
  await quickInput.locator("input").waitFor({ timeout: 15000 });
  await page.keyboard.type("Agent History: Delete Session");
  await quickInput.locator(".monaco-list-row", { hasText: "Agent History: Delete Session" }).first().waitFor({ timeout: 15000 });
  await page.keyboard.press("Enter");
  const dialog = page.locator(".monaco-dialog-box");
  await dialog.waitFor({ timeout: 15000 });
  steps.deleteDialog = (await dialog.locator(".dialog-message-text").textContent()).trim();
  await dialog.getByRole("button", { name: "Delete" }).click();
  await page.locator(".tabs-container .tab", { hasText: "appended live" }).first().waitFor({ state: "detached", timeout: 15000 });
  await sidebar.getByText("appended live").first().waitFor({ state: "detached", timeout: 15000 });
  await tokens.first().waitFor({ state: "hidden", timeout: 15000 });
  steps.deleted = true;
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
