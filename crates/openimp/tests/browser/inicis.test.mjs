// KG Inicis's own windows in real Chromium, on live channels pointed at `openimp fake-pg
// inicis`: seeds 000, 002, 003 and 004 as written, PC (INIStdPay.js in the overlay) and
// mobile (INIpay Mobile and INILite), the card typed on the "PG's" page, never on openimp's.
// Then the key the window issued is charged with POST /subscribe/payments/again and by a
// schedule, a window payment is refunded, and the fake's ledger says what KG Inicis charged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import path from 'node:path';
import { startServer, startMerchantSite, launch, newMerchant, newPage, windowFrame, waitRsp, screenshots, bin } from './harness.mjs';

let server, site, chrome, fake;

const SIGN_KEY = 'SU5JTElURV9UUklQTEVERVNfS0VZU1RS';

/** `openimp fake-pg inicis` on a random port. */
async function startFake() {
  const child = spawn(bin, ['fake-pg', 'inicis', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const base = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('fake-pg did not start')), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/fake KG Inicis listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => reject(new Error(`fake-pg exited (${code})`)));
  });
  return {
    base,
    async ledger() { return (await fetch(base + '/__fake/ledger')).json(); },
    async faults(faults) {
      await fetch(base + '/__fake/faults', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(faults) });
    },
    stop() { child.kill('SIGTERM'); },
  };
}

before(async () => {
  server = await startServer();
  site = await startMerchantSite(server.base);
  fake = await startFake();
  chrome = await launch();
});

after(async () => {
  await chrome?.close();
  fake?.stop();
  site?.stop();
  server?.stop();
});

function cli(args) {
  return JSON.parse(execFileSync(bin, [...args, '--data-dir', server.dataDir], { encoding: 'utf8' }).trim().split('\n').pop());
}

/** Seed 002's console steps: the merchant's INIBillTst channel goes live on the fake. */
async function billingMerchant() {
  const m = await newMerchant(server);
  const channel = cli(['channel', 'update', '--merchant', m.imp_code, '--pg-provider', 'html5_inicis', '--mid', 'INIBillTst',
    '--test-mode', 'false', '--endpoint', fake.base, '--keyed-billing', 'false', '--sign-key', SIGN_KEY,
    '--merchant-key', 'b09LVzhuTGZVaEY1WmJoQnZzdXpRdz09', '--iniapi-key', 'rKnPljRn5m6J9Mzz', '--iniapi-iv', 'W2KLNKra6Wxc1P==']);
  assert.equal(channel.test_mode, false, JSON.stringify(channel));
  return m;
}

/** A merchant whose default channel is KG Inicis's payments test MID, live on the fake. */
async function paymentMerchant() {
  const m = await newMerchant(server);
  cli(['channel', 'add', '--merchant', m.imp_code, '--pg-provider', 'html5_inicis', '--mid', 'INIpayTest',
    '--test-mode', 'false', '--endpoint', fake.base, '--default', '--sign-key', SIGN_KEY,
    '--merchant-key', '3CB8183A4BE283555ACC8363C0360223', '--iniapi-key', 'ItEQKi3rY7uvDS8l', '--iniapi-iv', 'HYb3yQ4f65QL89==']);
  return m;
}

function payUrl(merchant, params) {
  return `${site.base}/pay?${new URLSearchParams({ code: merchant.imp_code, ...params })}`;
}

/** Types a card on the fake KG Inicis page (`scope`: the overlay's frame, or the page). */
async function typeCard(scope, number = '4111-1111-1111-1111') {
  await scope.getByLabel('카드번호').fill(number);
  await scope.getByLabel('유효기간 (MMYY)').fill('1230');
  await scope.getByRole('button', { name: /결제하기|카드 등록/ }).click();
}

/** Opens the merchant page, presses 결제하기, types the card in KG Inicis's page in the overlay. */
async function payInOverlay(page, url, number, shot) {
  await page.goto(url);
  await page.getByRole('button', { name: '결제하기' }).click();
  const frame = windowFrame(page);
  await frame.getByLabel('카드번호').waitFor();
  if (shot) await page.screenshot({ path: path.join(screenshots, shot + '.png') });
  await typeCard(frame, number);
  return waitRsp(page);
}

async function paymentOf(m, merchantUid) {
  const found = await m.api('GET', `/payments/find/${encodeURIComponent(merchantUid)}`);
  assert.equal(found.code, 0, JSON.stringify(found));
  return found.response;
}

async function approvals(amount) {
  return (await fake.ledger()).filter((e) => e.kind === 'approval' && e.amount === amount);
}

