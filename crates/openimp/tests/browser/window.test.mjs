// IMP.request_pay against openimp in real Chromium: every seed snippet, PC and mobile, then the
// Payment and the billing key over the REST API and a charge on the key issued in the window.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import {
  startServer, startMerchantSite, launch, newMerchant, newPage, fillCard, windowFrame, waitRsp,
  snippet, screenshots, repo, bin,
} from './harness.mjs';
import { execFileSync } from 'node:child_process';

let server, site, chrome;

before(async () => {
  server = await startServer();
  site = await startMerchantSite(server.base);
  chrome = await launch();
});

after(async () => {
  await chrome?.close();
  site?.stop();
  server?.stop();
});

function payUrl(merchant, params) {
  const q = new URLSearchParams({ code: merchant.imp_code, ...params });
  return `${site.base}/pay?${q}`;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(screenshots, name + '.png') });
}

/** Opens a merchant page, presses 결제하기, fills the overlay, submits; returns the rsp. */
async function payInOverlay(page, url, card = {}, name) {
  await page.goto(url);
  await page.getByRole('button', { name: '결제하기' }).click();
  const frame = windowFrame(page);
  await fillCard(frame, card);
  if (name) await shot(page, name);
  await frame.getByRole('button', { name: /결제|등록/ }).click();
  return waitRsp(page);
}

async function paymentOf(merchant, merchantUid) {
  const found = await merchant.api('GET', `/payments/find/${encodeURIComponent(merchantUid)}`);
  assert.equal(found.code, 0, JSON.stringify(found));
  return found.response;
}

/** The key works: GET /subscribe/customers/{uid}, then POST /subscribe/payments/again. */
async function chargeAgain(merchant, customerUid, merchantUid = 'order_id_8237352') {
  const key = await merchant.api('GET', `/subscribe/customers/${encodeURIComponent(customerUid)}`);
  assert.equal(key.code, 0, JSON.stringify(key));
  assert.match(key.response.card_number, /^\d{6}\*+\d$/);
  const again = await merchant.api('POST', '/subscribe/payments/again', {
    name: 'your-service-name', customer_uid: customerUid, merchant_uid: merchantUid, amount: 3000,
  });
  assert.equal(again.code, 0, JSON.stringify(again));
  assert.equal(again.response.status, 'paid');
  assert.equal(again.response.amount, 3000);
  assert.equal(again.response.customer_uid_usage, 'payment');
  assert.match(again.response.imp_uid, /^imps_\d{12}$/);
}

function checkIssue(payment, { channel, pg }) {
  assert.equal(payment.customer_uid_usage, 'issue');
  assert.equal(payment.status, 'paid');
  assert.equal(payment.amount, 0, 'nothing is charged when a key is issued');
  assert.equal(payment.channel, channel);
  assert.equal(payment.pg_provider, pg);
  assert.match(payment.imp_uid, /^imp_\d{12}$/);
}

test('seed 000 (KG이니시스 결제창 빌링키), PC: callback, issue record, again', async () => {
  const m = await newMerchant(server);
  const { page, alerts, context } = await newPage(chrome.browser);
  const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed000_0.js' }), {}, 'window-billing-pc');
  if (process.env.OPENIMP_UPDATE_DOC_SCREENSHOT) {
    copyFileSync(path.join(screenshots, 'window-billing-pc.png'), path.join(repo, 'docs/img/window.png'));
  }
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.deepEqual(alerts, ['빌링키 발급 성공']);
  assert.equal(rsp.merchant_uid, 'order_monthly_0001');
  const payment = await paymentOf(m, 'order_monthly_0001');
  assert.equal(payment.imp_uid, rsp.imp_uid);
  checkIssue(payment, { channel: 'pc', pg: 'html5_inicis' });
  assert.equal(payment.pg_id, 'INIBillTst');
  assert.equal(payment.buyer_email, 'iamport@siot.do');
  await chargeAgain(m, 'your-customer-unique-id');
  assert.equal(await page.locator('iframe').count(), 0, 'the overlay is gone');
  await context.close();
});

test('seed 000, mobile: KG Inicis billing calls back on mobile too', async () => {
  const m = await newMerchant(server);
  const { page, alerts, context } = await newPage(chrome.browser, { mobile: true });
  const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed000_0.js' }), {}, 'window-billing-mobile');
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.deepEqual(alerts, ['빌링키 발급 성공']);
  checkIssue(await paymentOf(m, 'order_monthly_0001'), { channel: 'mobile', pg: 'html5_inicis' });
  await chargeAgain(m, 'your-customer-unique-id');
  await context.close();
});

