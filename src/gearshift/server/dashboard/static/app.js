// gearshift dashboard: tooltips on charts, and the live page's updates from /api/live.
// Everything from the ledger is written with textContent (never markup): agent names and
// task texts are untrusted. Invisible characters are shown as [U+XXXX], as the server does.
(function () {
  'use strict';
  var SVG = 'http://www.w3.org/2000/svg';
  var HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;

  function visible(text) {
    return String(text).replace(HIDDEN, function (c) {
      return '[U+' + ('000' + c.charCodeAt(0).toString(16).toUpperCase()).slice(-4) + ']';
    });
  }

  function money(usd) {
    var n = Number(usd);
    var places = Math.abs(n) >= 1 || n === 0 ? 2 : 4;
    return '$' + n.toLocaleString('en-US', {minimumFractionDigits: places,
                                             maximumFractionDigits: places});
  }

  function tooltips() {
    var tip = document.getElementById('tip');
    if (!tip) { return; }
    document.addEventListener('mousemove', function (e) {
      var el = e.target.closest ? e.target.closest('[data-tip]') : null;
      if (!el) { tip.hidden = true; return; }
      tip.textContent = el.getAttribute('data-tip');
      tip.style.left = (e.pageX + 12) + 'px';
      tip.style.top = (e.pageY + 12) + 'px';
      tip.hidden = false;
    });
  }

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  }

  function node(name, attrs, text) {
    var el = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  function drawMinutes(box, minutes) {
    var w = 1200, h = 260, left = 64, bottom = 36, top = 24;
    var most = 0;
    minutes.forEach(function (m) { most = Math.max(most, Number(m.cost_usd)); });
    var svg = node('svg', {viewBox: '0 0 ' + w + ' ' + h, width: '100%', role: 'img',
                           'aria-label': 'Spend per minute'});
    var slot = (w - left - 10) / Math.max(1, minutes.length);
    svg.appendChild(node('text', {x: left - 6, y: top + 4, 'text-anchor': 'end'},
                         money(most)));
    svg.appendChild(node('line', {'class': 'grid', x1: left, x2: w - 10, y1: h - bottom,
                                  y2: h - bottom}));
    minutes.forEach(function (m, i) {
      var value = Number(m.cost_usd);
      var height = most > 0 ? (h - bottom - top) * value / most : 0;
      var x = left + i * slot + slot * 0.1;
      var bar = node('rect', {x: x.toFixed(1), y: (h - bottom - height).toFixed(1),
                              width: (slot * 0.8).toFixed(1), height: height.toFixed(1),
                              fill: '#3d6fb6'});
      bar.setAttribute('data-tip', m.at.slice(11, 16) + ' UTC: ' + money(m.cost_usd) + ', ' +
                       m.executions + ' executions');
      svg.appendChild(bar);
      if (i % 5 === 0) {
        svg.appendChild(node('text', {x: (x + slot * 0.4).toFixed(1), y: h - bottom + 16,
                                      'text-anchor': 'middle'}, m.at.slice(11, 16)));
      }
    });
    box.replaceChildren(svg);
  }

  function drawRecent(box, recent) {
    var body = box.querySelector('tbody');
    if (!body) { return; }
    var rows = recent.map(function (r) {
      var tr = document.createElement('tr');
      [r.ts.slice(11, 19), visible(r.agent), r.tier, r.status, money(r.cost_usd)]
        .forEach(function (value, i) {
          var td = document.createElement('td');
          if (i === 4) { td.className = 'num'; }
          td.textContent = value;
          tr.appendChild(td);
        });
      return tr;
    });
    body.replaceChildren.apply(body, rows);
  }

  function live() {
    if (document.body.getAttribute('data-page') !== '/live' || !window.EventSource) { return; }
    var base = document.body.getAttribute('data-base') || '';
    var source = new EventSource(base + '/api/live');
    source.addEventListener('snapshot', function (e) {
      var s = JSON.parse(e.data);
      if (s.error) { setText('live-state', 'The ledger cannot be read: ' + s.error); return; }
      setText('live-rps', s.requests_per_second);
      setText('live-minute', s.last_minute.executions.toLocaleString('en-US'));
      setText('live-spend', money(s.window.cost_usd));
      setText('live-escalations', s.window.escalations.toLocaleString('en-US'));
      setText('live-blocked', s.window.blocked.toLocaleString('en-US'));
      setText('live-state', 'Updated ' + new Date(s.at).toLocaleTimeString() +
              ' from the ledger.');
      document.getElementById('live').setAttribute('data-at', s.at);
      var minutes = document.getElementById('live-minutes');
      if (minutes) { drawMinutes(minutes, s.per_minute); }
      var recent = document.getElementById('live-recent');
      if (recent) { drawRecent(recent, s.recent); }
    });
    source.onerror = function () { setText('live-state', 'Reconnecting…'); };
  }

  tooltips();
  live();
})();
