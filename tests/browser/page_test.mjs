// The page in Debian's headless Chromium (label browser): upload an example, get its caption,
// ask a question, hover a word and see the overlay's pixels change, save a screenshot.
//
//   node page_test.mjs GLIMPSE_BINARY EXAMPLE_IMAGE OUT_DIR
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [glimpse, example, outDir] = process.argv.slice(2);
if (!glimpse || !example || !outDir) {
  console.error("usage: node page_test.mjs GLIMPSE_BINARY EXAMPLE_IMAGE OUT_DIR");
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
let chromium;
try {
  ({ chromium } = createRequire(path.join(here, "package.json"))("playwright-core"));
} catch (e) {
  console.error("playwright-core is not installed: run scripts/setup.sh --browser");
  process.exit(1);
}

function fail(message) {
  console.error("FAIL: " + message);
  process.exitCode = 1;
  throw new Error(message);
}

// glimpse serve on a free port; resolves with the port once it says so.
function startServer() {
  const server = spawn(glimpse, ["--threads", "2", "serve", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
      if (m) resolve({ server, port: +m[1] });
    });
    server.stderr.on("data", (d) => process.stderr.write(d));
    server.on("exit", (code) => reject(new Error("glimpse serve exited with " + code + ": " + out)));
    setTimeout(() => reject(new Error("glimpse serve did not start in 30 s")), 30000);
  });
}

const { server, port } = await startServer();
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  page.on("pageerror", (e) => errors.push(e.message));
  // The server's Content-Security-Policy must allow everything the page does.
  const violations = [];
  page.on("console", (m) => { if (m.type() === "error" && /Content Security Policy/i.test(m.text())) violations.push(m.text()); });
  await page.addInitScript(() => document.addEventListener("securitypolicyviolation",
    (e) => console.error("Content Security Policy violation: " + e.violatedDirective + " " + e.blockedURI)));
  const offsite = [];
  page.on("request", (r) => { if (!r.url().startsWith(`http://127.0.0.1:${port}/`) && !r.url().startsWith("blob:")) offsite.push(r.url()); });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForSelector("#model option", { state: "attached" });
  if ((await page.$$eval("#examples img", (imgs) => imgs.length)) < 1) fail("no example images offered");

  // Upload: the file picker. Choosing an image captions it.
  await page.setInputFiles("#file", example);
  await page.waitForSelector("#history .entry .word", { timeout: 20000 });
  const caption = await page.$$eval("#history .entry:last-child .word", (ws) => ws.map((w) => w.textContent).join(" "));
  console.log("caption: " + caption);
  if (!/hexagon/.test(caption)) fail("the caption of the example does not mention its hexagon: " + caption);

  // Ask a question.
  await page.fill("#question", "what shape is the purple object?");
  await page.press("#question", "Enter");
  await page.waitForFunction(() => document.querySelectorAll("#history .entry").length === 2, null, { timeout: 20000 });
  const answer = await page.$$eval("#history .entry:first-child .word", (ws) => ws.map((w) => w.textContent).join(" "));
  console.log("answer: " + answer);
  if (answer !== "triangle") fail("the answer is '" + answer + "', not 'triangle'");

  // Hover two words of the caption: the overlay's pixels change.
  const pixels = () => page.$eval("#view", (c) => c.toDataURL("image/png"));
  const words = await page.$$("#history .entry:last-child .word");
  if (words.length < 2) fail("the caption has fewer than two words");
  await words[1].hover();
  const first = await pixels();
  await words[words.length - 1].hover();
  const last = await pixels();
  const pressed = await page.$$eval("#history .entry:last-child .word", (ws) => ws.map((w) => w.getAttribute("aria-pressed")));
  if (pressed[pressed.length - 1] !== "true") fail("the hovered word is not marked as selected");
  if (first === last) fail("the overlay did not change between two words");
  // Opacity 0 shows the bare image: different again.
  await page.$eval("#opacity", (e) => { e.value = "0"; e.dispatchEvent(new Event("input")); });
  if ((await pixels()) === last) fail("the opacity slider does not change the overlay");
  await page.$eval("#opacity", (e) => { e.value = "0.6"; e.dispatchEvent(new Event("input")); });

  // Errors are readable: an over-long question is refused by the server, shown on the page.
  await page.$eval("#question", (e) => e.removeAttribute("maxlength"));
  await page.fill("#question", "why ".repeat(100));
  await page.press("#question", "Enter");
  await page.waitForFunction(() => document.getElementById("error").textContent.length > 0, null, { timeout: 10000 });
  const error = await page.textContent("#error");
  console.log("error shown: " + error);
  if (!/over the limit/.test(error)) fail("the page does not show the server's message: " + error);

  // Phone width: nothing wider than the screen.
  await page.setViewportSize({ width: 380, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  if (overflow > 380) fail("at 380 px the page is " + overflow + " px wide");
  await page.setViewportSize({ width: 1100, height: 800 });
  await words[1].hover();

  mkdirSync(outDir, { recursive: true });
  const shot = path.join(outDir, "page.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log("screenshot: " + shot);
  if (offsite.length) fail("the page fetched from other hosts: " + offsite.join(", "));
  if (errors.length) fail("script errors on the page: " + errors.join("; "));
  if (violations.length) fail("the page breaks its Content-Security-Policy: " + violations.join("; "));
  const headers = (await page.request.get(`http://127.0.0.1:${port}/`)).headers();
  if (!/script-src 'sha256-/.test(headers["content-security-policy"] || "")) fail("no Content-Security-Policy on the page");
  console.log("content-security-policy: kept, no violation");
} catch (e) {
  if (!process.exitCode) { console.error("FAIL: " + e.message); process.exitCode = 1; }
} finally {
  await browser.close();
  server.kill("SIGTERM");
}
if (!process.exitCode) console.log("PASS");
