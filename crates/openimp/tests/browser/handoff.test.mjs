// The hand-off to a PG's own window in real Chromium, against the scripted live connector
// (crates/openimp/src/scripted_pg.rs) and a stand-in PG page served here: the window posts
// the browser to the PG (Post), or loads the PG's script that opens the PG in a frame of its
// own inside the window (Script); the PG sends the browser back to openimp's return URL, the
// result reaches the merchant's callback. Needs the binary built with
// `cargo build -p openimp --features scripted-pg`; without it every test here is reported
// skipped with that reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { startServer, startMerchantSite, launch, newMerchant, newPage, windowFrame, waitRsp, bin } from './harness.mjs';

let server, site, chrome, pg;
const NO_FEATURE = 'the binary was built without --features scripted-pg (cargo build -p openimp --features scripted-pg)';

/** The stand-in PG: its window page (POST /pay) and its script (GET /pay.js). */
async function startPg() {
  const received = [];
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/pay.js') {
      res.writeHead(200, { 'Content-Type': 'application/javascript' });
      res.end(`window.ScriptedPg = { pay: function (formId) {
        var form = document.getElementById(formId);
        var frame = document.createElement('iframe');
        frame.name = 'pgframe'; frame.title = 'PG';
        frame.style.width = '100%'; frame.style.height = '400px';
        document.body.appendChild(frame);
        form.action = '${'${base}'}/pay'; form.target = 'pgframe'; form.submit();
      } };`.replace('${base}', `http://127.0.0.1:${srv.address().port}`));
      return;
    }
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const fields = Object.fromEntries(new URLSearchParams(body));
      received.push(fields);
      const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><meta charset="utf-8"><title>PG</title><h1>PG 결제창</h1>
<p>${esc(fields.price)}원</p>
<form method="post" action="${esc(fields.returnUrl)}"><input type="hidden" name="oid" value="${esc(fields.oid)}">
<input type="hidden" name="result" value="paid"><button type="submit">승인</button></form>
<a href="${esc(fields.closeUrl)}">닫기</a>`);
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${srv.address().port}`, received, stop: () => srv.close() };
}

before(async () => {
  server = await startServer();
  site = await startMerchantSite(server.base);
  pg = await startPg();
  chrome = await launch();
});

after(async () => {
  await chrome?.close();
  pg?.stop();
  site?.stop();
  server?.stop();
});

/** A merchant with a live scripted_pg channel on the stand-in PG; null without the feature. */
async function liveMerchant() {
  const m = await newMerchant(server);
  try {
    execFileSync(bin, ['channel', 'add', '--merchant', m.imp_code, '--pg-provider', 'scripted_pg', '--mid', 'SCRIPT01',
      '--test-mode', 'false', '--endpoint', pg.base, '--default', '--data-dir', server.dataDir], { encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    if (String(err.stderr).includes('unknown PG provider')) return null;
    throw err;
  }
  return m;
}

function payUrl(m, params) {
  const inline = `IMP.request_pay(${JSON.stringify(params)}, function (rsp) {});`;
  return `${site.base}/pay?${new URLSearchParams({ code: m.imp_code, inline })}`;
}

test('Post hand-off, PC: the window posts to the PG, the PG returns, the callback gets the payment', async (t) => {
  const m = await liveMerchant();
  if (!m) return t.skip(NO_FEATURE);
  const mu = `handoff_post_${Date.now()}`;
  const { page } = await newPage(chrome.browser);
  await page.goto(payUrl(m, { pg: 'scripted_pg', pay_method: 'card', merchant_uid: mu, amount: 1500, name: '핸드오프', buyer_tel: '010-1234-5678' }));
  await page.getByRole('button', { name: '결제하기' }).click();
  const frame = windowFrame(page);
  await frame.getByRole('heading', { name: 'PG 결제창' }).waitFor();
  const pending = await m.api('GET', `/payments/find/${mu}`);
  assert.equal(pending.response.status, 'ready', 'recorded before the PG approves');
  await frame.getByRole('button', { name: '승인' }).click();
  const rsp = await waitRsp(page);
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.equal(rsp.merchant_uid, mu);
  assert.equal(rsp.imp_uid, pending.response.imp_uid);
  assert.equal(pg.received.at(-1).oid, rsp.imp_uid, 'the PG saw the attempt as its order id');
  const paid = await m.api('GET', `/payments/${rsp.imp_uid}`);
  assert.equal(paid.response.status, 'paid');
  assert.equal(paid.response.amount, 1500);
  assert.equal(await page.locator('iframe').count(), 0, 'the overlay is gone');
});

test('Script hand-off: the PG opens in its own frame inside the window; its return still reaches the callback', async (t) => {
  const m = await liveMerchant();
  if (!m) return t.skip(NO_FEATURE);
  const mu = `handoff_script_${Date.now()}`;
  const { page } = await newPage(chrome.browser);
  await page.goto(payUrl(m, { pg: 'scripted_pg', pay_method: 'trans', merchant_uid: mu, amount: 2500, name: '스크립트', buyer_tel: '010-1234-5678' }));
  await page.getByRole('button', { name: '결제하기' }).click();
  const pgFrame = windowFrame(page).frameLocator('iframe[name="pgframe"]');
  await pgFrame.getByRole('button', { name: '승인' }).click();
  const rsp = await waitRsp(page);
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.equal(rsp.merchant_uid, mu);
  const paid = await m.api('GET', `/payments/${rsp.imp_uid}`);
  assert.equal(paid.response.status, 'paid');
});

test('the customer closes the PG window: the callback gets 사용자가 결제를 취소하셨습니다', async (t) => {
  const m = await liveMerchant();
  if (!m) return t.skip(NO_FEATURE);
  const mu = `handoff_close_${Date.now()}`;
  const { page } = await newPage(chrome.browser);
  await page.goto(payUrl(m, { pg: 'scripted_pg', pay_method: 'card', merchant_uid: mu, amount: 1000, name: '닫기', buyer_tel: '010-1234-5678' }));
  await page.getByRole('button', { name: '결제하기' }).click();
  await windowFrame(page).getByRole('link', { name: '닫기' }).click();
  const rsp = await waitRsp(page);
  assert.equal(rsp.success, false);
  assert.equal(rsp.error_msg, '사용자가 결제를 취소하셨습니다');
  const failed = await m.api('GET', `/payments/${rsp.imp_uid}`);
  assert.equal(failed.response.status, 'failed');
});
