// Opens PAGE_URL (page.html?src=PLAYLIST) in headless Debian Chromium via playwright-core and
// judges hls.js playback: playing within 20 s, then over 5 s of wall time the video's
// currentTime advances by more than 3 s, frames and audio are decoded, and hls.js reports no
// error event at all — except one: a non-fatal bufferSeekOverHole within the first second of the
// stream. With B-frames the first video frame is presented a frame or two after the
// segment's first timestamp, and hls.js (depending on timing) reports skipping that start gap;
// ffmpeg's own HLS output gets the same report (--selftest). Prints what it saw; exits 0 (pass)
// or 1 (fail).
//
//     node play.mjs PAGE_URL
// env: CHROMIUM (default /usr/bin/chromium)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const pageUrl = process.argv[2];
if (!pageUrl) {
  console.error("usage: node play.mjs PAGE_URL");
  process.exit(2);
}
const START_LIMIT_MS = 20_000;
const WATCH_MS = 5_000;
const MIN_ADVANCE_S = 3;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const profile = mkdtempSync(join(tmpdir(), "livego-chromium-"));
const problems = [];
const consoleLines = [];
let browser;
const hard = setTimeout(() => {
  console.error("FAIL: play.mjs did not finish within 60 s");
  process.exit(1);
}, 60_000);

try {
  // a fresh, empty profile (--user-data-dir) for every run
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    timeout: 30_000,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--autoplay-policy=no-user-gesture-required",
    ],
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  page.on("console", (m) => consoleLines.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) =>
    consoleLines.push(`request failed: ${r.url()} ${r.failure()?.errorText}`),
  );
  await page.goto(pageUrl, { timeout: 15_000 });
  const state = () =>
    page.evaluate(() => {
      const v = document.getElementById("video");
      const s = window.hlsTest;
      return {
        supported: s.supported,
        errors: s.errors,
        events: s.events,
        fragsLoaded: s.fragsLoaded,
        playError: s.playError,
        currentTime: v.currentTime,
        paused: v.paused,
        readyState: v.readyState,
        width: v.videoWidth,
        height: v.videoHeight,
        frames: v.webkitDecodedFrameCount ?? -1,
        audioBytes: v.webkitAudioDecodedByteCount ?? -1,
        mediaError: v.error ? `${v.error.code} ${v.error.message}` : null,
      };
    });

  let s = await state();
  if (!s.supported) {
    problems.push("hls.js: MediaSource playback is not supported in this Chromium");
  } else {
    const startDeadline = Date.now() + START_LIMIT_MS;
    while (Date.now() < startDeadline && !(s.currentTime > 0 && !s.paused) && !s.mediaError) {
      await sleep(200);
      s = await state();
    }
    if (!(s.currentTime > 0 && !s.paused)) {
      problems.push(
        `not playing ${START_LIMIT_MS / 1000} s after opening the page ` +
          `(currentTime ${s.currentTime}, paused ${s.paused}, readyState ${s.readyState}, ` +
          `play() error ${s.playError}, media error ${s.mediaError})`,
      );
    } else {
      const before = s;
      await sleep(WATCH_MS);
      s = await state();
      const advanced = s.currentTime - before.currentTime;
      console.log(
        `currentTime ${before.currentTime.toFixed(2)} -> ${s.currentTime.toFixed(2)} s ` +
          `(+${advanced.toFixed(2)} s in ${WATCH_MS / 1000} s), ${s.width}x${s.height}, ` +
          `${s.frames} frames decoded, ${s.audioBytes} audio bytes decoded, ` +
          `${s.fragsLoaded} fragments loaded`,
      );
      if (!(advanced > MIN_ADVANCE_S)) {
        problems.push(`currentTime advanced ${advanced.toFixed(2)} s in ${WATCH_MS / 1000} s, want > ${MIN_ADVANCE_S}`);
      }
      if (!(s.width > 0 && s.height > 0)) problems.push(`video size ${s.width}x${s.height}`);
      if (!(s.frames > before.frames)) problems.push(`no video frames decoded while watching (${before.frames} -> ${s.frames})`);
      if (!(s.audioBytes > before.audioBytes)) {
        problems.push(`no audio decoded while watching (${before.audioBytes} -> ${s.audioBytes} bytes)`);
      }
      if (s.mediaError) problems.push(`media error: ${s.mediaError}`);
    }
  }
  for (const e of s.errors) {
    const line = `hls.js error: ${e.type} ${e.details} fatal=${e.fatal} ${e.url} ${e.reason}`.trim();
    if (isStartGapSkip(e)) {
      console.log(`tolerated start gap: ${line}`);
      continue;
    }
    problems.push(line);
  }
  console.log("events:\n  " + s.events.join("\n  "));
} catch (e) {
  problems.push(`play.mjs: ${e && e.stack ? e.stack : e}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(hard);
}

/** hls.js skipping the small gap before the first presented video frame. */
function isStartGapSkip(e) {
  return e.details === "bufferSeekOverHole" && !e.fatal && e.currentTime < 1;
}

if (problems.length) {
  if (consoleLines.length) console.log(consoleLines.slice(-40).join("\n"));
  console.log("FAIL: " + problems.join("\n  "));
  process.exit(1);
}
console.log("PASS: hls.js played the stream in headless Chromium");
process.exit(0);