test('seed 001 (KICC 빌링), PC: callback on the kicc channel', async () => {
  const m = await newMerchant(server);
  const { page, alerts, context } = await newPage(chrome.browser);
  const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed001_0.js' }));
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.deepEqual(alerts, ['빌링키 발급 성공']);
  checkIssue(await paymentOf(m, 'order_monthly_0001'), { channel: 'pc', pg: 'kicc' });
  await chargeAgain(m, 'your-customer-unique-id');
  await context.close();
});

test('seed 001, mobile: KICC redirects to m_redirect_url', async () => {
  const m = await newMerchant(server);
  const { page, alerts, context, external } = await newPage(chrome.browser, { mobile: true });
  await page.goto(payUrl(m, { snippet: 'seed001_0.js' }));
  await page.getByRole('button', { name: '결제하기' }).click();
  await page.waitForURL(/\/window\/win_/);
  await fillCard(page);
  await shot(page, 'window-kicc-mobile-redirect');
  await page.getByRole('button', { name: /등록/ }).click();
  await page.waitForURL(/yourservice\.com\/mobile\/billing\/landing/);
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('imp_success'), 'true');
  assert.equal(url.searchParams.get('merchant_uid'), 'order_monthly_0001');
  assert.match(url.searchParams.get('imp_uid'), /^imp_\d{12}$/);
  assert.deepEqual(alerts, [], 'no callback on a redirect');
  assert.ok(external.every((u) => u.startsWith('https://yourservice.com/')), external.join());
  const payment = await paymentOf(m, 'order_monthly_0001');
  assert.equal(payment.imp_uid, url.searchParams.get('imp_uid'));
  checkIssue(payment, { channel: 'mobile', pg: 'kicc' });
  await chargeAgain(m, 'your-customer-unique-id');
  await context.close();
});

test('seed 002 (비인증 결제 연동), PC', async () => {
  const m = await newMerchant(server);
  const { page, alerts, context } = await newPage(chrome.browser);
  const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed002_0.js' }));
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.deepEqual(alerts, ['빌링키 발급 성공']);
  assert.match(rsp.merchant_uid, /^merchant_\d+$/);
  checkIssue(await paymentOf(m, rsp.merchant_uid), { channel: 'pc', pg: 'html5_inicis' });
  await chargeAgain(m, 'your-customer-unique-id');
  await context.close();
});

test('seed 003 인증결제창 (card payment), PC: paid, imp_ id, channel pc', async () => {
  const m = await newMerchant(server);
  const { page, context } = await newPage(chrome.browser);
  const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed003_0.js' }), {}, 'window-payment-pc');
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.equal(rsp.paid_amount, 1004);
  const p = await paymentOf(m, 'order_no_0001');
  assert.equal(p.status, 'paid');
  assert.equal(p.amount, 1004);
  assert.equal(p.channel, 'pc');
  assert.equal(p.pay_method, 'card');
  assert.equal(p.customer_uid_usage, null);
  assert.match(p.imp_uid, /^imp_\d{12}$/);
  assert.equal(p.buyer_addr, '서울특별시 강남구 삼성동');
  // The merchant_uid is now paid: a second window for it is refused before it opens.
  await page.getByRole('button', { name: '결제하기' }).click();
  const second = await waitRsp(page, 2);
  assert.equal(second.success, false);
  assert.match(second.error_msg, /merchant_uid/);
  assert.equal(await page.locator('iframe').count(), 0);
  await context.close();
});

test('seed 003 인증결제창, mobile: redirect to the (relative) m_redirect_url', async () => {
  const m = await newMerchant(server);
  const { page, context } = await newPage(chrome.browser, { mobile: true });
  await page.goto(payUrl(m, { snippet: 'seed003_0.js' }));
  await page.getByRole('button', { name: '결제하기' }).click();
  await page.waitForURL(/\/window\/win_/);
  await fillCard(page);
  await shot(page, 'window-payment-mobile');
  await page.getByRole('button', { name: /결제/ }).click();
  await page.waitForURL((u) => u.toString().startsWith(site.base) && u.searchParams.has('imp_uid'));
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('imp_success'), 'true');
  const p = await paymentOf(m, 'order_no_0001');
  assert.equal(p.imp_uid, url.searchParams.get('imp_uid'));
  assert.equal(p.channel, 'mobile');
  assert.equal(p.status, 'paid');
  await context.close();
});