/** Seed 002 step 3: the key works with POST /subscribe/payments/again, charged at KG Inicis. */
async function chargeAgain(m, customerUid, amount = 3000) {
  const merchantUid = `again_${Date.now()}_${Math.random().toString(36).slice(2, 8)}`;
  const key = await m.api('GET', `/subscribe/customers/${encodeURIComponent(customerUid)}`);
  assert.equal(key.code, 0, JSON.stringify(key));
  assert.match(key.response.card_number, /^\d{6}\*+\d$/);
  const again = await m.api('POST', '/subscribe/payments/again', {
    name: 'your-service-name', customer_uid: customerUid, merchant_uid: merchantUid, amount,
  });
  assert.equal(again.code, 0, JSON.stringify(again));
  assert.equal(again.response.status, 'paid', JSON.stringify(again));
  assert.equal(again.response.amount, amount);
  assert.match(again.response.pg_tid, /INIBillTst/, 'a KG Inicis tid');
  assert.ok((await fake.ledger()).some((e) => e.kind === 'approval' && e.tid === again.response.pg_tid), 'KG Inicis charged it');
  return again.response;
}

function checkIssue(payment, channel) {
  assert.equal(payment.customer_uid_usage, 'issue');
  assert.equal(payment.status, 'paid');
  assert.equal(payment.amount, 0, 'nothing is charged when a key is issued');
  assert.equal(payment.channel, channel);
  assert.equal(payment.pg_provider, 'html5_inicis');
}

test('seed 002 (비인증 결제 연동), PC: KG Inicis issues the key, again charges it, and so does a schedule', async () => {
  const m = await billingMerchant();
  const { page, alerts, context } = await newPage(chrome.browser);
  const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed002_0.js' }), undefined, 'inicis-billing-pc');
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.deepEqual(alerts, ['빌링키 발급 성공']);
  checkIssue(await paymentOf(m, rsp.merchant_uid), 'pc');
  assert.equal(await page.locator('iframe').count(), 0, 'the overlay is gone');
  await context.close();
  await chargeAgain(m, 'your-customer-unique-id');

  // A schedule on the same key, charged by the worker at KG Inicis.
  const merchantUid = `sched_${Date.now()}`;
  const scheduled = await m.api('POST', '/subscribe/payments/schedule', {
    customer_uid: 'your-customer-unique-id',
    schedules: [{ merchant_uid: merchantUid, schedule_at: Math.floor(Date.now() / 1000) + 1, amount: 4900, name: '정기구독' }],
  });
  assert.equal(scheduled.code, 0, JSON.stringify(scheduled));
  let schedule;
  for (let i = 0; i < 60; i++) {
    schedule = (await m.api('GET', `/subscribe/payments/schedule/${merchantUid}`)).response;
    if (schedule.schedule_status === 'executed') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(schedule.schedule_status, 'executed', JSON.stringify(schedule));
  assert.equal(schedule.payment_status, 'paid', JSON.stringify(schedule));
  assert.equal((await approvals(4900)).length, 1, 'KG Inicis charged the schedule once');
});

test('seed 000 (KG이니시스 결제창 빌링키), PC and mobile: the mobile window is INILite', async () => {
  for (const mobile of [false, true]) {
    const m = await billingMerchant();
    const { page, alerts, context } = await newPage(chrome.browser, { mobile });
    const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed000_0.js' }), '5411-1111-2222-3333',
      mobile ? 'inicis-billing-mobile' : undefined);
    assert.equal(rsp.success, true, JSON.stringify(rsp));
    assert.deepEqual(alerts, ['빌링키 발급 성공']);
    assert.equal(rsp.merchant_uid, 'order_monthly_0001');
    checkIssue(await paymentOf(m, 'order_monthly_0001'), mobile ? 'mobile' : 'pc');
    await context.close();
    await chargeAgain(m, 'your-customer-unique-id', 3000);
  }
});

test('seed 004 (placeholders as written), PC and mobile', async () => {
  for (const mobile of [false, true]) {
    const m = await billingMerchant();
    const { page, alerts, context } = await newPage(chrome.browser, { mobile });
    const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed004_0.js' }));
    assert.equal(rsp.success, true, JSON.stringify(rsp));
    assert.deepEqual(alerts, ['Success']);
    checkIssue(await paymentOf(m, rsp.merchant_uid), mobile ? 'mobile' : 'pc');
    await context.close();
    await chargeAgain(m, '{Unique ID for the card (billing key)}', 1000);
  }
});

