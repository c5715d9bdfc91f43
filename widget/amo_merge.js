/*
 * crm-dedup: the ONE place that knows how amoCRM merges records. amoCRM's API v4 has no merge method;
 * its own merge window sends internal requests, and this adapter sends the same ones, in the user's
 * own session (cookies of the amoCRM page), so amoCRM's permissions apply. If amoCRM changes them,
 * this file is the whole fix.
 *
 *   info(entity, ids)          POST /ajax/merge/<entity>/info/   id[]=…          -> what each record holds
 *   rows(fields)               the merge window's rows (which fields offer a choice of record)
 *   form(entity, survivor, ids, fields, choice)   the save request's fields: the user's choices, else the
 *                              survivor's value, else the first record's; phones, emails, deals, tags of all
 *   save(entity, fields)       POST /ajax/merge/<entity>/save    form-encoded    -> 202 = queued
 *
 * Request shapes as public third-party code sends them (docs/amocrm-notes.md §5, all UNOFFICIAL):
 * id[] (every record, the survivor too), result_element[ID] (the survivor), result_element[NAME],
 * result_element[MAIN_USER_ID], result_element[TAGS][], result_element[LEADS][],
 * result_element[cfv][<field id>][] = JSON {"DESCRIPTION","VALUE"} for phones and emails,
 * result_element[cfv][<field id>] for other fields, double[companies][result_element][COMPANY_UID].
 * The info answer is read as {response: {compare_values: {NAME: {<id>: value}, MAIN_USER_ID: …,
 * LEADS: {<id>: [ids]}, TAGS: …, COMPANY_UID: …, cfv_<field id>: {<id>: value | [{DESCRIPTION, VALUE}]}}}}
 * (the keys are documented in public code, the per-record nesting is our reading: UNVERIFIED).
 */