test('seed 003 비인증 결제창 and seed 004 (placeholders as written), PC and mobile', async () => {
  for (const [file, mobile, customerUid] of [
    ['seed003_1.js', false, 'your-customer-unique-id'],
    ['seed004_0.js', false, '{Unique ID for the card (billing key)}'],
    ['seed004_0.js', true, '{Unique ID for the card (billing key)}'],
  ]) {
    const m = await newMerchant(server);
    const { page, alerts, context } = await newPage(chrome.browser, { mobile });
    const rsp = await payInOverlay(page, payUrl(m, { snippet: file }));
    assert.equal(rsp.success, true, `${file}: ${JSON.stringify(rsp)}`);
    assert.equal(alerts.length, 1);
    assert.match(alerts[0], /성공|Success/);
    checkIssue(await paymentOf(m, rsp.merchant_uid), { channel: mobile ? 'mobile' : 'pc', pg: 'html5_inicis' });
    await chargeAgain(m, customerUid);
    await context.close();
  }
});

test('legacy script name /js/iamport.payment-1.2.0.js works the same', async () => {
  const m = await newMerchant(server);
  const { page, context } = await newPage(chrome.browser);
  const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed002_0.js', sdk: '/js/iamport.payment-1.2.0.js' }));
  assert.equal(rsp.success, true);
  await context.close();
});

test('declined card: the callback fails and the payment is failed', async () => {
  const m = await newMerchant(server);
  const { page, context } = await newPage(chrome.browser);
  const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed003_0.js' }), { number: '4092-0230-1234-0002' });
  assert.equal(rsp.success, false);
  assert.equal(rsp.error_code, '51');
  assert.match(rsp.error_msg, /잔액부족/);
  const p = (await m.api('GET', `/payments/${rsp.imp_uid}`)).response;
  assert.equal(p.status, 'failed');
  assert.equal(p.paid_at, 0);
  await context.close();
});

test('billing key refused (card ending 0005): seed callback says 실패, no key', async () => {
  const m = await newMerchant(server);
  const { page, alerts, context } = await newPage(chrome.browser);
  const rsp = await payInOverlay(page, payUrl(m, { snippet: 'seed000_0.js' }), { number: '4092-0230-1234-0005' });
  assert.equal(rsp.success, false);
  assert.deepEqual(alerts, ['빌링키 발급 실패']);
  assert.match(rsp.error_msg, /카드정보 인증에 실패/);
  const key = await m.api('GET', '/subscribe/customers/your-customer-unique-id');
  assert.equal(key.status, 404);
  await context.close();
});

test('form mistakes are shown in the window and can be corrected', async () => {
  const m = await newMerchant(server);
  const { page, context } = await newPage(chrome.browser);
  await page.goto(payUrl(m, { snippet: 'seed003_0.js' }));
  await page.getByRole('button', { name: '결제하기' }).click();
  const frame = windowFrame(page);
  await fillCard(frame, { number: '1234' });
  await frame.getByRole('button', { name: /결제/ }).click();
  await frame.getByRole('alert').waitFor();
  assert.match(await frame.getByRole('alert').innerText(), /카드번호/);
  await fillCard(frame);
  await frame.getByRole('button', { name: /결제/ }).click();
  const rsp = await waitRsp(page);
  assert.equal(rsp.success, true);
  await context.close();
});

