/*
 * crm-dedup widget for amoCRM cards (locations ccard, comcard, lcard) and lists (clist, llist).
 *
 * A saved contact or company card: ask the service for the record's duplicates
 * (GET /v1/{entity}/{id}/duplicates) and frame the card in red with a short list of them.
 * A deal card: the same for the contacts linked to the deal.
 * A card being filled in (a new contact, or a new one added to a deal): watch the phone and
 * email inputs and ask POST /v1/{entity}/check; a match shows "use the existing contact" and keeps
 * the card's Save disabled until the user chooses ("create anyway" becomes a pending not-duplicate).
 * A list: rows ticked, then the widget picked in the selection menu (contacts.selected /
 * companies.selected): the service's groups among them (POST /v1/{entity}/groups:among), merged by hand
 * (the merge window) or automatically (safe groups only). A card: "…" by a duplicate -> "Объединить
 * дубли" -> the record that stays -> merged. Every merge happens in amoCRM through widget/amo_merge.js
 * (the one file that knows amoCRM's internal merge request), in the user's own session, then is
 * reported to the service (POST /v1/groups/{id}/merged), which keeps what it takes to undo it.
 *
 * Every call goes through self.$authorizedAjax, which adds amoCRM's one-time token in the
 * X-Auth-Token header (a JWT signed HS256 with the integration's secret; api/deps.py checks it).
 * Nothing here may break the CRM page: a failed call or an unexpected page leaves a console
 * warning and draws nothing. The DOM is built with DOM APIs and textContent (names come from
 * the CRM's users, so never as HTML).
 */
