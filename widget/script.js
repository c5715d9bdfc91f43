/*
 * crm-dedup widget for amoCRM cards (locations ccard, comcard, lcard).
 *
 * A saved contact or company card: ask the service for the record's duplicates
 * (GET /v1/{entity}/{id}/duplicates) and frame the card in red with a short list of them.
 * A deal card: the same for the contacts linked to the deal.
 * A card being filled in (a new contact, or a new one added to a deal): watch the phone and
 * email inputs and ask POST /v1/{entity}/check; a match shows "use the existing contact".
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
    '.' + PREFIX + '-error{color:#c62828;margin-top:4px}'
  ].join('\n');

  var CustomWidget = function () {
    var self = this;
    var state = {seq: 0, lastQuery: '', timer: null, container: null, onInput: null};

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

    function frameWhenFound(container, entity, matches, seq) {
      if (!matches.length) {
        return;
      }
      describe(entity, matches, function (shown, records) {
        if (seq === state.seq) { // a later render has taken over
          showFrame(container, entity, matches.length, shown, records);
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
      var pending = linked.length;
      linked.forEach(function (contactId) {
        call('GET', '/v1/contacts/' + contactId + '/duplicates', null, function (answer) {
          ((answer && answer.matches) || []).forEach(function (match) {
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
            frameWhenFound(container, 'contacts', matches, seq);
          }
        });
      });
    }

    function render() {
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
    }

    function showPrompt(input, entity, kind, shown, records) {
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
      var row = input.parentNode;
      if (row && row.parentNode) {
        row.parentNode.insertBefore(prompt, row.nextSibling);
      } else if (state.container) {
        state.container.insertBefore(prompt, state.container.firstChild);
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
        if (!matches.length) {
          removePrompt();
          return;
        }
        describe(entity, matches, function (shown, records) {
          if (seq === state.seq) {
            showPrompt(input, entity, kindOf(input.value) || 'phone', shown, records);
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
    }

    function destroy() {
      window.clearTimeout(state.timer);
      if (state.container && state.onInput) {
        state.container.removeEventListener('input', state.onInput, true);
      }
      state.onInput = null;
      state.seq += 1; // answers still on their way draw nothing
      clearFrame();
      removePrompt();
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
      settings: guarded('settings', function () { return true; }),
      onSave: guarded('onSave', validSettings),
      destroy: guarded('destroy', destroy)
    };
    return this;
  };

  return CustomWidget;
});