test('closed window: failure callback, payment not paid (PC and mobile redirect)', async () => {
  const m = await newMerchant(server);
  const { page, alerts, context } = await newPage(chrome.browser);
  await page.goto(payUrl(m, { snippet: 'seed000_0.js' }));
  await page.getByRole('button', { name: '결제하기' }).click();
  await windowFrame(page).getByRole('button', { name: '닫기' }).click();
  const rsp = await waitRsp(page);
  assert.equal(rsp.success, false);
  assert.equal(rsp.error_msg, '사용자가 결제를 취소하셨습니다');
  assert.deepEqual(alerts, ['빌링키 발급 실패']);
  const p = (await m.api('GET', `/payments/${rsp.imp_uid}`)).response;
  assert.equal(p.status, 'failed');
  assert.equal((await m.api('GET', '/subscribe/customers/your-customer-unique-id')).status, 404);
  await context.close();

  const mobile = await newPage(chrome.browser, { mobile: true });
  await mobile.page.goto(payUrl(m, { snippet: 'seed003_0.js' }));
  await mobile.page.getByRole('button', { name: '결제하기' }).click();
  await mobile.page.waitForURL(/\/window\/win_/);
  await mobile.page.getByRole('button', { name: '닫기' }).click();
  await mobile.page.waitForURL((u) => u.searchParams.has('imp_success'));
  const url = new URL(mobile.page.url());
  assert.equal(url.searchParams.get('imp_success'), 'false');
  assert.equal(url.searchParams.get('error_msg'), '사용자가 결제를 취소하셨습니다');
  const closed = await paymentOf(m, 'order_no_0001');
  assert.equal(closed.status, 'failed', 'not paid');
  assert.equal(closed.imp_uid, url.searchParams.get('imp_uid'));
  await mobile.context.close();
});

test('bad params: the window does not open and the callback gets an error', async () => {
  const m = await newMerchant(server);
  const { page, context } = await newPage(chrome.browser);
  const cases = [
    ["IMP.request_pay({pg:'html5_inicis', pay_method:'card', merchant_uid:'o1', amount:'1004', buyer_tel:'010'}, function(){});", /amount/],
    ["IMP.request_pay({pg:'html5_inicis', pay_method:'card', merchant_uid:12345, amount:1004, buyer_tel:'010'}, function(){});", /merchant_uid/],
    ["IMP.request_pay({pg:'html5_inicis', pay_method:'card', merchant_uid:'o1', amount:0, buyer_tel:'010'}, function(){});", /amount/],
    // KG Inicis requires buyer_tel (seed 003: 필수).
    ["IMP.request_pay({pg:'html5_inicis', pay_method:'card', merchant_uid:'o1', amount:1004}, function(){});", /buyer_tel/],
  ];
  for (const [i, [inline, message]] of cases.entries()) {
    await page.goto(payUrl(m, { inline }));
    await page.getByRole('button', { name: '결제하기' }).click();
    const rsp = await waitRsp(page);
    assert.equal(rsp.success, false, `case ${i}`);
    assert.match(rsp.error_msg, message, `case ${i}`);
    assert.equal(await page.locator('iframe').count(), 0, `case ${i}`);
  }
  await context.close();
});

test('prepared amount enforced before the window opens', async () => {
  const m = await newMerchant(server);
  const prepared = await m.api('POST', '/payments/prepare', { merchant_uid: 'order_no_0001', amount: 2000 });
  assert.equal(prepared.code, 0);
  const { page, context } = await newPage(chrome.browser);
  await page.goto(payUrl(m, { snippet: 'seed003_0.js' }));
  await page.getByRole('button', { name: '결제하기' }).click();
  const rsp = await waitRsp(page);
  assert.equal(rsp.success, false);
  assert.match(rsp.error_msg, /사전등록/);
  assert.equal(await page.locator('iframe').count(), 0);
  await context.close();
});

const ORDER = "pg:'html5_inicis', pay_method:'card', merchant_uid:'order_quota_1', name:'할부 테스트', amount:60000, buyer_tel:'010-1234-5678', custom_data:{plan:'gold', n:3}, notice_url:'http://127.0.0.1:9/webhook',";

