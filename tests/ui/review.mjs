// A real review in headless Chromium: open the queue, open a mirror-swap alert, see its
// flow picture, dismiss it with a reason, and see the status and the audit trail change.
// Usage: node review.mjs BASE_URL TOKEN (NODE_PATH has playwright-core).
import { createRequire } from "module";
const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");

const [base, token] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const fail = (m) => { console.error("FAIL: " + m); process.exitCode = 1; };
try {
  const page = await browser.newPage();
  await page.goto(base + "/");
  await page.fill("#token", token);
  await page.click("#login");
  await page.waitForSelector("#who:has-text('signed in as ana')");
  await page.selectOption("select[name=typology]", "T6");
  await page.click("#apply");
  // the filtered queue: every row T6
  await page.waitForFunction(() => {
    const t = [...document.querySelectorAll("tr.row td:nth-child(2)")].map(x => x.textContent);
    return t.length > 0 && t.every(x => x === "T6");
  });
  const rows = await page.$$eval("tr.row td:nth-child(2)", tds => tds.map(t => t.textContent));
  if (!rows.length || rows.some(t => t !== "T6")) fail("queue filter: " + rows.join(","));
  await page.click("tr.row >> nth=0");
  await page.waitForSelector("#flow");
  const boxes = await page.$$eval("#flow rect", r => r.length);
  const mirror = await page.$$eval("#flow line.mirror", l => l.length);
  if (boxes < 2) fail("flow picture has " + boxes + " accounts");
  const evidence = await page.$$eval("#evidence tbody tr", r => r.length);
  if (evidence < 2) fail("evidence rows: " + evidence);
  const before = await page.textContent("#status");
  if (before !== "open") fail("status before: " + before);
  await page.fill("#reason", "known remittance corridor, documented");
  await page.click("#dismiss");
  await page.waitForSelector("#status:has-text('dismissed')");
  const audit = await page.textContent("#audit");
  if (!audit.includes("by ana") || !audit.includes("dismissed") || !audit.includes("known remittance corridor"))
    fail("audit trail: " + audit);
  console.log(JSON.stringify({ rows: rows.length, boxes, mirror, evidence, audit: audit.trim().split("\n").length }));
} finally {
  await browser.close();
}