define(['jquery'], function () {
  'use strict';

  var PREFIX = 'crm-dedup';
  // the card's body in amoCRM's interface, most specific first
  var CARD_SELECTORS = ['#card_holder', '.card-holder', '.card-entity-form'];
  // amoCRM names a card's custom-field inputs CFV[field_id][…]; phones and emails are among them
  var INPUT_SELECTOR = 'input[name^="CFV["], input[type="tel"], input[type="email"]';
  var CONTACT_LINK = /\/contacts\/detail\/(\d+)/;
  var ENTITY_OF_AREA = {ccard: 'contacts', comcard: 'companies', lcard: 'leads'};
  var DETAIL_PATH = {contacts: '/contacts/detail/', companies: '/companies/detail/'};
  var SHOWN_MATCHES = 5;
  var SHOWN_OTHER_DEALS = 5;
  var MAX_SELECTED = 1000; // what POST groups:among takes at once
  var MAX_GROUPS_SHOWN = 200;
  var MAX_TYPED = 20;
  var DEFAULT_RUN_CAP = 50;
  // the card's Save in amoCRM's interface (UNVERIFIED class names), then any submit button of its form
  var SAVE_SELECTORS = ['.card-top-save-button', '.js-card-save-button', 'button[type="submit"]'];
  var LINKED_CONTACTS_CHECKED = 3; // a deal rarely has more; each costs one request
  var TYPING_PAUSE_MS = 400;
  var TIMEOUT_MS = 8000;
  var PHONE_DIGITS_MIN = 10; // a Russian number without its country code; fewer digits: still being typed
  var PHONE = /^[\d\s()+.\-]+$/;
  var EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
  // https only, as amoCRM pages are https; plain http is for a service on this machine
  var SERVICE_URL = /^(https:\/\/[^\s\/]+|http:\/\/(localhost|127\.0\.0\.1)(:\d+)?)(\/[^\s]*)?$/;
  var RED = '#e53935';
  var STYLE = [
    '.' + PREFIX + '-frame{outline:3px solid ' + RED + ' !important;outline-offset:-3px}',
    '.' + PREFIX + '-panel,.' + PREFIX + '-prompt{border:1px solid ' + RED + ';background:#fff5f5;color:#212121;' +
      'border-radius:3px;padding:8px 12px;margin:8px;font-size:13px;line-height:1.5}',
    '.' + PREFIX + '-title{font-weight:bold;color:#c62828}',
    '.' + PREFIX + '-hint{color:#555}',
    '.' + PREFIX + '-list{margin:4px 0 0;padding-left:18px}',
    '.' + PREFIX + '-list span{margin-left:8px;color:#555}',
    '.' + PREFIX + '-error{color:#c62828;margin-top:4px}',
    '.' + PREFIX + '-name-frame{outline:2px solid ' + RED + ';outline-offset:1px;border-radius:2px}',
    '.' + PREFIX + '-overlay{position:fixed;inset:0;background:rgba(33,33,33,.45);z-index:10000;display:flex;' +
      'align-items:flex-start;justify-content:center;padding-top:40px}',
    '.' + PREFIX + '-modal{background:#fff;color:#212121;min-width:420px;max-width:760px;max-height:80vh;overflow:auto;' +
      'border-radius:4px;box-shadow:0 4px 24px rgba(0,0,0,.3);font-size:13px;line-height:1.5}',
    '.' + PREFIX + '-modal-head{display:flex;justify-content:space-between;padding:12px 16px;border-bottom:1px solid #e0e0e0}',
    '.' + PREFIX + '-modal-body{padding:12px 16px}',
    '.' + PREFIX + '-modal table{border-collapse:collapse;width:100%;margin:8px 0}',
    '.' + PREFIX + '-modal td,.' + PREFIX + '-modal th{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;' +
      'vertical-align:top}',
    '.' + PREFIX + '-modal button,.' + PREFIX + '-prompt button,.' + PREFIX + '-panel button{margin:4px 6px 4px 0;' +
      'padding:3px 10px;border:1px solid #8591a5;border-radius:3px;background:#fff;cursor:pointer}',
    '.' + PREFIX + '-modal button:disabled{opacity:.5;cursor:default}',
    '.' + PREFIX + '-merge-start,.' + PREFIX + '-auto-merge,.' + PREFIX + '-create-anyway{background:#4c8bf7 !important;' +
      'color:#fff;border-color:#4c8bf7 !important}',
    '.' + PREFIX + '-reasons{color:#c62828;font-size:12px}',
    '.' + PREFIX + '-message{padding:6px 8px;margin-bottom:8px;border-radius:3px;background:#f1f5fb}',
    '.' + PREFIX + '-message.' + PREFIX + '-error{background:#fdecea;color:#b71c1c}',
    '.' + PREFIX + '-progress{margin:8px 0}',
    '.' + PREFIX + '-bar{height:6px;background:#4c8bf7;width:0;transition:width .2s}',
    '.' + PREFIX + '-menu{position:absolute;background:#fff;border:1px solid #ccc;box-shadow:0 2px 8px rgba(0,0,0,.2);' +
      'z-index:100;padding:4px}',
    '.' + PREFIX + '-blocked{opacity:.5}',
    '.' + PREFIX + '-multi td{color:#555}'
  ].join('\n');

  var CustomWidget = function () {
    var self = this;
    var state = {seq: 0, lastQuery: '', timer: null, container: null, onInput: null, access: null, adapter: null,
                 run: null, saveBlocked: false, createdAnyway: '', form: null};

    function warn(what, detail) {
      if (window.console && typeof window.console.warn === 'function') {
        window.console.warn('[crm-dedup] ' + what, detail === undefined ? '' : detail);
      }
    }

    // a text of the i18n file's "dedup" section with {placeholders} filled in; the key itself if missing
    function t(key, values) {
      var texts = (typeof self.i18n === 'function' && self.i18n('dedup')) || {};
      var text = typeof texts[key] === 'string' ? texts[key] : key;
      return text.replace(/\{(\w+)\}/g, function (whole, name) {
        return values && values[name] !== undefined ? String(values[name]) : whole;
      });
    }

    function el(tag, name, text) {
      var node = document.createElement(tag);
      if (name) {
        node.className = PREFIX + '-' + name;
      }
      if (text !== undefined) {
        node.textContent = text;
      }
      return node;
    }

    function serviceBase() {
      var settings = (typeof self.get_settings === 'function' && self.get_settings()) || {};
      return String(settings.service_url || '').trim().replace(/\/+$/, '');
    }

    function area() {
      var system = (typeof self.system === 'function' && self.system()) || {};
      return system.area || '';
    }

    function cardId() {
      var amo = window.AMOCRM;
      var card = amo && amo.data && amo.data.current_card;
      var id = card && card.id ? String(card.id) : '';
      return id === '0' ? '' : id; // a card being created has no id yet (0)
    }

    function findContainer() {
      for (var i = 0; i < CARD_SELECTORS.length; i += 1) {
        var found = document.querySelector(CARD_SELECTORS[i]);
        if (found) {
          return found;
        }
      }
      return null;
    }

    function ensureStyle() {
      if (!document.getElementById(PREFIX + '-style')) {
        var style = el('style');
        style.id = PREFIX + '-style';
        style.textContent = STYLE;
        document.head.appendChild(style);
      }
    }

    // one service call; `onAnswer` gets the parsed body, `onEnd` runs after success and failure alike
    function call(method, path, body, onAnswer, onEnd) {
      var finish = function () {
        if (onEnd) {
          onEnd();
        }
      };
      var base = serviceBase();
      if (!base || typeof self.$authorizedAjax !== 'function') {
        warn(base ? '$authorizedAjax is not available' : 'the service address is not set in the widget settings');
        finish();
        return;
      }
      var options = {url: base + path, type: method, dataType: 'json', timeout: TIMEOUT_MS};
      if (body) {
        options.contentType = 'application/json';
        options.data = JSON.stringify(body);
      }
      try {
        self.$authorizedAjax(options).done(function (answer) {
          try {
            onAnswer(answer);
          } catch (err) {
            warn('could not show the answer of ' + method + ' ' + path, err);
          }
          finish();
        }).fail(function (xhr) {
          warn(method + ' ' + path + ' failed with status ' + (xhr && xhr.status), xhr && xhr.responseText);
          finish();
        });
      } catch (err) {
        warn(method + ' ' + path + ' could not be sent', err);
        finish();
      }
    }

    // the stored records behind the first matches (name, phone), then done(shown, records by id)
    function describe(entity, matches, done) {
      var shown = matches.slice(0, SHOWN_MATCHES);
      var records = {};
      var pending = shown.length;
      if (!pending) {
        done(shown, records);
        return;
      }
      shown.forEach(function (match) {
        call('GET', '/v1/' + entity + '/' + encodeURIComponent(match.record_id), null, function (record) {
          records[match.record_id] = record;
        }, function () {
          pending -= 1;
          if (pending === 0) {
            done(shown, records);
          }
        });
      });
    }

    function percent(probability) {
      var value = Math.floor(Number(probability) * 100); // 0.9999 is 99%, never a certain-looking 100%
      return isFinite(value) ? Math.max(0, Math.min(99, value)) : 0;
    }

    function matchItem(entity, match, record) {
      var item = el('li', 'match');
      item.setAttribute('data-record-id', match.record_id);
      var name = record && record.name ? record.name : t('no_name', {id: match.record_id});
      var link = el('a', 'link', name);
      link.setAttribute('href', DETAIL_PATH[entity] + encodeURIComponent(match.record_id));
      item.appendChild(link);
      var contact = record && ((record.phones || [])[0] || (record.emails || [])[0]);
      if (contact) {
        item.appendChild(el('span', 'contact', contact));
      }
      item.appendChild(el('span', 'score', t('score', {percent: percent(match.match_probability)})));
      if (match.via) {
        item.appendChild(el('span', 'via', t('via_contact', {id: match.via})));
      }
      return item;
    }

    function removeAll(selector) {
      var nodes = document.querySelectorAll(selector);
      for (var i = 0; i < nodes.length; i += 1) {
        if (nodes[i].parentNode) {
          nodes[i].parentNode.removeChild(nodes[i]);
        }
      }
    }

    function clearFrame() {
      removeAll('.' + PREFIX + '-panel');
      var framed = document.querySelectorAll('.' + PREFIX + '-frame');
      for (var i = 0; i < framed.length; i += 1) {
        framed[i].classList.remove(PREFIX + '-frame');
      }
    }

    // the red frame round the card and the list of its duplicates at the top of it
    function showFrame(container, entity, total, shown, records) {
      clearFrame();
      ensureStyle();
      container.classList.add(PREFIX + '-frame');
      var panel = el('div', 'panel');
      panel.setAttribute('role', 'alert');
      panel.appendChild(el('div', 'title', t('frame_title', {count: total})));
      panel.appendChild(el('div', 'hint', t('frame_hint')));
      var list = el('ul', 'list');
      shown.forEach(function (match) {
        list.appendChild(matchItem(entity, match, records[match.record_id]));
      });
      panel.appendChild(list);
      container.insertBefore(panel, container.firstChild);
    }

    function frameWhenFound(container, entity, matches, seq, linked) {
      if (!matches.length) {
        return;
      }
      describe(entity, matches, function (shown, records) {
        if (seq !== state.seq) {
          return; // a later render has taken over
        }
        showFrame(container, entity, matches.length, shown, records);
        if (linked) { // a deal card: each linked contact with duplicates
          linked.forEach(function (contactId) { markLinkedContact(container, contactId, seq); });
        } else {
          var title = container.querySelector('.' + PREFIX + '-panel .' + PREFIX + '-title');
          if (title) {
            offerMerge(title, entity, cardId(), seq);
          }
        }
      });
    }

    function showCardDuplicates(container, entity, id) {
      var seq = (state.seq += 1);
      call('GET', '/v1/' + entity + '/' + encodeURIComponent(id) + '/duplicates', null, function (answer) {
        frameWhenFound(container, entity, (answer && answer.matches) || [], seq);
      });
    }

    // a deal card: the duplicates of the contacts linked to it (their names link to their cards)
    function showLinkedContactsDuplicates(container) {
      var seq = (state.seq += 1);
      var linked = [];
      var links = container.querySelectorAll('a[href*="/contacts/detail/"]');
      for (var i = 0; i < links.length && linked.length < LINKED_CONTACTS_CHECKED; i += 1) {
        var found = CONTACT_LINK.exec(links[i].getAttribute('href') || '');
        if (found && linked.indexOf(found[1]) < 0 && !links[i].closest('.' + PREFIX + '-panel')) {
          linked.push(found[1]);
        }
      }
      var best = {};
      var withDuplicates = [];
      var pending = linked.length;
      linked.forEach(function (contactId) {
        call('GET', '/v1/contacts/' + contactId + '/duplicates', null, function (answer) {
          ((answer && answer.matches) || []).forEach(function (match) {
            if (withDuplicates.indexOf(contactId) < 0) {
              withDuplicates.push(contactId);
            }
            var known = best[match.record_id];
            if (linked.indexOf(match.record_id) < 0 &&
                (!known || known.match_probability < match.match_probability)) {
              best[match.record_id] = {record_id: match.record_id, match_probability: match.match_probability,
                                       via: contactId};
            }
          });
        }, function () {
          pending -= 1;
          if (pending === 0) {
            var matches = Object.keys(best).map(function (key) { return best[key]; });
            matches.sort(function (a, b) { return b.match_probability - a.match_probability; });
            frameWhenFound(container, 'contacts', matches, seq, withDuplicates);
          }
        });
      });
    }

    function render() {
      if (area() === 'clist' || area() === 'llist') {
        renderList();
        return;
      }
      var container = findContainer();
      var entity = ENTITY_OF_AREA[area()];
      if (!container || !entity) {
        return; // not a card this widget knows: stay out of the way
      }
      state.container = container;
      if (entity === 'leads') {
        showLinkedContactsDuplicates(container);
      } else if (cardId()) {
        showCardDuplicates(container, entity, cardId());
      }
    }

    // -- the create form: "this phone already exists" -------------------------------------------

    function kindOf(value) {
      var text = String(value || '').trim();
      if (EMAIL.test(text)) {
        return 'email';
      }
      if (PHONE.test(text) && text.replace(/\D/g, '').length >= PHONE_DIGITS_MIN) {
        return 'phone';
      }
      return '';
    }

    function typedRecord(scope) {
      var record = {phones: [], emails: []};
      var inputs = scope.querySelectorAll(INPUT_SELECTOR);
      for (var i = 0; i < inputs.length; i += 1) {
        var value = String(inputs[i].value || '').trim();
        var kind = kindOf(value);
        if (kind && record[kind + 's'].indexOf(value) < 0) {
          record[kind + 's'].push(value);
        }
      }
      return record;
    }

    function removePrompt() {
      removeAll('.' + PREFIX + '-prompt');
      if (state.saveBlocked) {
        blockSave(false);
      }
    }

    function showPrompt(input, entity, kind, shown, records, matches, typed) {
      removePrompt();
      ensureStyle();
      var prompt = el('div', 'prompt');
      prompt.setAttribute('role', 'alert');
      prompt.appendChild(el('div', 'title', kind === 'email' ? t('prompt_email') : t('prompt_phone')));
      prompt.appendChild(el('div', 'hint', entity === 'companies' ? t('prompt_use_existing_company')
                                                                   : t('prompt_use_existing')));
      var list = el('ul', 'list');
      shown.forEach(function (match) {
        list.appendChild(matchItem(entity, match, records[match.record_id]));
      });
      prompt.appendChild(list);
      var first = shown[0];
      prompt.appendChild(button(entity === 'companies' ? t('use_existing_company') : t('use_existing'), 'use-existing',
                                function () {
        removePrompt();
        window.location.assign(DETAIL_PATH[entity] + encodeURIComponent(first.record_id));
      }));
      prompt.appendChild(button(t('create_anyway'), 'create-anyway', function () {
        createAnyway(entity, matches, typed);
      }));
      prompt.appendChild(el('div', 'blocked-note', t('save_blocked')));
      var row = input.parentNode;
      if (row && row.parentNode) {
        row.parentNode.insertBefore(prompt, row.nextSibling);
      } else if (state.container) {
        state.container.insertBefore(prompt, state.container.firstChild);
      }
      if (!cardId() || area() === 'lcard') { // a record being created: Save waits for the choice
        blockSave(true);
      }
    }

    function checkTyped(input) {
      var entity = area() === 'comcard' ? 'companies' : 'contacts';
      var scope = input.closest('form') || state.container || document;
      var record = typedRecord(scope);
      var query = JSON.stringify(record);
      if (query === state.lastQuery) {
        return;
      }
      state.lastQuery = query;
      var seq = (state.seq += 1);
      if (!record.phones.length && !record.emails.length) {
        removePrompt();
        return;
      }
      if (cardId() && area() !== 'lcard') {
        record.id = cardId(); // keeps the record being edited out of its own answer
      }
      call('POST', '/v1/' + entity + '/check', record, function (answer) {
        var matches = (answer && answer.matches) || [];
        if (seq !== state.seq) {
          return; // typing went on; a newer check is on its way
        }
        if (!matches.length || query === state.createdAnyway) {
          removePrompt();
          return;
        }
        describe(entity, matches, function (shown, records) {
          if (seq === state.seq) {
            showPrompt(input, entity, kindOf(input.value) || 'phone', shown, records, matches,
                       {phones: record.phones, emails: record.emails});
          }
        });
      });
    }

    function watchInputs() {
      var container = state.container || findContainer();
      if (!container || !ENTITY_OF_AREA[area()] || state.onInput) {
        return;
      }
      state.container = container;
      state.onInput = function (event) {
        var input = event.target;
        if (!input || typeof input.matches !== 'function' || !input.matches(INPUT_SELECTOR)) {
          return;
        }
        window.clearTimeout(state.timer);
        state.timer = window.setTimeout(function () {
          try {
            checkTyped(input);
          } catch (err) {
            warn('the check of the typed phone or email failed', err);
          }
        }, TYPING_PAUSE_MS);
      };
      container.addEventListener('input', state.onInput, true);
      state.form = container.closest('form') || container;
      state.form.addEventListener('submit', guardSubmit, true);
    }

    // -- acting on duplicates: the service's verdict on who may, the merge adapter, dialogs ------------

    function ask(method, path, body) {
      return new Promise(function (resolve, reject) {
        var base = serviceBase();
        if (!base || typeof self.$authorizedAjax !== 'function') {
          warn(base ? '$authorizedAjax is not available' : 'the service address is not set in the widget settings');
          reject({status: 0, responseText: 'not configured'});
          return;
        }
        var options = {url: base + path, type: method, dataType: 'json', timeout: TIMEOUT_MS};
        if (body) {
          options.contentType = 'application/json';
          options.data = JSON.stringify(body);
        }
        try {
          self.$authorizedAjax(options).done(function (answer) { resolve(answer); }).fail(function (xhr) {
            warn(method + ' ' + path + ' failed with status ' + (xhr && xhr.status), xhr && xhr.responseText);
            reject(xhr || {status: 0});
          });
        } catch (err) {
          warn(method + ' ' + path + ' could not be sent', err);
          reject({status: 0, responseText: String(err)});
        }
      });
    }

    // the problem+json detail of a refused call, for the user to read
    function problemDetail(xhr) {
      try {
        var body = JSON.parse((xhr && xhr.responseText) || '');
        if (body && typeof body.detail === 'string') {
          return body.detail.slice(0, 300);
        }
      } catch (err) { /* not JSON: say the status */ }
      return t('failed_status', {status: xhr && xhr.status});
    }

    // GET /v1/widget/settings once per page: may this user search and merge, the sound, the run cap
    function access() {
      if (!state.access) {
        state.access = ask('GET', '/v1/widget/settings').catch(function () {
          return {allowed: false, sound: false, run_cap: DEFAULT_RUN_CAP, entities: ['contacts', 'companies']};
        });
      }
      return state.access;
    }

    // widget/amo_merge.js, loaded from the widget's own folder the way amoCRM widgets load their files
    function adapter() {
      if (!state.adapter) {
        state.adapter = new Promise(function (resolve, reject) {
          var path = (self.params && self.params.path) || '';
          if (typeof window.require !== 'function' || !path) {
            reject(new Error('require or the widget path is not available'));
            return;
          }
          window.require([path + '/amo_merge.js'], resolve, reject);
        });
      }
      return state.adapter;
    }

    function beep() {
      try {
        var Context = window.AudioContext || window.webkitAudioContext;
        if (!Context) {
          return;
        }
        var audio = new Context();
        var tone = audio.createOscillator();
        tone.frequency.value = 880;
        tone.connect(audio.destination);
        tone.start();
        tone.stop(audio.currentTime + 0.15);
      } catch (err) { /* a page that may not play sound: stay silent */ }
    }

    function button(text, name, onClick) {
      var node = el('button', name || 'button', text);
      node.type = 'button';
      node.addEventListener('click', function (event) {
        event.preventDefault();
        try {
          onClick(event);
        } catch (err) {
          warn('a button of the widget failed', err);
        }
      });
      return node;
    }

    // a dialog over the page (amoCRM's modal look): returns its body; close() takes it away
    function dialog(name, title) {
      ensureStyle();
      var overlay = el('div', 'overlay');
      overlay.setAttribute('data-dialog', name);
      var box = el('div', name);
      box.className += ' ' + PREFIX + '-modal';
      box.setAttribute('role', 'dialog');
      var head = el('div', 'modal-head');
      head.appendChild(el('div', 'title', title));
      head.appendChild(button('×', 'close', function () { overlay.parentNode && overlay.parentNode.removeChild(overlay); }));
      box.appendChild(head);
      var body = el('div', 'modal-body');
      box.appendChild(body);
      overlay.appendChild(box);
      document.body.appendChild(overlay);
      return {body: body, close: function () { overlay.parentNode && overlay.parentNode.removeChild(overlay); }};
    }

    function message(into, text, kind) {
      var node = into.querySelector('.' + PREFIX + '-message');
      if (!node) {
        node = el('div', 'message');
        node.setAttribute('role', 'status');
        into.insertBefore(node, into.firstChild);
      }
      node.textContent = text;
      node.className = PREFIX + '-message ' + PREFIX + '-' + (kind || 'info');
    }

    function adapterProblem(result) {
      if (result.reason === 'forbidden') {
        return t('no_delete_rights');
      }
      return t('merge_failed', {status: result.status}) + (result.detail ? ' ' + result.detail : '');
    }

    // one merge in amoCRM (adapter), then its report to the service; resolves {ok} or {ok: false, text}
    function mergeGroup(entity, group, survivorId, choice) {
      var ids = [survivorId].concat(group.record_ids.filter(function (id) { return id !== survivorId; }));
      var absorbed = ids.slice(1);
      return adapter().then(function (amo) {
        return amo.info(entity, ids).then(function (preview) {
          if (!preview.ok) {
            return {ok: false, text: adapterProblem(preview), reason: preview.reason};
          }
          return amo.save(entity, amo.form(entity, survivorId, ids, preview.fields, choice)).then(function (saved) {
            if (!saved.ok) {
              return {ok: false, text: adapterProblem(saved), reason: saved.reason};
            }
            return ask('POST', '/v1/groups/' + encodeURIComponent(group.group_id) + '/merged',
                       {survivor_id: survivorId, absorbed_ids: absorbed}).then(function () {
              return {ok: true};
            }, function (xhr) {
              // amoCRM merged (queued) but the service did not take the report: say so, it cannot be undone here
              return {ok: false, text: t('report_failed') + ' ' + problemDetail(xhr), reason: 'report'};
            });
          });
        });
      }, function (err) {
        warn('the merge adapter could not be loaded', err);
        return {ok: false, text: t('merge_failed', {status: 0}), reason: 'failed'};
      });
    }

    function groupLabel(group) {
      return group.record_ids.map(function (id, i) {
        return (group.names[i] || t('no_name', {id: id})) + (id === group.survivor_id ? ' ★' : '');
      }).join(', ');
    }

    // -- the merge window (manual merge): amoCRM's window, shaped as the native one ------------------

    function cellText(values) {
      return values.map(function (value) {
        return value && typeof value === 'object' ? String(value.VALUE || '') : String(value);
      }).join(', ');
    }

    function fieldLabel(row) {
      var labels = {name: t('field_name'), responsible: t('field_responsible'), company: t('field_company'),
                    leads: t('field_leads'), tags: t('field_tags')};
      return labels[row.kind] || t('field_custom', {id: row.fieldId});
    }

    function openMergeWindow(entity, group, onMerged) {
      var win = dialog('merge', t('merge_window_title'));
      message(win.body, t('loading'));
      var ids = group.record_ids.slice();
      var names = {};
      ids.forEach(function (id, i) { names[id] = group.names[i] || t('no_name', {id: id}); });
      adapter().then(function (amo) {
        return amo.info(entity, ids).then(function (preview) {
          if (!preview.ok) {
            message(win.body, adapterProblem(preview), 'error');
            return;
          }
          message(win.body, t('merge_window_hint'));
          var table = el('table', 'merge-table');
          var head = el('tr');
          head.appendChild(el('th', null, ''));
          var survivor = {id: group.merge_plan.survivor_id || group.survivor_id};
          ids.forEach(function (id) {
            var th = el('th');
            var label = el('label');
            var radio = el('input');
            radio.type = 'radio';
            radio.name = 'crm-dedup-survivor';
            radio.value = id;
            radio.checked = id === survivor.id;
            radio.addEventListener('change', function () { survivor.id = id; });
            label.appendChild(radio);
            label.appendChild(document.createTextNode(' ' + names[id]));
            th.appendChild(label);
            head.appendChild(th);
          });
          table.appendChild(head);
          var choice = {};
          amo.rows(preview.fields).forEach(function (row) {
            var tr = el('tr');
            tr.setAttribute('data-field', row.key);
            tr.appendChild(el('td', 'field-name', fieldLabel(row)));
            var first = null;
            [survivor.id].concat(ids).some(function (id) {
              if ((row.byRecord[id] || []).length) {
                first = id;
                return true;
              }
              return false;
            });
            ids.forEach(function (id) {
              var td = el('td');
              var values = row.byRecord[id] || [];
              if (!row.multi && values.length) {
                var radio = el('input');
                radio.type = 'radio';
                radio.name = 'crm-dedup-' + row.key;
                radio.value = id;
                radio.checked = id === first;
                radio.addEventListener('change', function () { choice[row.key] = id; });
                td.appendChild(radio);
              }
              td.appendChild(document.createTextNode(' ' + cellText(values)));
              tr.appendChild(td);
            });
            if (row.multi) {
              tr.className = PREFIX + '-multi';
              tr.title = t('all_kept');
            }
            table.appendChild(tr);
          });
          win.body.appendChild(table);
          var actions = el('div', 'actions');
          var start = button(t('merge_start'), 'merge-start', function () {
            start.disabled = true;
            message(win.body, t('merging'));
            mergeGroup(entity, group, survivor.id, choice).then(function (result) {
              if (result.ok) {
                win.close();
                onMerged(survivor.id);
              } else {
                start.disabled = result.reason === 'forbidden';
                message(win.body, result.text, 'error');
              }
            });
          });
          start.className += ' js-merge-start';
          actions.appendChild(start);
          actions.appendChild(button(t('cancel'), 'cancel', win.close));
          win.body.appendChild(actions);
        });
      }, function (err) {
        warn('the merge adapter could not be loaded', err);
        message(win.body, t('merge_failed', {status: 0}), 'error');
      });
    }

    // -- the list view: groups among the selected records, manual and automatic merge ------------------

    function selectedIds(entity) {
      var chosen = (typeof self.list_selected === 'function' && self.list_selected()) || {};
      var type = entity === 'companies' ? 'company' : 'contact';
      var ids = [];
      (chosen.selected || []).forEach(function (item) {
        var id = item && item.id !== undefined ? String(item.id) : '';
        if (id && (!item.type || item.type === type || item.type === entity) && ids.indexOf(id) < 0) {
          ids.push(id);
        }
      });
      return ids.slice(0, MAX_SELECTED);
    }

    function openList(entity, ids) {
      var view = dialog('list', t('list_title'));
      view.body.setAttribute('data-entity', entity);
      message(view.body, t('searching'));
      access().then(function (who) {
        if (!who.allowed) {
          message(view.body, t('not_allowed'), 'error');
          return;
        }
        if (who.entities && who.entities.indexOf(entity) < 0) {
          message(view.body, entity === 'companies' ? t('companies_off') : t('contacts_off'), 'error');
          return;
        }
        searchAmong(view, entity, ids, who);
      });
      return view;
    }

    function searchAmong(view, entity, ids, who) {
      var run = state.run;
      if (run) {
        run.stopped = true; // a new search ends a run still going in an older view
      }
      ask('POST', '/v1/' + entity + '/groups:among', ids ? {record_ids: ids, limit: MAX_GROUPS_SHOWN}
                                                         : {limit: MAX_GROUPS_SHOWN}).then(function (answer) {
        showGroups(view, entity, ids, answer, who);
      }, function (xhr) {
        message(view.body, xhr && xhr.status === 403 ? t('not_allowed') : problemDetail(xhr), 'error');
      });
    }

    function showGroups(view, entity, ids, answer, who) {
      var body = view.body;
      while (body.firstChild) {
        body.removeChild(body.firstChild);
      }
      var groups = answer.groups || [];
      var safe = groups.filter(function (g) { return g.safe; });
      var cap = Math.max(1, Number(who.run_cap) || DEFAULT_RUN_CAP);
      message(body, (groups.length ? t('found', {groups: answer.count, records: answer.records}) : t('found_none')) +
                    (answer.truncated ? ' ' + t('truncated', {count: answer.count}) : ''));
      var summary = el('div', 'summary', ids ? t('among_selected', {count: ids.length}) : t('among_all'));
      summary.setAttribute('data-count', String(answer.count));
      body.appendChild(summary);
      var actions = el('div', 'actions');
      actions.appendChild(button(t('search_all'), 'search-all', function () { searchAmong(view, entity, null, who); }));
      var auto = button(t('auto_merge', {count: Math.min(cap, safe.length)}), 'auto-merge', function () {
        autoMerge(view, entity, safe.slice(0, cap), groups.length - safe.length, who);
      });
      auto.disabled = !safe.length;
      actions.appendChild(auto);
      actions.appendChild(button(t('recent_merges'), 'recent', function () { showMerges(view, entity); }));
      body.appendChild(actions);
      body.appendChild(el('div', 'hint', t('auto_hint', {threshold: percent(answer.auto_merge_threshold), cap: cap})));
      var table = el('table', 'groups');
      groups.forEach(function (group) {
        var tr = el('tr', 'group');
        tr.setAttribute('data-group-id', group.group_id);
        tr.setAttribute('data-safe', String(group.safe));
        tr.appendChild(el('td', 'score', t('score', {percent: percent(group.group_score)})));
        var members = el('td', 'members', groupLabel(group));
        if (group.needs_review) {
          members.appendChild(el('div', 'reasons', t('needs_review') + ': ' + group.review_reasons.join('; ')));
        }
        tr.appendChild(members);
        var cell = el('td', 'group-actions');
        cell.appendChild(button(t('merge_manual'), 'merge-manual', function () {
          openMergeWindow(entity, group, function (survivorId) {
            tr.setAttribute('data-merged', survivorId);
            cell.textContent = t('merged');
            if (who.sound) {
              beep();
            }
          });
        }));
        tr.appendChild(cell);
        table.appendChild(tr);
      });
      body.appendChild(table);
    }

    // every safe group in turn, one merge at a time (amoCRM queues them); pause, stop, a cap per run
    function autoMerge(view, entity, queue, skipped, who) {
      var body = view.body;
      var run = state.run = {paused: false, stopped: false, done: 0, failed: 0, resume: null};
      var box = el('div', 'progress');
      box.setAttribute('role', 'progressbar');
      box.setAttribute('aria-valuemax', String(queue.length));
      var bar = el('div', 'bar');
      box.appendChild(bar);
      var text = el('div', 'progress-text');
      box.appendChild(text);
      var pause = button(t('pause'), 'pause', function () {
        if (run.paused) {
          run.paused = false;
          pause.textContent = t('pause');
          if (run.resume) {
            var resume = run.resume;
            run.resume = null;
            resume();
          }
        } else {
          run.paused = true;
          pause.textContent = t('resume');
        }
      });
      var stop = button(t('stop'), 'stop', function () {
        run.stopped = true;
        if (run.resume) {
          var resume = run.resume;
          run.resume = null;
          resume();
        }
      });
      box.appendChild(pause);
      box.appendChild(stop);
      var old = body.querySelector('.' + PREFIX + '-progress');
      if (old) {
        old.parentNode.removeChild(old);
      }
      body.insertBefore(box, body.querySelector('.' + PREFIX + '-groups'));
      function show() {
        box.setAttribute('aria-valuenow', String(run.done));
        bar.style.width = (queue.length ? Math.round(100 * (run.done + run.failed) / queue.length) : 100) + '%';
        text.textContent = t('progress', {done: run.done, total: queue.length});
      }
      function finish(reason) {
        pause.disabled = true;
        stop.disabled = true;
        box.setAttribute('data-finished', reason);
        var counts = {done: run.done, failed: run.failed, skipped: skipped};
        var text = reason === 'stopped' ? t('auto_stopped', counts) : reason === 'forbidden' ? t('no_delete_rights')
          : t('auto_done', counts);
        message(body, text, reason === 'done' ? 'info' : 'error');
        if (who.sound) {
          beep();
        }
      }
      var index = 0;
      function next() {
        if (run.stopped) {
          finish('stopped');
          return;
        }
        if (run.paused) {
          run.resume = next;
          return;
        }
        if (index >= queue.length) {
          finish('done');
          return;
        }
        var group = queue[index];
        index += 1;
        var row = body.querySelector('tr[data-group-id="' + group.group_id + '"]');
        mergeGroup(entity, group, group.survivor_id, {}).then(function (result) {
          if (result.ok) {
            run.done += 1;
            if (row) {
              row.setAttribute('data-merged', group.survivor_id);
              row.querySelector('.' + PREFIX + '-group-actions').textContent = t('merged');
            }
          } else {
            run.failed += 1;
            if (row) {
              row.setAttribute('data-failed', result.text);
            }
            if (result.reason === 'forbidden') {
              show();
              finish('forbidden'); // no delete rights: every other merge would fail the same way
              return;
            }
          }
          show();
          next();
        });
      }
      show();
      next();
    }

    // the merges kept for undo (GET /v1/merges) with a restore button each
    function showMerges(view, entity) {
      ask('GET', '/v1/merges?entity=' + entity + '&limit=50').then(function (page) {
        var old = view.body.querySelector('.' + PREFIX + '-merges');
        if (old) {
          old.parentNode.removeChild(old);
        }
        var list = el('ul', 'merges');
        (page.items || []).forEach(function (kept) {
          var item = el('li', 'kept');
          item.setAttribute('data-merge-id', kept.merge_id);
          item.appendChild(el('span', 'kept-name', (kept.image && kept.image.name) || t('no_name', {id: kept.record_id})));
          item.appendChild(el('span', 'kept-into', t('merged_into', {id: kept.survivor_id})));
          if (kept.restored_as) {
            item.appendChild(el('span', 'restored', t('restored_as', {id: kept.restored_as})));
          } else {
            item.appendChild(button(t('restore'), 'restore', function () {
              ask('POST', '/v1/merges/' + encodeURIComponent(kept.merge_id) + '/restore').then(function (done) {
                item.removeChild(item.lastChild);
                item.appendChild(el('span', 'restored', t('restored_as', {id: done.restored_as})));
              }, function (xhr) {
                message(view.body, problemDetail(xhr), 'error');
              });
            }));
          }
          list.appendChild(item);
        });
        if (!(page.items || []).length) {
          list.appendChild(el('li', 'kept-none', t('no_merges')));
        }
        view.body.appendChild(list);
      }, function (xhr) {
        message(view.body, problemDetail(xhr), 'error');
      });
    }

    function onSelected(entity) {
      return function () {
        openList(entity, selectedIds(entity));
        return true;
      };
    }

    // a list page: a button for the whole account's search (rows ticked go through the selection menu)
    function renderList() {
      var entity = 'contacts'; // the whole account's contacts, from the contacts or the deals list
      if (document.querySelector('.' + PREFIX + '-list-button')) {
        return;
      }
      ensureStyle();
      var open = button(t('list_button'), 'list-button', function () { openList(entity, null); });
      var place = document.querySelector('.list__top__actions') || document.body;
      place.appendChild(open);
    }

    // -- the card: "…" by a duplicate's name -> "Объединить дубли" -> the record that stays -> merge -----

    function pickSurvivor(entity, group, onMerged) {
      var win = dialog('pick', t('pick_title'));
      var chosen = {id: group.merge_plan.survivor_id || group.survivor_id};
      var list = el('ul', 'pick-list');
      group.record_ids.forEach(function (id, i) {
        var item = el('li');
        var label = el('label');
        var radio = el('input');
        radio.type = 'radio';
        radio.name = 'crm-dedup-stays';
        radio.value = id;
        radio.checked = id === chosen.id;
        radio.addEventListener('change', function () { chosen.id = id; });
        label.appendChild(radio);
        label.appendChild(document.createTextNode(' ' + (group.names[i] || t('no_name', {id: id})) +
                                                  (id === group.survivor_id ? ' — ' + t('plan_survivor') : '')));
        item.appendChild(label);
        list.appendChild(item);
      });
      win.body.appendChild(el('div', 'hint', t('pick_hint')));
      win.body.appendChild(list);
      var actions = el('div', 'actions');
      var start = button(t('merge_start'), 'merge-start', function () {
        start.disabled = true;
        message(win.body, t('merging'));
        mergeGroup(entity, group, chosen.id, {}).then(function (result) {
          if (result.ok) {
            win.close();
            onMerged(chosen.id);
          } else {
            start.disabled = result.reason === 'forbidden';
            message(win.body, result.text, 'error');
          }
        });
      });
      actions.appendChild(start);
      actions.appendChild(button(t('cancel'), 'cancel', win.close));
      win.body.appendChild(actions);
    }

    // the "…" menu next to `anchor` for the group holding record `id`, when this user may merge
    function offerMerge(anchor, entity, id, seq) {
      access().then(function (who) {
        if (!who.allowed || seq !== state.seq) {
          return null;
        }
        return ask('POST', '/v1/' + entity + '/groups:among', {record_ids: [id], limit: 1});
      }).then(function (answer) {
        var group = answer && answer.groups && answer.groups[0];
        if (!group || seq !== state.seq || !anchor.parentNode) {
          return;
        }
        var more = button('…', 'more', function () {
          var menu = anchor.parentNode.querySelector('.' + PREFIX + '-menu');
          if (menu) {
            menu.parentNode.removeChild(menu);
            return;
          }
          menu = el('div', 'menu');
          menu.appendChild(button(t('merge_duplicates'), 'menu-merge', function () {
            menu.parentNode.removeChild(menu);
            pickSurvivor(entity, group, function (survivorId) {
              more.parentNode && more.parentNode.replaceChild(el('span', 'merged-note', t('merged_card', {id: survivorId})), more);
            });
          }));
          more.parentNode.insertBefore(menu, more.nextSibling);
        });
        more.setAttribute('title', t('merge_duplicates'));
        more.setAttribute('data-record-id', id);
        anchor.parentNode.insertBefore(more, anchor.nextSibling);
      }, function () { /* warned already; the card stays as it was */ });
    }

    // a deal card: the duplicate contact's name framed, its "…" menu, and its other deals
    function markLinkedContact(container, contactId, seq) {
      var links = container.querySelectorAll('a[href*="/contacts/detail/' + contactId + '"]');
      var anchor = null;
      for (var i = 0; i < links.length; i += 1) {
        if (!links[i].closest('.' + PREFIX + '-panel') && CONTACT_LINK.exec(links[i].getAttribute('href') || '')[1]
            === contactId) {
          anchor = links[i];
          break;
        }
      }
      if (!anchor) {
        return;
      }
      anchor.classList.add(PREFIX + '-name-frame');
      offerMerge(anchor, 'contacts', contactId, seq);
      ask('GET', '/v1/contacts/' + encodeURIComponent(contactId)).then(function (record) {
        var others = (record.lead_ids || []).filter(function (lead) { return lead !== cardId(); });
        if (!others.length || seq !== state.seq) {
          return;
        }
        var box = el('div', 'other-deals', t('other_deals', {name: record.name || contactId}));
        var list = el('ul', 'list');
        others.slice(0, SHOWN_OTHER_DEALS).forEach(function (lead) {
          var item = el('li');
          var link = el('a', 'link', t('deal', {id: lead}));
          link.setAttribute('href', '/leads/detail/' + encodeURIComponent(lead));
          item.appendChild(link);
          list.appendChild(item);
        });
        box.appendChild(list);
        var panel = container.querySelector('.' + PREFIX + '-panel');
        (panel || container).appendChild(box);
      }, function () { /* warned already */ });
    }

    // -- the create form: keep Save disabled until the user chooses ------------------------------------

    function saveButtons() {
      var scope = (state.container && (state.container.closest('form') || state.container)) || document;
      var found = [];
      SAVE_SELECTORS.forEach(function (selector) {
        var nodes = scope.querySelectorAll(selector);
        for (var i = 0; i < nodes.length; i += 1) {
          if (found.indexOf(nodes[i]) < 0) {
            found.push(nodes[i]);
          }
        }
      });
      return found;
    }

    function blockSave(blocked) {
      state.saveBlocked = blocked;
      saveButtons().forEach(function (node) {
        node.disabled = blocked;
        node.classList.toggle(PREFIX + '-blocked', blocked);
        if (blocked) {
          node.setAttribute('title', t('save_blocked'));
        } else {
          node.removeAttribute('title');
        }
      });
    }

    // a submit while the choice is open is stopped too (a keyboard Enter does not need the button)
    function guardSubmit(event) {
      if (state.saveBlocked) {
        event.preventDefault();
        event.stopPropagation();
      }
    }

    function createAnyway(entity, matches, typed) {
      var body = {record_ids: matches.slice(0, MAX_TYPED).map(function (m) { return m.record_id; }),
                  phones: typed.phones.slice(0, MAX_TYPED), emails: typed.emails.slice(0, MAX_TYPED)};
      state.createdAnyway = JSON.stringify(typed);
      removePrompt();
      blockSave(false);
      ask('POST', '/v1/' + entity + '/created-anyway', body).catch(function () { /* warned already */ });
    }

    function destroy() {
      window.clearTimeout(state.timer);
      if (state.container && state.onInput) {
        state.container.removeEventListener('input', state.onInput, true);
      }
      state.onInput = null;
      if (state.form) {
        state.form.removeEventListener('submit', guardSubmit, true);
        state.form = null;
      }
      if (state.run) {
        state.run.stopped = true;
      }
      state.access = null; // the allow-list may change before the next area's render
      state.seq += 1; // answers still on their way draw nothing
      clearFrame();
      removePrompt();
      removeAll('.' + PREFIX + '-overlay, .' + PREFIX + '-list-button, .' + PREFIX + '-more, .' + PREFIX + '-menu, .' +
                PREFIX + '-other-deals');
      var named = document.querySelectorAll('.' + PREFIX + '-name-frame');
      for (var i = 0; i < named.length; i += 1) {
        named[i].classList.remove(PREFIX + '-name-frame');
      }
    }

    // the settings modal: refuse an address the browser could not call from an amoCRM page
    function validSettings(form) {
      var fields = (form && form.fields) || form || {};
      var url = String(fields.service_url || '').trim();
      removeAll('.' + PREFIX + '-error');
      if (SERVICE_URL.test(url)) {
        return true;
      }
      warn('the service address must start with https://', url);
      var input = document.querySelector('input[name="service_url"]');
      if (input && input.parentNode) {
        input.parentNode.appendChild(el('div', 'error', t('settings_bad_url')));
      }
      return false;
    }

    // amoCRM's `users` field: {user_id: "value"} (an object or its JSON text); a user with a value is allowed
    function allowedUsers(value) {
      var users = value;
      if (typeof users === 'string') {
        try {
          users = JSON.parse(users || '{}');
        } catch (err) {
          users = {};
        }
      }
      if (Object.prototype.toString.call(users) === '[object Array]') {
        return users.map(String);
      }
      return Object.keys(users || {}).filter(function (id) {
        var mark = users[id];
        return mark !== '' && mark !== null && mark !== false && mark !== '0' && /^[0-9A-Za-z_-]+$/.test(id);
      });
    }

    function readOptions(value) {
      var options = {};
      try {
        options = typeof value === 'string' ? JSON.parse(value || '{}') : (value || {});
      } catch (err) {
        options = {};
      }
      var entities = (options.entities || ['contacts', 'companies']).filter(function (e) {
        return e === 'contacts' || e === 'companies';
      });
      var cap = Math.floor(Number(options.run_cap));
      return {sound: options.sound !== false, entities: entities,
              run_cap: cap >= 1 && cap <= 500 ? cap : DEFAULT_RUN_CAP};
    }

    // the `options` custom field: sound, entities and the run cap as checkboxes kept in its hidden input
    function renderSettings() {
      var input = document.querySelector('input[name="options"]');
      if (!input || document.querySelector('.' + PREFIX + '-options')) {
        return true;
      }
      var options = readOptions(input.value);
      var box = el('div', 'options');
      function keep() {
        input.value = JSON.stringify(options);
      }
      function checkbox(label, checked, onChange) {
        var row = el('label', 'option');
        var tick = el('input');
        tick.type = 'checkbox';
        tick.checked = checked;
        tick.addEventListener('change', function () { onChange(tick.checked); keep(); });
        row.appendChild(tick);
        row.appendChild(document.createTextNode(' ' + label));
        box.appendChild(row);
      }
      checkbox(t('settings_sound'), options.sound, function (on) { options.sound = on; });
      ['contacts', 'companies'].forEach(function (entity) {
        checkbox(entity === 'contacts' ? t('settings_contacts') : t('settings_companies'),
                 options.entities.indexOf(entity) >= 0, function (on) {
          options.entities = options.entities.filter(function (e) { return e !== entity; });
          if (on) {
            options.entities.push(entity);
          }
        });
      });
      keep();
      input.parentNode.insertBefore(box, input.nextSibling);
      return true;
    }

    // Install/Save: check the address, then tell the service who may merge (it takes an admin's token only)
    function saveSettings(form) {
      if (!validSettings(form)) {
        return false;
      }
      var fields = (form && form.fields) || form || {};
      if (fields.allowed_users !== undefined) {
        var options = readOptions(fields.options);
        var body = {allowed_users: allowedUsers(fields.allowed_users), entities: options.entities,
                    sound: options.sound, run_cap: options.run_cap};
        state.access = null;
        var base = String(fields.service_url || '').trim().replace(/\/+$/, '');
        if (typeof self.$authorizedAjax === 'function') {
          self.$authorizedAjax({url: base + '/v1/widget/settings', type: 'PUT', dataType: 'json', timeout: TIMEOUT_MS,
                                contentType: 'application/json', data: JSON.stringify(body)}).fail(function (xhr) {
            warn('the service did not take the allow-list: status ' + (xhr && xhr.status), xhr && xhr.responseText);
          });
        }
      }
      return true;
    }

    function guarded(name, body) {
      return function () {
        try {
          var result = body.apply(null, arguments);
          return result === undefined ? true : result;
        } catch (err) {
          warn(name + ' failed', err);
          return true; // a widget error must never stop amoCRM's own flow
        }
      };
    }

    this.callbacks = {
      render: guarded('render', render),
      init: guarded('init', ensureStyle),
      bind_actions: guarded('bind_actions', watchInputs),
      settings: guarded('settings', renderSettings),
      onSave: guarded('onSave', saveSettings),
      destroy: guarded('destroy', destroy),
      // rows ticked in a list, then the widget picked in the menu that appears
      contacts: {selected: guarded('contacts.selected', onSelected('contacts'))},
      companies: {selected: guarded('companies.selected', onSelected('companies'))}
    };
    return this;
  };

  return CustomWidget;
});