test('seed 003 부가기능: card_quota, card.direct, card.detail', async () => {
  const m = await newMerchant(server);
  const { page, context } = await newPage(chrome.browser);
  // display.card_quota: [6] → 일시불 or 6개월.
  await page.goto(payUrl(m, { inline: `IMP.request_pay({${ORDER}\n${snippet('seed003_2.js')}}, function(){});` }));
  await page.getByRole('button', { name: '결제하기' }).click();
  let frame = windowFrame(page);
  const quota = frame.getByLabel('할부');
  await quota.waitFor();
  assert.deepEqual(await quota.locator('option').allInnerTexts(), ['일시불 (Lump sum)', '6개월']);
  await fillCard(frame);
  await quota.selectOption({ label: '6개월' });
  await shot(page, 'window-instalments');
  await frame.getByRole('button', { name: /결제/ }).click();
  let rsp = await waitRsp(page);
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  let p = (await m.api('GET', `/payments/${rsp.imp_uid}`)).response;
  assert.equal(p.card_quota, 6);
  assert.equal(p.custom_data, '{"plan":"gold","n":3}', 'custom_data kept as a JSON string');
  assert.deepEqual(rsp.custom_data, { plan: 'gold', n: 3 });

  // card.direct: 현대카드 (367), 3개월; a card of another company is refused in the window.
  const direct = ORDER.replace('order_quota_1', 'order_direct_1');
  await page.goto(payUrl(m, { inline: `IMP.request_pay({${direct}\n${snippet('seed003_3.js')}}, function(){});` }));
  await page.getByRole('button', { name: '결제하기' }).click();
  frame = windowFrame(page);
  await frame.getByText('현대카드').waitFor();
  await frame.getByText('3개월').waitFor();
  await fillCard(frame, { number: '4092-0630-1234-5678' });
  await frame.getByRole('button', { name: /결제/ }).click();
  assert.match(await frame.getByRole('alert').innerText(), /현대카드/);
  await fillCard(frame, { number: '4092-0230-1234-5678' });
  await frame.getByRole('button', { name: /결제/ }).click();
  rsp = await waitRsp(page);
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  p = (await m.api('GET', `/payments/${rsp.imp_uid}`)).response;
  assert.equal(p.card_code, '367');
  assert.equal(p.card_quota, 3);

  // card.detail: only 신한카드 (366) enabled.
  const detail = ORDER.replace('order_quota_1', 'order_detail_1');
  await page.goto(payUrl(m, { inline: `IMP.request_pay({${detail}\n${snippet('seed003_4.js')}}, function(){});` }));
  await page.getByRole('button', { name: '결제하기' }).click();
  frame = windowFrame(page);
  await frame.getByLabel('카드사').waitFor();
  assert.deepEqual(await frame.getByLabel('카드사').locator('option').allInnerTexts(),
    ['카드번호로 자동 선택 (detect from number)', '신한카드']);
  await fillCard(frame, { number: '4092-0630-1234-5678' });
  await frame.getByRole('button', { name: /결제/ }).click();
  rsp = await waitRsp(page);
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.equal(rsp.card_name, '신한카드');
  await context.close();
});

test('security: CSRF token required, a used window cannot be replayed, framing limited', async () => {
  const m = await newMerchant(server);
  const origin = site.base;
  const open = await fetch(server.base + '/window/sessions', {
    method: 'POST', headers: { 'Content-Type': 'application/json', Origin: origin },
    body: JSON.stringify({ imp_code: m.imp_code, params: { merchant_uid: 'sec_1', amount: 1000, pay_method: 'card', buyer_tel: '010-1234-5678' } }),
  });
  assert.equal(open.headers.get('access-control-allow-origin'), origin);
  const id = (await open.json()).response.id;
  const page = await fetch(`${server.base}/window/${id}`);
  assert.match(page.headers.get('content-security-policy'), new RegExp(`frame-ancestors ${origin}`));
  const csrf = (await page.text()).match(/name="csrf" value="([0-9a-f]+)"/)[1];
  const form = (token) => new URLSearchParams({ csrf: token, card_number: '4092-0230-1234-5678', expiry: '12/30', birth: '820213', pwd_2digit: '00' });
  const forged = await fetch(`${server.base}/window/${id}`, { method: 'POST', body: form('00'.repeat(16)) });
  assert.equal(forged.status, 400);
  const ok = await fetch(`${server.base}/window/${id}`, { method: 'POST', body: form(csrf) });
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /postMessage\(m,"http:\/\/127\.0\.0\.1:\d+"\)/);
  const replay = await fetch(`${server.base}/window/${id}`, { method: 'POST', body: form(csrf) });
  assert.equal(replay.status, 409);
  const ledger = await m.api('GET', '/payments/find/sec_1');
  assert.equal(ledger.response.status, 'paid');
});

// ---- Pay methods other than card (issue 5): trans, vbank + deposit, phone, easy pay ----

/** The sandbox PG's ledger approval for a payment (the oracle of what was charged). */
function ledgerApproval(impUid) {
  const out = execFileSync(bin, ['sandbox', 'ledger', '--json', '--data-dir', server.dataDir], { encoding: 'utf8' });
  const entries = JSON.parse(out.trim().split('\n').pop());
  return entries.filter((e) => e.order_id === impUid && String(e.kind).toLowerCase() === 'approval');
}

