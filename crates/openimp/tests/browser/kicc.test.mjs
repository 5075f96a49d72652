// Seed 001 against a live KICC channel in real Chromium: openimp hands the window to the fake
// KICC (`openimp fake-pg kicc`), the customer fills KICC's auth page, KICC returns to openimp,
// which approves and stores the key. PC ends in the callback, mobile on m_redirect_url; then
// the key is charged again, cancelled in part and in full, and deleted, each reaching KICC.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import path from 'node:path';
import {
  startServer, startMerchantSite, launch, newMerchant, newPage, waitRsp, screenshots, bin,
} from './harness.mjs';

const MALL = 'T5102001';
const SECRET = 'browser-kicc-secret-key';
let server, site, chrome, fake;

/** `openimp fake-pg kicc` on a free port; its base URL and a stop(). */
async function startFakeKicc() {
  const child = spawn(bin, ['fake-pg', 'kicc', '--listen', '127.0.0.1:0', '--mall-id', MALL], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, OPENIMP_FAKE_KICC_SECRET_KEY: SECRET },
  });
  const base = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the fake KICC did not start')), 30000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/fake KICC listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => reject(new Error(`the fake KICC exited (${code})`)));
  });
  return {
    base,
    async ledger() { return (await fetch(base + '/__fake/ledger')).json(); },
    stop() { child.kill('SIGTERM'); },
  };
}

before(async () => {
  fake = await startFakeKicc();
  server = await startServer();
  site = await startMerchantSite(server.base);
  chrome = await launch();
});

after(async () => {
  await chrome?.close();
  site?.stop();
  server?.stop();
  fake?.stop();
});

/** A merchant whose KICC channel is live on the fake. */
async function liveMerchant() {
  const m = await newMerchant(server);
  execFileSync(bin, ['channel', 'update', '--merchant', m.imp_code, '--pg-provider', 'kicc',
    '--mid', MALL, '--test-mode', 'false', '--endpoint', fake.base, '--kicc-secret-key', SECRET,
    '--default', '--data-dir', server.dataDir], { encoding: 'utf8' });
  return m;
}

function payUrl(merchant) {
  const q = new URLSearchParams({ code: merchant.imp_code, snippet: 'seed001_0.js' });
  return `${site.base}/pay?${q}`;
}

/** Fills and submits KICC's (the fake's) auth page, in the overlay's frame or the page. */
async function fillKicc(scope, number = '4092-0230-1234-5678') {
  await scope.getByLabel('카드번호').fill(number);
  await scope.getByLabel('유효기간').fill('2031-12');
  await scope.getByLabel('생년월일').fill('820213');
  await scope.getByLabel('비밀번호 앞 2자리').fill('00');
  await scope.getByRole('button', { name: '카드 등록' }).click();
}

async function paymentOf(m, merchantUid) {
  const found = await m.api('GET', `/payments/find/${encodeURIComponent(merchantUid)}`);
  assert.equal(found.code, 0, JSON.stringify(found));
  return found.response;
}

/** Again on the key, a partial and a full cancel, the deletion: each one reaches KICC. */
async function useTheKey(m, customerUid) {
  const again = await m.api('POST', '/subscribe/payments/again', {
    name: 'your-service-name', customer_uid: customerUid, merchant_uid: `again_${Date.now()}`, amount: 3000,
  });
  assert.equal(again.code, 0, JSON.stringify(again));
  assert.equal(again.response.status, 'paid');
  assert.equal(again.response.pg_provider, 'kicc');
  const pgCno = again.response.pg_tid;
  const at = (l) => l.transactions.find((t) => t.pgCno === pgCno);
  assert.equal(at(await fake.ledger()).balance, 3000);
  const partial = await m.api('POST', '/payments/cancel', { imp_uid: again.response.imp_uid, amount: 1000, reason: '부분 취소' });
  assert.equal(partial.code, 0, JSON.stringify(partial));
  assert.equal(at(await fake.ledger()).balance, 2000);
  const full = await m.api('POST', '/payments/cancel', { imp_uid: again.response.imp_uid, reason: '전액 취소' });
  assert.equal(full.code, 0, JSON.stringify(full));
  assert.equal(full.response.status, 'cancelled');
  assert.equal(at(await fake.ledger()).balance, 0);
  const keysBefore = (await fake.ledger()).batchKeys.filter((k) => !k.removed).length;
  const deleted = await m.api('DELETE', `/subscribe/customers/${encodeURIComponent(customerUid)}`);
  assert.equal(deleted.code, 0, JSON.stringify(deleted));
  for (let i = 0; i < 50; i++) {
    if ((await fake.ledger()).batchKeys.filter((k) => !k.removed).length === keysBefore - 1) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail('the key was not removed at KICC');
}

test('seed 001 on a live KICC channel, PC: KICC window in the overlay, callback', async () => {
  const m = await liveMerchant();
  const { page, alerts, context } = await newPage(chrome.browser);
  await page.goto(payUrl(m));
  await page.getByRole('button', { name: '결제하기' }).click();
  const frame = page.frameLocator('iframe[title^="결제창"]');
  await frame.getByLabel('카드번호').waitFor();
  await page.screenshot({ path: path.join(screenshots, 'kicc-live-pc.png') });
  await fillKicc(frame);
  const rsp = await waitRsp(page);
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.deepEqual(alerts, ['빌링키 발급 성공']);
  assert.equal(rsp.merchant_uid, 'order_monthly_0001');
  assert.equal(rsp.pg_provider, 'kicc');
  const payment = await paymentOf(m, 'order_monthly_0001');
  assert.equal(payment.customer_uid_usage, 'issue');
  assert.equal(payment.amount, 0);
  assert.equal(payment.channel, 'pc');
  const key = await m.api('GET', '/subscribe/customers/your-customer-unique-id');
  assert.equal(key.code, 0, JSON.stringify(key));
  assert.match(key.response.card_number, /^\d{6}\*+\d$/);
  await useTheKey(m, 'your-customer-unique-id');
  await context.close();
});

test('seed 001 on a live KICC channel, mobile: redirect to m_redirect_url', async () => {
  const m = await liveMerchant();
  const { page, alerts, context, external } = await newPage(chrome.browser, { mobile: true });
  await page.goto(payUrl(m));
  await page.getByRole('button', { name: '결제하기' }).click();
  await page.waitForURL((url) => url.href.startsWith(fake.base + '/auth/'));
  await page.screenshot({ path: path.join(screenshots, 'kicc-live-mobile.png') });
  // openimp answers KICC's return with a redirect to m_redirect_url; playwright's route does not
  // see redirect hops, so the landing is read from the request the browser makes.
  const landing = page.waitForRequest(/yourservice\.com\/mobile\/billing\/landing/);
  await fillKicc(page);
  const url = new URL((await landing).url());
  assert.equal(url.searchParams.get('imp_success'), 'true', url.href);
  assert.equal(url.searchParams.get('merchant_uid'), 'order_monthly_0001');
  assert.deepEqual(alerts, [], 'no callback on a redirect');
  assert.ok(external.every((u) => u.startsWith('https://yourservice.com/')), external.join());
  assert.ok(!url.searchParams.has('error_msg'), url.href);
  const payment = await paymentOf(m, 'order_monthly_0001');
  assert.equal(payment.imp_uid, url.searchParams.get('imp_uid'));
  assert.equal(payment.channel, 'mobile');
  assert.equal(payment.pg_provider, 'kicc');
  await useTheKey(m, 'your-customer-unique-id');
  await context.close();
});
