// Drives earshot's browser playground in a real Chromium (Debian's, through
// playwright-core; no browser download): upload, a wrong key, record, live
// with Chromium's fake microphone fed from a WAV file, and the copy-as
// snippets. Screenshots go to a folder it prints.
//   EARSHOT_URL=http://127.0.0.1:8080 EARSHOT_API_KEY=esk_... AUDIO=jfk.wav node playground.mjs
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const base = process.env.EARSHOT_URL || "http://127.0.0.1:8080";
const key = process.env.EARSHOT_API_KEY || "";
const audio = path.resolve(process.env.AUDIO || "../../testdata/audio/jfk.wav");
const shots = path.resolve(process.env.SCREENSHOTS || "screenshots");
const exe = process.env.CHROMIUM || ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find((p) => fs.existsSync(p));
if (!exe) throw new Error("no Chromium: install Debian's chromium (apt-get install chromium) or set CHROMIUM");
fs.mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: exe,
  args: ["--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${audio}`, "--autoplay-policy=no-user-gesture-required"],
});
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); console.log(`${ok ? "ok  " : "FAIL"} ${what}`); };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const consoleErrors = [];
  // Script errors only: refused requests (the wrong key's 401) are the
  // page's to show, and it is checked that it does.
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  await page.goto(base + "/");
  check(await page.title() === "earshot playground", "the page loads at /");

  // A wrong key: the API's own 401 message, in the page.
  await page.fill("#key", "esk_wrong");
  await page.dispatchEvent("#key", "change");
  await page.setInputFiles("#file", audio);
  await page.waitForSelector("#error:not([hidden])", { timeout: 30000 });
  const err = await page.textContent("#error");
  check(err.startsWith("401") && err.includes("invalid_api_key"), `a wrong key shows the 401: ${err.slice(0, 100)}`);
  await page.screenshot({ path: path.join(shots, "wrong-key.png"), fullPage: true });

  // Upload jfk.wav: raw segments, clean paragraphs, agent cards and tokens.
  await page.fill("#key", key);
  await page.dispatchEvent("#key", "change");
  await page.waitForFunction(() => [...document.querySelectorAll("#model option")].some((o) => o.value === "whisper-1"), null, { timeout: 10000 });
  check(true, "models listed from /v1/models");
  check(await page.evaluate(() => sessionStorage.getItem("earshot.key")) === key, "the key is kept in sessionStorage");
  check(await page.evaluate(() => localStorage.length) === 0 && !(await page.evaluate(() => document.cookie)), "nothing in localStorage or cookies");
  await page.setInputFiles("#file", audio);
  await page.waitForSelector("#raw .segment", { timeout: 120000 });
  await page.waitForFunction(() => /tokens/.test(document.querySelector("#agent-tokens").textContent), null, { timeout: 60000 });
  check(await page.isHidden("#error"), "no error after a good upload");
  const segs = await page.$$eval("#raw .segment", (b) => b.map((x) => ({ start: x.dataset.start, text: x.textContent })));
  check(segs.length > 0 && segs.every((s) => s.start !== undefined), `raw: ${segs.length} segments with times`);
  check(await page.$$eval("#clean .paragraph", (p) => p.length) > 0, "clean: paragraphs");
  const cards = await page.$$eval("#agent .card", (c) => c.map((x) => x.querySelector(".kind").textContent));
  const tokens = await page.textContent("#agent-tokens");
  check(cards.length > 0 && /^\d+ tokens/.test(tokens), `agent: ${cards.length} request cards (${cards.join(", ")}), ${tokens}`);
  await page.click("#raw .segment");
  await page.waitForFunction(() => !document.querySelector("#player").paused || document.querySelector("#player").currentTime > 0, null, { timeout: 10000 });
  check(true, "a segment plays in the audio element");
  // The budget re-reads the kept transcript.
  await page.fill("#max-tokens", "500");
  await page.dispatchEvent("#max-tokens", "change");
  await page.waitForFunction(() => /budget/.test(document.querySelector("#agent-tokens").textContent), null, { timeout: 10000 });
  check((await page.textContent("#agent-tokens")).includes("500-token budget"), "max_tokens: the agent pane shows the budget");
  await page.screenshot({ path: path.join(shots, "upload.png"), fullPage: true });

  // Copy as: each snippet names the exact request.
  const want = { curl: "-F mode=agent", httpx: '"mode": "agent"', "openai-python": "client.audio.transcriptions.create", "openai-js": "client.audio.transcriptions.create", mcp: '"url"' };
  for (const [kind, text] of Object.entries(want)) {
    await page.selectOption("#copy-as", kind);
    const s = await page.textContent("#snippet");
    check(s.includes(text) && s.includes(base) && s.includes("jfk.wav") && !s.includes(key || "\u0000"), `copy as ${kind}`);
  }

  // Record from the (fake) microphone: uploaded when stopped.
  await page.click("#record");
  await page.waitForTimeout(2500);
  await page.click("#record");
  await page.waitForFunction(() => /recording\./.test(document.querySelector("#status").textContent) && /audio in/.test(document.querySelector("#status").textContent) || !document.querySelector("#error").hidden, null, { timeout: 120000 });
  const recErr = await page.isVisible("#error") ? await page.textContent("#error") : "";
  check(!recErr, `record: the recording is transcribed ${recErr}`);

  // Live: partials, then a final turn, from the fake microphone playing jfk.wav.
  await page.selectOption("#mode", "agent");
  await page.click("#live");
  await page.waitForFunction(() => document.querySelector("#live-partial").textContent.length > 0 || document.querySelectorAll("#live-turns .turn").length > 0, null, { timeout: 90000 });
  const sawPartial = (await page.textContent("#live-partial")).length > 0;
  await page.waitForSelector("#live-turns .turn", { timeout: 90000 });
  check(true, `live: ${sawPartial ? "a partial, then " : ""}a final turn`);
  await page.screenshot({ path: path.join(shots, "live.png"), fullPage: true });
  await page.click("#live");
  check(await page.getAttribute("#live", "aria-pressed") === "false", "live: stopped");

  // A narrow screen: one column, nothing wider than the viewport.
  await page.setViewportSize({ width: 390, height: 900 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `narrow screen: no horizontal scroll (${overflow}px)`);
  await page.screenshot({ path: path.join(shots, "narrow.png"), fullPage: true });
  // Every control is labelled.
  const unlabelled = await page.$$eval("input, select, button", (els) => els.filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.textContent.trim()).map((e) => e.id));
  check(unlabelled.length === 0, `labelled controls ${unlabelled.join(" ")}`);
  check(consoleErrors.length === 0, `no script errors ${consoleErrors.join(" | ")}`);
} finally {
  await browser.close();
}
console.log(`screenshots: ${shots}`);
if (failures.length) {
  console.error(`playground: ${failures.length} failed`);
  process.exit(1);
}
console.log("playground: all passed");
