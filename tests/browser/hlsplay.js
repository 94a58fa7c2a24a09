// hlsplay.js - plays an LL-HLS playlist with hls.js (lowLatencyMode) in
// headless Chromium and reports how playback advances, for the
// integration tests (tests/integration/test_hls.py) and the scale test
// (tests/scale/).
//
//   node hlsplay.js URL SECONDS [--insecure] [--stdin]
//
// It plays for SECONDS; with --stdin, or until its standard input ends,
// whichever comes first (the scale test closes it when its phases are
// over).
// --insecure accepts any TLS certificate (the scale test's edges have
// self-signed ones).
// The page is a blank document of URL's origin (so that no CORS is
// involved unless the test wants it), with hls.js from node_modules put
// in as a script (nothing is loaded from anywhere else).  Prints one JSON
// object per line: first what the browser supports, then once every
// 250 ms the element's currentTime, decoded and dropped frames, hls.js's
// latency and target latency, the wall-clock time minus the playing
// frame's capture time (hls.playingDate, from EXT-X-PROGRAM-DATE-TIME),
// stalls (waiting events) and the errors hls.js reported since the last
// line.
//
// Like shmcam's viewer page with MP4, the player jumps to the live edge
// (hls.liveSyncPosition) when it finds itself more than a target
// duration behind its target latency: hls.js starts at the live edge as
// it was when the first part arrived, so a slow start (a loaded machine,
// a browser starting up) would otherwise stay in the latency for good;
// it plays faster to catch up only when less than a target duration
// behind.  Jumps are counted.
//
// Debian's chromium, headless, with a fresh profile that is removed
// afterwards (playwright-core only drives it).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
  const [url, secondsArg, ...flags] = process.argv.slice(2);
  const insecure = flags.includes('--insecure');
  const seconds = Number(secondsArg || 10);
  const origin = new URL(url).origin;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'shmcam-chromium-'));
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      ignoreHTTPSErrors: insecure,
      args: ['--headless', '--no-sandbox', '--disable-gpu',
        '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run',
        '--autoplay-policy=no-user-gesture-required'],
    });
    const page = ctx.pages()[0] || await ctx.newPage();
    // Any page of the server's origin will do; its document is replaced.
    await page.goto(origin + '/state', { waitUntil: 'domcontentloaded' });
    await page.setContent('<!DOCTYPE html><video muted autoplay ' +
      'playsinline></video>');
    await page.addScriptTag({ path: require.resolve('hls.js/dist/hls.min.js') });
    console.log(JSON.stringify(await page.evaluate((u) => {
      const v = document.querySelector('video');
      window.R = { errors: [], waiting: 0, fatal: null, jumps: 0 };
      v.addEventListener('waiting', () => { window.R.waiting++; });
      const ok = Hls.isSupported();
      if (ok) {
        // Low-latency mode, and allowed to play up to 1.5 times as fast
        // to get back to the target latency after a stall or a slow
        // start (hls.js plays at 1x by default and never catches up).
        const hls = new Hls({ lowLatencyMode: true, backBufferLength: 10,
          maxLiveSyncPlaybackRate: 1.5 });
        window.hls = hls;
        hls.on(Hls.Events.ERROR, (ev, d) => {
          window.R.errors.push((d.fatal ? 'fatal ' : '') + d.type + ' ' +
            d.details + (d.response ? ' ' + d.response.code : ''));
          if (d.fatal) window.R.fatal = d.details;
        });
        hls.loadSource(u);
        hls.attachMedia(v);
        v.play().catch(() => {});
      }
      return { hlsjs_supported: ok, hlsjs_version: ok ? Hls.version : null,
        native_hls: v.canPlayType('application/vnd.apple.mpegurl') };
    }, url)));
    let stop = false;
    if (flags.includes('--stdin')) {
      process.stdin.on('end', () => { stop = true; });
      process.stdin.on('error', () => { stop = true; });
      process.stdin.resume();
    }
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end && !stop) {
      await page.waitForTimeout(250);
      console.log(JSON.stringify(await page.evaluate(() => {
        const v = document.querySelector('video');
        const h = window.hls;
        const q = v.getVideoPlaybackQuality();
        const d = h && h.playingDate;
        const lvl = h && h.levels && h.levels[h.currentLevel >= 0 ?
          h.currentLevel : 0];
        const errs = window.R.errors.splice(0);
        const td = lvl && lvl.details ? lvl.details.targetduration : 1;
        if (h && isFinite(h.latency) && isFinite(h.targetLatency) &&
            h.latency > h.targetLatency + td && h.liveSyncPosition) {
          v.currentTime = h.liveSyncPosition;
          window.R.jumps++;
        }
        return {
          now: performance.now() / 1000,
          wall: Date.now() / 1000,
          t: v.currentTime,
          frames: q.totalVideoFrames,
          dropped: q.droppedVideoFrames,
          ready: v.readyState,
          paused: v.paused,
          waiting: window.R.waiting,
          jumps: window.R.jumps,
          latency: h && isFinite(h.latency) ? h.latency : null,
          target_latency: h && isFinite(h.targetLatency) ?
            h.targetLatency : null,
          behind_capture: d ? (Date.now() - d.getTime()) / 1000 : null,
          low_latency: !!(h && h.lowLatencyMode && lvl && lvl.details &&
            lvl.details.partTarget > 0),
          error: errs.length ? errs.join('; ') : null,
          fatal: window.R.fatal,
        };
      })));
    }
  } finally {
    if (ctx) await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