define([], function () {
  'use strict';

  var TIMEOUT_MS = 20000;
  var PATH = {contacts: 'contacts', companies: 'companies'};

  function post(url, pairs) {
    var body = pairs.map(function (pair) {
      return encodeURIComponent(pair[0]) + '=' + encodeURIComponent(pair[1]);
    }).join('&');
    var controller = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = controller ? window.setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
    return fetch(url, {
      method: 'POST', credentials: 'same-origin', body: body, signal: controller ? controller.signal : undefined,
      headers: {'Content-Type': 'application/x-www-form-urlencoded; charset=UTF-8',
                'X-Requested-With': 'XMLHttpRequest'}
    }).then(function (response) {
      window.clearTimeout(timer);
      return response.text().then(function (text) {
        return {status: response.status, text: text};
      });
    }, function (error) {
      window.clearTimeout(timer);
      return {status: 0, text: String(error)};
    });
  }

  // what an answer means to the user: queued, no rights, or another failure
  function outcome(answer) {
    if (answer.status === 202 || answer.status === 200) {
      return {ok: true, status: answer.status};
    }
    var reason = answer.status === 401 || answer.status === 403 ? 'forbidden' : 'failed';
    return {ok: false, status: answer.status, reason: reason, detail: String(answer.text || '').slice(0, 300)};
  }

  function asList(value) {
    if (value === null || value === undefined || value === '') {
      return [];
    }
    return Object.prototype.toString.call(value) === '[object Array]' ? value : [value];
  }

  // {field: {recordId: [values]}} from amoCRM's compare_values; anything unexpected is left out
  function readInfo(text) {
    var parsed;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return null;
    }
    var values = parsed && ((parsed.response && parsed.response.compare_values) || parsed.compare_values);
    if (!values || typeof values !== 'object') {
      return null;
    }
    var out = {};
    Object.keys(values).forEach(function (field) {
      var byRecord = values[field];
      if (byRecord && typeof byRecord === 'object') {
        out[field] = {};
        Object.keys(byRecord).forEach(function (id) {
          out[field][id] = asList(byRecord[id]);
        });
      }
    });
    return out;
  }

  /** info(entity, ids) -> Promise of {ok, fields: {field: {recordId: [values]}}} or {ok: false, reason}. */
  function info(entity, ids) {
    var pairs = ids.map(function (id) { return ['id[]', id]; });
    return post('/ajax/merge/' + PATH[entity] + '/info/', pairs).then(function (answer) {
      var result = outcome(answer);
      if (!result.ok) {
        return result;
      }
      var fields = readInfo(answer.text);
      return fields ? {ok: true, fields: fields} : {ok: false, status: answer.status, reason: 'failed',
                                                   detail: 'amoCRM answered the merge preview in an unknown shape'};
    });
  }

  // one phone in two spellings (+7 / 8 …) or one email in two cases is kept once
  function sameValue(value) {
    var text = String(value || '');
    var digits = text.replace(/\D/g, '');
    if (text.indexOf('@') >= 0 || digits.length < 7) {
      return text.trim().toLowerCase();
    }
    return digits.length === 11 && digits.charAt(0) === '8' ? '7' + digits.slice(1) : digits;
  }

  function isMulti(values) {
    return values.length > 0 && values[0] !== null && typeof values[0] === 'object';
  }

  /**
   * The fields of the save request: ids = every record (survivor first); choice = {field: recordId}
   * (a single-value field kept from that record; multi-value fields and links keep every record's).
   * Defaults follow the merge plan: the survivor's value, else the first record that has one.
   */
  function form(entity, survivorId, ids, fields, choice) {
    choice = choice || {};
    var pairs = ids.map(function (id) { return ['id[]', id]; });
    pairs.push(['result_element[ID]', survivorId]);
    var order = [survivorId].concat(ids.filter(function (id) { return id !== survivorId; }));
    function pick(field) {
      var byRecord = fields[field] || {};
      var chosen = choice[field];
      if (chosen !== undefined && byRecord[chosen] && byRecord[chosen].length) {
        return byRecord[chosen];
      }
      for (var i = 0; i < order.length; i += 1) {
        if (byRecord[order[i]] && byRecord[order[i]].length) {
          return byRecord[order[i]];
        }
      }
      return [];
    }
    function union(field) {
      var seen = {};
      var out = [];
      order.forEach(function (id) {
        ((fields[field] || {})[id] || []).forEach(function (value) {
          var key = typeof value === 'object' ? JSON.stringify(value) : String(value);
          if (!seen[key]) {
            seen[key] = true;
            out.push(value);
          }
        });
      });
      return out;
    }
    var name = pick('NAME');
    if (name.length) {
      pairs.push(['result_element[NAME]', String(name[0])]);
    }
    var user = pick('MAIN_USER_ID');
    if (user.length) {
      pairs.push(['result_element[MAIN_USER_ID]', String(user[0])]);
    }
    union('TAGS').forEach(function (tag) { pairs.push(['result_element[TAGS][]', String(tag)]); });
    union('LEADS').forEach(function (lead) { pairs.push(['result_element[LEADS][]', String(lead)]); });
    if (entity === 'contacts') {
      var company = pick('COMPANY_UID');
      if (company.length) {
        pairs.push(['double[companies][result_element][COMPANY_UID]', String(company[0])]);
        pairs.push(['double[companies][result_element][ID]', String(company[0])]);
      }
    }
    Object.keys(fields).sort().forEach(function (field) {
      var found = /^cfv_(\d+)$/.exec(field);
      if (!found) {
        return;
      }
      var all = union(field);
      if (isMulti(all)) { // phones, emails: every record's, each once
        var seen = {};
        all.forEach(function (item) {
          var key = sameValue(item.VALUE);
          if (!seen[key]) {
            seen[key] = true;
            pairs.push(['result_element[cfv][' + found[1] + '][]',
                        JSON.stringify({DESCRIPTION: item.DESCRIPTION || 'WORK', VALUE: item.VALUE})]);
          }
        });
      } else {
        var value = pick(field);
        if (value.length) {
          pairs.push(['result_element[cfv][' + found[1] + ']', String(value[0])]);
        }
      }
    });
    return pairs;
  }

  /**
   * The rows of the merge window: {key, kind, fieldId, multi, byRecord}. kind: name, responsible, company,
   * field (a custom field), leads, tags. A single-value row offers a choice of record; a multi-value row
   * (phones, emails, deals, tags) keeps every record's values.
   */
  function rows(fields) {
    var kinds = {NAME: 'name', MAIN_USER_ID: 'responsible', COMPANY_UID: 'company', LEADS: 'leads', TAGS: 'tags'};
    var out = [];
    Object.keys(fields).sort().forEach(function (key) {
      var found = /^cfv_(\d+)$/.exec(key);
      var kind = kinds[key] || (found ? 'field' : '');
      if (!kind) {
        return;
      }
      var all = [];
      Object.keys(fields[key]).forEach(function (id) { all = all.concat(fields[key][id]); });
      if (!all.length) {
        return;
      }
      out.push({key: key, kind: kind, fieldId: found ? found[1] : '', byRecord: fields[key],
                multi: kind === 'leads' || kind === 'tags' || isMulti(all)});
    });
    var rank = {name: 0, responsible: 1, company: 2, field: 3, leads: 4, tags: 5};
    out.sort(function (a, b) { return rank[a.kind] - rank[b.kind] || (a.key < b.key ? -1 : 1); });
    return out;
  }

  /** save(entity, pairs) -> Promise of {ok, status} (202: amoCRM queued the merge) or {ok: false, reason}. */
  function save(entity, pairs) {
    return post('/ajax/merge/' + PATH[entity] + '/save', pairs).then(outcome);
  }

  return {info: info, rows: rows, form: form, save: save};
});