test('seed 003 인증결제창, PC: paid at KG Inicis, receipt, refunded over REST', async () => {
  const m = await paymentMerchant();
  const { page, context } = await newPage(chrome.browser);
  const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed003_0.js' }), undefined, 'inicis-payment-pc');
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.equal(rsp.paid_amount, 1004);
  const p = await paymentOf(m, 'order_no_0001');
  assert.equal(p.status, 'paid');
  assert.equal(p.amount, 1004);
  assert.equal(p.channel, 'pc');
  assert.equal(p.pg_id, 'INIpayTest');
  assert.match(p.pg_tid, /INIpayTest/);
  assert.ok(p.receipt_url.startsWith(fake.base) && p.receipt_url.includes(p.pg_tid), p.receipt_url);
  assert.match(p.card_number, /^411111\*+1$/);
  assert.equal((await approvals(1004)).length, 1);
  await context.close();
  const cancelled = await m.api('POST', '/payments/cancel', { imp_uid: p.imp_uid, amount: 4 });
  assert.equal(cancelled.code, 0, JSON.stringify(cancelled));
  assert.equal(cancelled.response.cancel_amount, 4);
  const rest = await m.api('POST', '/payments/cancel', { imp_uid: p.imp_uid });
  assert.equal(rest.response.status, 'cancelled', JSON.stringify(rest));
  const cancels = (await fake.ledger()).filter((e) => e.kind === 'cancel').map((e) => e.amount);
  assert.deepEqual(cancels.slice(-2), [4, 1000]);
});

test('seed 003 인증결제창, mobile: INIpay Mobile, then the redirect to m_redirect_url', async () => {
  const m = await paymentMerchant();
  const { page, context } = await newPage(chrome.browser, { mobile: true });
  await page.goto(payUrl(m, { snippet: 'seed003_0.js' }));
  await page.getByRole('button', { name: '결제하기' }).click();
  await page.waitForURL((u) => u.toString().startsWith(fake.base + '/smart/payment/'));
  await page.screenshot({ path: path.join(screenshots, 'inicis-payment-mobile.png') });
  await typeCard(page);
  await page.waitForURL((u) => u.toString().startsWith(site.base) && u.searchParams.has('imp_uid'));
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('imp_success'), 'true', page.url());
  const p = await paymentOf(m, 'order_no_0001');
  assert.equal(p.imp_uid, url.searchParams.get('imp_uid'));
  assert.equal(p.channel, 'mobile');
  assert.equal(p.status, 'paid');
  assert.equal((await approvals(1004)).some((e) => e.tid === p.pg_tid), true);
  await context.close();
});

test('a card KG Inicis declines, and a closed window: the callback fails, nothing is charged', async () => {
  const m = await paymentMerchant();
  const { page, context } = await newPage(chrome.browser);
  const before = (await fake.ledger()).length;
  const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed003_0.js' }), '4111-1111-1111-0002');
  assert.equal(rsp.success, false, JSON.stringify(rsp));
  assert.match(rsp.error_msg, /잔액부족/);
  assert.equal((await paymentOf(m, 'order_no_0001')).status, 'failed');
  // The customer closes KG Inicis's window.
  await page.getByRole('button', { name: '결제하기' }).click();
  await windowFrame(page).getByRole('link', { name: '취소' }).click();
  const closed = await waitRsp(page, 2);
  assert.equal(closed.success, false, JSON.stringify(closed));
  const after = await fake.ledger();
  assert.equal(after.slice(before).filter((e) => e.kind === 'approval').length, 0, 'nothing approved');
  await context.close();
});

test('an approval URL outside KG Inicis\'s hosts is never called; a wrong authSignature is net-cancelled', async () => {
  const m = await paymentMerchant();
  await fake.faults({ auth_url_outside: true });
  try {
    const { page, context } = await newPage(chrome.browser);
    const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed003_0.js' }));
    assert.equal(rsp.success, false, JSON.stringify(rsp));
    assert.equal((await paymentOf(m, 'order_no_0001')).status, 'failed');
    await context.close();
  } finally {
    await fake.faults({});
  }
  const calls = await (await fetch(fake.base + '/__fake/calls')).json();
  const approvalsBefore = calls['/api/payAuth'] ?? 0;
  const m2 = await paymentMerchant();
  await fake.faults({ wrong_auth_signature: true });
  try {
    const { page, context } = await newPage(chrome.browser);
    const rsp = await payInOverlay(page, payUrl(m2, { snippet: 'seed003_0.js' }));
    assert.equal(rsp.success, false, JSON.stringify(rsp));
    await context.close();
  } finally {
    await fake.faults({});
  }
  const after = await (await fetch(fake.base + '/__fake/calls')).json();
  assert.equal(after['/api/payAuth'], approvalsBefore + 1);
  const ledger = await fake.ledger();
  assert.equal(ledger.at(-1).kind, 'net_cancel', 'the approval was net-cancelled');
  assert.equal((await paymentOf(m2, 'order_no_0001')).status, 'failed');
});
