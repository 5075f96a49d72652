/*! openimp browser SDK: the i'mport (PortOne V1) `IMP` object, served by openimp.
 * IMP.init(code); IMP.request_pay(params, callback). The payment window is openimp's hosted
 * page; on a PC it opens as an overlay (iframe) and the callback receives the `rsp` object; on a
 * mobile browser with m_redirect_url (PGs that redirect) the page goes to the window and comes
 * back on m_redirect_url?imp_uid=..&merchant_uid=..&imp_success=true|false. The result in the
 * callback is for display: confirm it on your server with GET /payments/{imp_uid}. */
(function (global) {
  'use strict';
  if (global.IMP && global.IMP.__openimp) return;
  var script = document.currentScript;
  var src = script && script.src ? script.src : '';
  var base = src.replace(/\/(v1\/iamport\.js|js\/iamport\.payment-[^/]*\.js)(\?.*)?$/, '');
  var baseOrigin = '';
  try { baseOrigin = new URL(base || global.location.href).origin; } catch (e) { baseOrigin = ''; }
  var state = { userCode: null, tierCode: null, open: false };

  function isMobile() {
    return /Mobi|Android|iPhone|iPad|iPod|Windows Phone|Opera Mini|IEMobile/i.test(global.navigator.userAgent || '');
  }

  function later(callback, rsp) {
    if (typeof callback === 'function') {
      global.setTimeout(function () { callback(rsp); }, 0);
    }
  }

  function failure(callback, params, code, message) {
    later(callback, {
      success: false,
      imp_success: false,
      imp_uid: null,
      merchant_uid: params && typeof params === 'object' ? params.merchant_uid : undefined,
      error_code: code,
      error_msg: message
    });
  }

  function overlay(url, sessionId, callback) {
    var shade = document.createElement('div');
    shade.setAttribute('data-openimp-window', sessionId);
    shade.style.cssText = 'position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.55);' +
      'display:flex;align-items:center;justify-content:center;';
    var frame = document.createElement('iframe');
    frame.src = url;
    frame.title = '결제창 (Payment window)';
    frame.name = 'openimp_window';
    frame.style.cssText = 'width:min(440px,100vw);height:min(820px,96vh);border:0;border-radius:10px;' +
      'background:#fff;box-shadow:0 10px 40px rgba(0,0,0,.35);';
    shade.appendChild(frame);
    function onMessage(event) {
      if (event.origin !== baseOrigin || event.source !== frame.contentWindow) return;
      var data = event.data;
      if (!data || data.type !== 'openimp:result' || data.session !== sessionId) return;
      global.removeEventListener('message', onMessage);
      if (shade.parentNode) shade.parentNode.removeChild(shade);
      state.open = false;
      later(callback, data.rsp);
    }
    global.addEventListener('message', onMessage);
    (document.body || document.documentElement).appendChild(shade);
    frame.focus();
  }

  function requestPay(params, callback) {
    if (!state.userCode) {
      return failure(callback, params, 'F400', 'IMP.init(가맹점 식별코드)을 먼저 호출해주세요. (call IMP.init first)');
    }
    if (!params || typeof params !== 'object') {
      return failure(callback, params, 'F400', '결제 파라미터가 올바르지 않습니다. (params must be an object)');
    }
    if (typeof params.amount !== 'number' || !isFinite(params.amount)) {
      return failure(callback, params, 'F400', 'amount 파라미터는 숫자(number)여야 합니다. (amount must be a number)');
    }
    if (typeof params.merchant_uid !== 'string') {
      return failure(callback, params, 'F400', 'merchant_uid 파라미터는 문자열(string)이어야 합니다. (merchant_uid must be a string)');
    }
    if (state.open) {
      return failure(callback, params, 'F400', '이미 결제창이 열려 있습니다. (a payment window is already open)');
    }
    var request = {};
    for (var key in params) {
      if (Object.prototype.hasOwnProperty.call(params, key)) request[key] = params[key];
    }
    if (request.custom_data !== undefined && request.custom_data !== null && typeof request.custom_data !== 'string') {
      // Stored as the page wrote it: a JSON string (key order kept).
      request.custom_data = JSON.stringify(request.custom_data);
    }
    if (typeof request.m_redirect_url === 'string' && request.m_redirect_url) {
      try { request.m_redirect_url = new URL(request.m_redirect_url, global.location.href).href; } catch (e) { /* the server says why */ }
    }
    state.open = true;
    var body = JSON.stringify({ imp_code: state.userCode, tier_code: state.tierCode, params: request, mobile: isMobile() });
    global.fetch(base + '/window/sessions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      credentials: 'omit',
      body: body
    }).then(function (response) {
      return response.json();
    }).then(function (envelope) {
      if (!envelope || envelope.code !== 0 || !envelope.response) {
        state.open = false;
        return failure(callback, params, 'F400', (envelope && envelope.message) || '결제창을 열 수 없습니다. (cannot open the payment window)');
      }
      var session = envelope.response;
      var url = base + '/window/' + encodeURIComponent(session.id);
      if (session.mode === 'redirect') {
        global.location.href = url;
      } else {
        overlay(url, session.id, callback);
      }
    }, function (error) {
      state.open = false;
      failure(callback, params, 'F400', '결제 서버에 연결할 수 없습니다. (cannot reach openimp) ' + (error && error.message ? error.message : ''));
    });
  }

  global.IMP = {
    __openimp: true,
    init: function (userCode) { state.userCode = userCode; },
    agency: function (userCode, tierCode) { state.userCode = userCode; state.tierCode = tierCode; },
    request_pay: requestPay,
    certification: function (params, callback) {
      failure(callback, params, 'F400', '본인인증은 openimp에서 지원하지 않습니다. (IMP.certification is not supported)');
    }
  };
})(window);