function requestPay(params) {
  return `IMP.request_pay(${JSON.stringify(params)}, function (rsp) {});`;
}

/** Opens the overlay for an inline request_pay; returns the window frame. */
async function openOverlay(page, m, params) {
  await page.goto(payUrl(m, { inline: requestPay(params) }));
  await page.getByRole('button', { name: '결제하기' }).click();
  return windowFrame(page);
}

async function webhooksOf(m, impUid) {
  const r = await m.api('GET', `/webhooks?imp_uid=${encodeURIComponent(impUid)}`);
  assert.equal(r.code, 0, JSON.stringify(r));
  return r.response.list.map((w) => w.status).sort();
}

test('trans (실시간 계좌이체), PC: bank list, paid with bank_code/bank_name, ledger, cancel', async () => {
  const m = await newMerchant(server);
  const { page, context } = await newPage(chrome.browser);
  const frame = await openOverlay(page, m, {
    pg: 'html5_inicis', pay_method: 'trans', merchant_uid: 'order_trans_0001', name: '계좌이체 테스트',
    amount: 15000, buyer_name: '홍길동', buyer_tel: '010-1234-5678',
  });
  await frame.locator('#bank_code').waitFor();
  const banks = await frame.locator('#bank_code option').allTextContents();
  for (const bank of ['국민은행', '신한은행', '우리은행', '하나은행', '농협은행', '기업은행']) {
    assert.ok(banks.includes(bank), `${bank} in ${banks.join()}`);
  }
  // No bank chosen: the page says so and can be corrected.
  await frame.locator('#bank_code').evaluate((el) => el.removeAttribute('required'));
  await frame.getByRole('button', { name: /계좌이체 결제하기/ }).click();
  await frame.getByText('은행을 선택하세요').waitFor();
  await frame.getByLabel('출금 은행').selectOption({ label: '신한은행' });
  await shot(page, 'window-trans-pc');
  await frame.getByRole('button', { name: /계좌이체 결제하기/ }).click();
  const rsp = await waitRsp(page);
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.equal(rsp.status, 'paid');
  assert.equal(rsp.pay_method, 'trans');
  assert.equal(rsp.bank_name, '신한은행');
  assert.equal(rsp.paid_amount, 15000);
  const p = await paymentOf(m, 'order_trans_0001');
  assert.equal(p.imp_uid, rsp.imp_uid);
  assert.equal(p.status, 'paid');
  assert.equal(p.pay_method, 'trans');
  assert.equal(p.channel, 'pc');
  assert.equal(p.bank_code, '088');
  assert.equal(p.bank_name, '신한은행');
  assert.equal(p.card_number, null);
  assert.equal(p.card_name, null);
  assert.ok(p.paid_at > 0);
  const approvals = ledgerApproval(p.imp_uid);
  assert.equal(approvals.length, 1);
  assert.equal(approvals[0].amount, 15000);
  assert.equal(approvals[0].tid, p.pg_tid);
  const cancel = await m.api('POST', '/payments/cancel', { imp_uid: p.imp_uid, reason: '테스트 취소' });
  assert.equal(cancel.code, 0, JSON.stringify(cancel));
  assert.equal(cancel.response.status, 'cancelled');
  assert.equal(cancel.response.cancel_amount, 15000);
  await context.close();
});

