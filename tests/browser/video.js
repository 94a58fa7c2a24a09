// video.js - plays a video in headless Chromium and reports how playback
// advances, for the integration tests (tests/integration/test_mp4_stream.py).
//
//   node video.js URL SECONDS [--page] [--as-safari]
//
// Without --page, URL is the src of a <video muted autoplay> on an empty
// page; with it, URL is shmcam's viewer page and the first <video> on it
// is watched.  --as-safari makes navigator.vendor Apple's, as Safari's
// and every iOS browser's is, to see what the page chooses for them.  Prints one JSON object per line: first what the browser
// says it can play, then once every 250 ms the element's currentTime,
// getVideoPlaybackQuality() counts, readyState, error, whether it is
// shown, and the page's "playing: ..." line.
//
// Debian's chromium (no browser download: playwright-core only drives
// it), headless, with a fresh profile that is removed afterwards.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
  const [url, secondsArg, ...flags] = process.argv.slice(2);
  const mode = flags.includes('--page') ? '--page' : null;
  const seconds = Number(secondsArg || 10);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'shmcam-chromium-'));
  let ctx;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu',
        '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run',
        '--autoplay-policy=no-user-gesture-required'],
    });
    const page = ctx.pages()[0] || await ctx.newPage();
    if (flags.includes('--as-safari')) {
      await page.addInitScript(() => {
        Object.defineProperty(Navigator.prototype, 'vendor',
          { get: () => 'Apple Computer, Inc.' });
      });
    }
    if (mode === '--page') {
      await page.goto(url, { waitUntil: 'domcontentloaded' });
    } else {
      await page.setContent('<!DOCTYPE html><video muted autoplay ' +
        'playsinline></video>');
      await page.evaluate((u) => { document.querySelector('video').src = u; }, url);
    }
    console.log(JSON.stringify(await page.evaluate(() => {
      const v = document.createElement('video');
      return {
        canplay_h264: v.canPlayType('video/mp4; codecs="avc1.42E01E"'),
        canplay_h264_main: v.canPlayType('video/mp4; codecs="avc1.4D401F"'),
        mse_h264: !!(window.MediaSource &&
          MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E"')),
      };
    })));
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      await page.waitForTimeout(250);
      console.log(JSON.stringify(await page.evaluate(() => {
        const v = document.querySelector('video');
        const p = document.querySelector('.playing');
        if (!v) return { error: 'no video element' };
        const q = v.getVideoPlaybackQuality();
        const b = v.buffered;
        return {
          now: performance.now() / 1000,
          t: v.currentTime,
          frames: q.totalVideoFrames,
          dropped: q.droppedVideoFrames,
          ready: v.readyState,
          error: v.error ? v.error.code + ' ' + v.error.message : null,
          hidden: v.hidden,
          ended: v.ended,
          buffered_end: b.length ? b.end(b.length - 1) : null,
          playing: p ? p.textContent : null,
        };
      })));
    }
  } finally {
    if (ctx) await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(String(e && e.stack || e)); process.exit(1); });
