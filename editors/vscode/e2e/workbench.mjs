// Drives a real VS Code (code-server) in Chromium: the Agent History view, a session that
// another process appends appearing live, search, opening a hit. Run by tests/test_vscode_e2e.py.
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

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const steps = {};
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(process.env.E2E_URL);
  await page.waitForSelector(".monaco-workbench", { timeout: 90000 });
  const activity = page.locator('.activitybar [aria-label^="Agent History"]').first();
  await activity.waitFor({ timeout: 60000 });
  await activity.click();
  await page.getByText("seeded session", { exact: false }).first().waitFor({ timeout: 30000 });
  steps.view = true;
  await shot(page, "1-sessions-view");

  fs.writeFileSync(path.join(exchange, "ready"), "");
  await waitForFile("appended");
  const appendedAt = Number(fs.readFileSync(path.join(exchange, "appended"), "utf8"));
  await page.getByText("appended live", { exact: false }).first().waitFor({ timeout: 10000 });
  steps.liveMs = Date.now() - appendedAt;
  await shot(page, "2-appeared-live");

  await page.keyboard.press("F1");
  await page.keyboard.type("Agent History: Search");
  await page.waitForTimeout(500);
  await page.keyboard.press("Enter");
  await page.waitForTimeout(500);
  await page.keyboard.type("kumquat");
  await page.keyboard.press("Enter");
  await page.locator(".quick-input-list .monaco-list-row").first().waitFor({ timeout: 10000 });
  await shot(page, "3-search");
  await page.keyboard.press("Enter");
  await page.locator(".monaco-editor .view-lines", { hasText: "kumquat" }).first().waitFor({ timeout: 15000 });
  steps.opened = true;
  await shot(page, "4-transcript");
} catch (error) {
  steps.error = String(error && error.stack || error);
  const pages = browser.contexts().flatMap((context) => context.pages());
  if (pages[0]) await shot(pages[0], "failure");
} finally {
  fs.writeFileSync(path.join(exchange, "steps.json"), JSON.stringify(steps));
  await browser.close();
}
