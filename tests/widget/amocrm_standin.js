/*
 * A stand-in for the few parts of amoCRM's widget SDK that widget/script.js calls, and no more:
 * define and require (AMD: script.js, and the modules it loads from the widget's folder), the AMOCRM
 * globals, and a widget base with $authorizedAjax, system(), get_settings(), i18n(), params.path and
 * list_selected(). The test writes window.STANDIN before this file loads:
 *   {token, settings, area, card_id, account_id, i18n, selected}
 * amoCRM's internal merge requests (/ajax/merge/…) are answered by the test's Python stand-in
 * (tests/widget/amocrm_merge.py) on the page's own origin, as amoCRM answers them.
 * $authorizedAjax sends the token minted by the Python test in X-Auth-Token, as amoCRM's does,
 * and answers in jQuery's manner (.done(body) / .fail(xhr)). window.standinCalls logs each call
 * with its status once it has ended, and window.standinWarnings what the widget warned about,
 * so a test can wait for either.
 */
(function () {
  'use strict';
  var config = window.STANDIN;
  var consoleWarn = window.console.warn;
  window.standinCalls = [];
  window.standinWarnings = [];
  // the widget's only way to report trouble; kept in the page so a test can wait for it
  window.console.warn = function () {
    window.standinWarnings.push(Array.prototype.map.call(arguments, String).join(' '));
    return consoleWarn.apply(window.console, arguments);
  };
  window.AMOCRM = {
    data: {current_card: {id: config.card_id}},
    constant: function (name) {
      return name === 'account' ? {id: config.account_id, subdomain: 'test'} : undefined;
    }
  };

  function authorizedAjax(options) {
    var log = {method: options.type || options.method || 'GET', url: options.url, status: null};
    var onDone = [];
    var onFail = [];
    var request = {
      done: function (fn) { onDone.push(fn); return request; },
      fail: function (fn) { onFail.push(fn); return request; }
    };
    var headers = {'X-Auth-Token': config.token};
    if (options.contentType) {
      headers['Content-Type'] = options.contentType;
    }
    window.standinCalls.push(log);
    fetch(options.url, {method: log.method, headers: headers, body: options.data}).then(function (response) {
      return response.text().then(function (text) {
        log.status = response.status;
        if (response.ok) {
          var body = JSON.parse(text);
          onDone.forEach(function (fn) { fn(body, 'success', {status: response.status}); });
        } else {
          onFail.forEach(function (fn) { fn({status: response.status, responseText: text}); });
        }
      });
    }, function (error) {
      log.status = 0; // as jQuery reports a request that never got an answer
      onFail.forEach(function (fn) { fn({status: 0, responseText: String(error)}); });
    });
    return request;
  }

  var base = {
    $authorizedAjax: authorizedAjax,
    system: function () {
      return {area: config.area, subdomain: 'test', amouser_id: '504141'};
    },
    get_settings: function () { return config.settings; },
    i18n: function (section) { return config.i18n[section]; },
    params: {path: '/widget'},
    // amoCRM's list selection: {count_selected, selected: [{id, emails, phones, type}]}
    list_selected: function () {
      var selected = config.selected || [];
      return {count_selected: selected.length, selected: selected};
    }
  };
  var modules = {}; // AMD modules by the URL they were loaded from
  var waiting = {};

  // require([url], ok, fail) as amoCRM's require.js loads a widget's own files
  window.require = function (urls, ok, fail) {
    var url = urls[0];
    if (modules[url]) {
      ok(modules[url]);
      return;
    }
    (waiting[url] = waiting[url] || []).push(ok);
    if (waiting[url].length > 1) {
      return;
    }
    var tag = document.createElement('script');
    tag.src = url;
    tag.onerror = function () { if (fail) { fail(new Error('cannot load ' + url)); } };
    document.head.appendChild(tag);
  };

  function noJquery() {
    throw new Error('the stand-in has no jQuery: script.js should not need it');
  }

  // amoCRM loads script.js with its own require.js; one module is all the stand-in must take
  window.define = function (deps, factory) {
    var src = document.currentScript ? new URL(document.currentScript.src).pathname : '';
    if (src !== '/widget/script.js') { // a module the widget required
      modules[src] = factory();
      (waiting[src] || []).forEach(function (ok) { ok(modules[src]); });
      return;
    }
    var CustomWidget = factory(noJquery);
    CustomWidget.prototype = base;
    var widget = new CustomWidget();
    window.widget = widget;
    // amoCRM's order in a card: render, then init, then bind_actions
    window.standinResults = ['render', 'init', 'bind_actions'].map(function (name) {
      return widget.callbacks[name]();
    });
  };
})();