test('vbank (가상계좌), PC: issued ready (webhook ready), deposit over REST → paid (webhook paid), refund', async () => {
  const m = await newMerchant(server);
  const other = await newMerchant(server);
  const { page, context } = await newPage(chrome.browser);
  const frame = await openOverlay(page, m, {
    pg: 'html5_inicis', pay_method: 'vbank', merchant_uid: 'order_vbank_0001', name: '가상계좌 테스트',
    amount: 23000, buyer_name: '홍길동', buyer_tel: '010-1234-5678', vbank_due: '20301231180000', notice_url: `${site.base}/webhook`,
  });
  await frame.getByLabel('입금 은행').selectOption({ label: '국민은행' });
  await frame.getByLabel('입금자명').fill('홍길동');
  await shot(page, 'window-vbank-pc');
  await frame.getByRole('button', { name: /가상계좌 발급/ }).click();
  const rsp = await waitRsp(page);
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.equal(rsp.status, 'ready');
  assert.equal(rsp.pay_method, 'vbank');
  assert.equal(rsp.vbank_name, '국민은행');
  assert.match(rsp.vbank_num, /^\d{10,}$/);
  assert.equal(rsp.vbank_date, Date.UTC(2030, 11, 31, 9, 0, 0) / 1000, '18:00 KST');
  let p = await paymentOf(m, 'order_vbank_0001');
  assert.equal(p.status, 'ready');
  assert.equal(p.vbank_code, '004');
  assert.equal(p.vbank_name, '국민은행');
  assert.equal(p.vbank_num, rsp.vbank_num);
  assert.equal(p.vbank_holder, '홍길동');
  assert.equal(p.vbank_date, rsp.vbank_date);
  assert.ok(p.vbank_issued_at > 0);
  assert.equal(p.paid_at, 0);
  assert.equal(ledgerApproval(p.imp_uid).length, 0, 'nothing approved before the deposit');
  assert.deepEqual(await webhooksOf(m, p.imp_uid), ['ready']);
  // The merchant_uid is live while the account is open.
  await page.getByRole('button', { name: '결제하기' }).click();
  const second = await waitRsp(page, 2);
  assert.equal(second.success, false);
  assert.match(second.error_msg, /merchant_uid/);
  // Deposits: another merchant's token gets a 404; the owner's moves it to paid, once.
  const foreign = await other.api('POST', `/sandbox/vbank/${p.imp_uid}/deposit`);
  assert.equal(foreign.status, 404, JSON.stringify(foreign));
  const deposit = await m.api('POST', `/sandbox/vbank/${p.imp_uid}/deposit`);
  assert.equal(deposit.code, 0, JSON.stringify(deposit));
  assert.equal(deposit.response.status, 'paid');
  p = (await m.api('GET', `/payments/${p.imp_uid}`)).response;
  assert.equal(p.status, 'paid');
  assert.ok(p.paid_at > 0);
  assert.equal(p.vbank_num, rsp.vbank_num);
  const approvals = ledgerApproval(p.imp_uid);
  assert.equal(approvals.length, 1);
  assert.equal(approvals[0].amount, 23000);
  assert.deepEqual(await webhooksOf(m, p.imp_uid), ['paid', 'ready']);
  const again = await m.api('POST', `/sandbox/vbank/${p.imp_uid}/deposit`);
  assert.notEqual(again.code, 0);
  assert.match(again.message, /입금 대기 중인 가상계좌가 아닙니다/);
  // Both webhooks reach the notice_url.
  for (let i = 0; i < 100 && site.posts.filter((x) => x.path === '/webhook' && x.body.includes(p.imp_uid)).length < 2; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const bodies = site.posts.filter((x) => x.path === '/webhook' && x.body.includes(p.imp_uid)).map((x) => x.body);
  assert.ok(bodies.some((b) => b.includes('ready')) && bodies.some((b) => b.includes('paid')), bodies.join());
  const refund = await m.api('POST', '/payments/cancel', {
    imp_uid: p.imp_uid, reason: '환불', refund_holder: '홍길동', refund_bank: '004', refund_account: '12345678901234',
  });
  assert.equal(refund.code, 0, JSON.stringify(refund));
  assert.equal(refund.response.status, 'cancelled');
  await context.close();
});

test('vbank, mobile: m_redirect_url gets imp_success=true, CLI deposit pays it', async () => {
  const m = await newMerchant(server);
  const { page, context, alerts } = await newPage(chrome.browser, { mobile: true });
  await page.goto(payUrl(m, { inline: requestPay({
    pg: 'kicc', pay_method: 'vbank', merchant_uid: 'order_vbank_m_0001', name: '모바일 가상계좌',
    amount: 9900, buyer_name: '김철수', m_redirect_url: `${site.base}/complete`,
  }) }));
  await page.getByRole('button', { name: '결제하기' }).click();
  await page.waitForURL(/\/window\/win_/);
  await page.getByLabel('입금 은행').selectOption({ label: '우리은행' });
  assert.equal(await page.getByLabel('입금자명').inputValue(), '김철수', 'buyer_name prefilled');
  await shot(page, 'window-vbank-mobile');
  await page.getByRole('button', { name: /가상계좌 발급/ }).click();
  await page.waitForURL((u) => u.toString().startsWith(`${site.base}/complete`));
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('imp_success'), 'true');
  assert.equal(url.searchParams.get('merchant_uid'), 'order_vbank_m_0001');
  assert.deepEqual(alerts, []);
  const impUid = url.searchParams.get('imp_uid');
  let p = (await m.api('GET', `/payments/${impUid}`)).response;
  assert.equal(p.status, 'ready');
  assert.equal(p.channel, 'mobile');
  assert.equal(p.vbank_name, '우리은행');
  const now = Date.now() / 1000;
  assert.ok(Math.abs(p.vbank_date - (now + 3 * 86400)) < 120, 'default deadline: 3 days');
  const out = execFileSync(bin, ['sandbox', 'deposit', impUid, '--data-dir', server.dataDir], { encoding: 'utf8' });
  assert.match(out, /paid/);
  p = (await m.api('GET', `/payments/${impUid}`)).response;
  assert.equal(p.status, 'paid');
  assert.equal(ledgerApproval(impUid)[0].amount, 9900);
  await context.close();
});

