// Test harness: starts openimp (a fresh data dir), a "merchant site" on another origin that
// serves one page per seed snippet, and Debian's Chromium through playwright-core.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, mkdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '../../../..');
export const bin = process.env.OPENIMP_BIN || path.join(repo, 'target/debug/openimp');
export const screenshots = path.join(repo, 'ci-artifacts/screenshots');

export const MOBILE_UA =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36';

export function snippet(name) {
  return readFileSync(path.join(here, 'snippets', name), 'utf8');
}

export async function startServer() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'openimp-browser-'));
  const help = execFileSync(bin, ['serve', '--help'], { encoding: 'utf8' });
  const args = ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir];
  if (help.includes('--allow-private-webhooks')) args.push('--allow-private-webhooks');
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const base = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('openimp did not start: ' + stderr)), 30000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/openimp listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => reject(new Error(`openimp exited (${code}): ${stderr}`)));
  });
  return {
    base,
    dataDir,
    stop() { child.kill('SIGTERM'); try { rmSync(dataDir, { recursive: true, force: true }); } catch {} },
  };
}

/** A fresh merchant with its REST helper. */
export async function newMerchant(server) {
  const out = execFileSync(bin, ['merchant', 'create', '--name', '테스트상점', '--json', '--data-dir', server.dataDir], { encoding: 'utf8' });
  const creds = JSON.parse(out.trim().split('\n').pop());
  const res = await fetch(server.base + '/users/getToken', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ imp_key: creds.imp_key, imp_secret: creds.imp_secret }),
  });
  const token = (await res.json()).response.access_token;
  async function api(method, url, body) {
    const r = await fetch(server.base + url, {
      method, headers: { Authorization: token, 'Content-Type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, ...(await r.json()) };
  }
  return { ...creds, api };
}

/**
 * The merchant's site, on its own origin: GET /pay?code=imp..&snippet=seed000_0.js renders a
 * page that loads the SDK from openimp, calls IMP.init(code), and runs the snippet verbatim
 * when the 결제하기 button is pressed. `wrap=...` puts the snippet inside another request
 * (for the parameter fragments of seed 003). Any other path is a landing page (m_redirect_url).
 */
export async function startMerchantSite(openimpBase) {
  const posts = []; // every POST the site received (webhooks sent to a notice_url here)
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        posts.push({ path: url.pathname, body, contentType: req.headers['content-type'] || '' });
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('OK');
      });
      return;
    }
    if (url.pathname === '/pay') {
      const code = url.searchParams.get('code');
      const sdk = url.searchParams.get('sdk') || '/v1/iamport.js';
      let js = url.searchParams.get('inline') || snippet(url.searchParams.get('snippet'));
      const html = `<!doctype html><html lang="ko"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>가맹점 테스트 페이지</title>
<script src="${openimpBase}${sdk}"></script>
<script>
  IMP.init(${JSON.stringify(code)});
  // Test instrumentation: keep every rsp the callback receives, and log alerts.
  window.__rsps = [];
  (function () {
    var original = IMP.request_pay;
    IMP.request_pay = function (params, callback) {
      return original(params, function (rsp) { window.__rsps.push(rsp); if (callback) callback(rsp); });
    };
  })();
</script></head>
<body><h1>가맹점 (Merchant)</h1><button id="pay" type="button">결제하기</button>
<script>document.getElementById('pay').addEventListener('click', function () {
${js}
});</script></body></html>`;
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(html);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><meta charset="utf-8"><title>landing</title><h1>landing</h1>');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, posts, stop: () => server.close() };
}

export async function launch() {
  const executablePath = process.env.CHROMIUM || execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
    // playwright-core gives every launch a fresh, temporary --user-data-dir of its own (and
    // refuses one in args), removed on close.
  });
  mkdirSync(screenshots, { recursive: true });
  return {
    browser,
    async close() { await browser.close(); },
  };
}

/** A page on the PC or the mobile profile, recording alerts; no request leaves localhost. */
export async function newPage(browser, { mobile = false } = {}) {
  const context = await browser.newContext(mobile
    ? { viewport: { width: 390, height: 844 }, userAgent: MOBILE_UA, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }
    : { viewport: { width: 1280, height: 860 } });
  const external = [];
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => {
    external.push(route.request().url());
    route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>external landing</title>' });
  });
  const page = await context.newPage();
  const alerts = [];
  page.on('dialog', (d) => { alerts.push(d.message()); d.accept(); });
  return { page, context, alerts, external };
}

/** Fills the window's card form (in the overlay iframe, or the page itself after a redirect). */
export async function fillCard(scope, { number = '4092-0230-1234-5678', expiry = '12/30', birth = '820213', pwd = '00' } = {}) {
  await scope.getByLabel('카드번호').fill(number);
  await scope.getByLabel('유효기간 (MM/YY)').fill(expiry);
  await scope.getByLabel('생년월일 (또는 사업자번호)').fill(birth);
  await scope.getByLabel('비밀번호 앞 2자리').fill(pwd);
}

export function windowFrame(page) {
  return page.frameLocator('iframe[title^="결제창"]');
}

export async function waitRsp(page, count = 1) {
  await page.waitForFunction((n) => window.__rsps && window.__rsps.length >= n, count, { timeout: 15000 });
  return page.evaluate(() => window.__rsps[window.__rsps.length - 1]);
}