test('phone (휴대폰 소액결제), PC: carrier and number → paid; deposit refused on it', async () => {
  const m = await newMerchant(server);
  const { page, context } = await newPage(chrome.browser);
  const frame = await openOverlay(page, m, {
    pg: 'html5_inicis', pay_method: 'phone', merchant_uid: 'order_phone_0001', name: '휴대폰 결제', amount: 5000,
    buyer_tel: '010-1234-5678', digital: true,
  });
  await frame.locator('#carrier').waitFor();
  const carriers = await frame.locator('#carrier option').allTextContents();
  for (const c of ['SKT', 'KT', 'LGU+']) assert.ok(carriers.includes(c), carriers.join());
  await frame.getByLabel('통신사').selectOption('KT');
  await frame.getByLabel('휴대폰 번호').fill('12345');
  await frame.getByRole('button', { name: /결제하기/ }).click();
  await frame.getByText('휴대폰 번호를 확인하세요').waitFor();
  await frame.getByLabel('통신사').selectOption('KT');
  await frame.getByLabel('휴대폰 번호').fill('010-9876-5432');
  await shot(page, 'window-phone-pc');
  await frame.getByRole('button', { name: /결제하기/ }).click();
  const rsp = await waitRsp(page);
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  const p = await paymentOf(m, 'order_phone_0001');
  assert.equal(p.status, 'paid');
  assert.equal(p.pay_method, 'phone');
  assert.equal(p.amount, 5000);
  assert.equal(ledgerApproval(p.imp_uid)[0].amount, 5000);
  const deposit = await m.api('POST', `/sandbox/vbank/${p.imp_uid}/deposit`);
  assert.notEqual(deposit.code, 0);
  assert.match(deposit.message, /가상계좌 결제가 아닙니다/);
  await context.close();
});

test('kakaopay (easy pay) on html5_inicis, PC: approval page → paid, emb_pg_provider', async () => {
  const m = await newMerchant(server);
  const { page, context } = await newPage(chrome.browser);
  const frame = await openOverlay(page, m, {
    pg: 'html5_inicis', pay_method: 'kakaopay', merchant_uid: 'order_kakao_0001', name: '카카오페이 테스트', amount: 12000,
    buyer_tel: '010-1234-5678',
  });
  await shot(page, 'window-kakaopay-pc');
  await frame.getByRole('button', { name: /카카오페이로 결제/ }).click();
  const rsp = await waitRsp(page);
  assert.equal(rsp.success, true, JSON.stringify(rsp));
  assert.equal(rsp.emb_pg_provider, 'kakaopay');
  const p = await paymentOf(m, 'order_kakao_0001');
  assert.equal(p.status, 'paid');
  assert.equal(p.pay_method, 'kakaopay');
  assert.equal(p.pg_provider, 'html5_inicis');
  assert.equal(p.emb_pg_provider, 'kakaopay');
  assert.equal(p.card_number, null);
  assert.equal(ledgerApproval(p.imp_uid)[0].amount, 12000);
  const cancel = await m.api('POST', '/payments/cancel', { imp_uid: p.imp_uid, amount: 2000, reason: '부분취소' });
  assert.equal(cancel.code, 0, JSON.stringify(cancel));
  assert.equal(cancel.response.status, 'paid');
  assert.equal(cancel.response.cancel_amount, 2000);
  await context.close();
});
