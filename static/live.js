// Live dashboard: a snapshot, then updates merged by key; an update for
// numbers other than ours (`since`) or a lost connection brings a fresh
// snapshot. Everything is drawn with textContent and SVG attributes (no
// HTML from data, no inline styles).
(function () {
  "use strict";
  var root = document.getElementById("live");
  var EVENT = root.dataset.event;
  var AUTH = root.dataset.auth;
  var TZ = root.dataset.timezone;
  var SVG = "http://www.w3.org/2000/svg";
  var state = null;
  var seq = null;
  var socket = null;
  var retryMs = 500;
  // How many recent check-ins the list keeps (docs/live-protocol.md).
  var RECENT_MAX = 20;

  function $(id) { return document.getElementById(id); }
  function setConn(text, ok) {
    var el = $("conn");
    el.textContent = text;
    el.className = "conn " + (ok ? "conn-live" : "conn-off");
  }

  if (AUTH === "token") {
    var m = /token=([^&]+)/.exec(location.hash);
    if (m) { localStorage.setItem("rollcall:screen:" + EVENT, decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname + location.search); }
  }
  function token() { return localStorage.getItem("rollcall:screen:" + EVENT) || ""; }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svgEl(tag, attrs) {
    var e = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }
  function bar(pct, withBackground) {
    var svg = svgEl("svg", { "class": "bar", viewBox: "0 0 100 6", preserveAspectRatio: "none", "aria-hidden": "true" });
    if (withBackground) svg.appendChild(svgEl("rect", { width: 100, height: 6, "class": "bar-bg" }));
    svg.appendChild(svgEl("rect", { width: Math.max(0, Math.min(100, pct)), height: 6, "class": "bar-fg" }));
    return svg;
  }
  function clock(iso) {
    try { return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: TZ }); }
    catch (e) { return iso.slice(11, 16); }
  }

  function render() {
    var s = state;
    $("attended-total").textContent = s.attended.total;
    $("attended-offline").textContent = s.attended.offline;
    $("attended-online").textContent = s.attended.online;
    $("registered-total").textContent = s.registered.total;
    $("registered-offline").textContent = s.registered.offline;
    $("registered-online").textContent = s.registered.online;
    $("cancelled").textContent = s.cancelled;

    var sessions = $("sessions");
    sessions.textContent = "";
    s.by_session.forEach(function (x) {
      var tr = el("tr"); tr.dataset.slug = x.slug;
      tr.appendChild(el("td", "", x.title));
      var room = el("td");
      room.appendChild(el("span", "num", x.in_person));
      room.appendChild(document.createTextNode(" / " + (x.capacity_offline === null ? "no limit" : x.capacity_offline)));
      room.appendChild(bar(x.capacity_offline ? x.in_person * 100 / x.capacity_offline : 0, true));
      tr.appendChild(room);
      tr.appendChild(el("td", "num", x.online));
      tr.appendChild(el("td", "num", x.watching_now));
      sessions.appendChild(tr);
    });

    var countries = $("countries");
    countries.textContent = "";
    var rows = s.by_country.slice().sort(function (a, b) {
      return (b.attended_offline + b.attended_online) - (a.attended_offline + a.attended_online) || b.registered - a.registered || a.name.localeCompare(b.name);
    });
    var widest = Math.max(1, Math.max.apply(null, rows.map(function (c) { return Math.max(c.registered, c.attended_offline + c.attended_online); }).concat([0])));
    rows.forEach(function (c) {
      var tr = el("tr"); tr.dataset.code = c.code;
      var name = el("td");
      name.appendChild(el("span", "country-code", c.code));
      name.appendChild(document.createTextNode(" " + c.name));
      tr.appendChild(name);
      var b = el("td"); b.appendChild(bar((c.attended_offline + c.attended_online) * 100 / widest, false)); tr.appendChild(b);
      tr.appendChild(el("td", "num", c.attended_offline));
      tr.appendChild(el("td", "num", c.attended_online));
      tr.appendChild(el("td", "num", c.registered));
      countries.appendChild(tr);
    });

    var chart = $("arrivals");
    chart.textContent = "";
    var peak = Math.max(1, Math.max.apply(null, s.arrivals_per_minute.map(function (m) { return m.count; }).concat([0])));
    s.arrivals_per_minute.forEach(function (m, i) {
      var h = Math.round(m.count * 100 / peak);
      var r = svgEl("rect", { x: i * 10, y: 100 - h, width: 8, height: h });
      var t = svgEl("title", {}); t.textContent = m.count + " arrivals at " + clock(m.minute);
      r.appendChild(t); chart.appendChild(r);
    });

    var feed = $("recent");
    feed.textContent = "";
    s.recent.forEach(function (r) {
      var li = el("li");
      li.appendChild(el("span", "feed-time", clock(r.at)));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("strong", "", r.name));
      li.appendChild(document.createTextNode(" "));
      li.appendChild(el("span", "country-code", r.country));
      li.appendChild(document.createTextNode(" · " + (r.session_title || "Event entry") + (r.door ? " · " + r.door : (r.mode === "online" ? " · online" : ""))));
      feed.appendChild(li);
    });
  }

  function mergeBy(list, changed, key) {
    changed.forEach(function (item) {
      var i = list.findIndex(function (x) { return x[key] === item[key]; });
      if (i >= 0) list[i] = item; else list.push(item);
    });
  }

  function onMessage(event) {
    var msg;
    try { msg = JSON.parse(event.data); } catch (e) { return; }
    if (msg.type === "snapshot") {
      state = msg; seq = msg.seq;
    } else if (msg.type === "update") {
      // An update changes the numbers numbered `since`: ours, or we resync.
      var since = msg.since === undefined ? msg.seq - 1 : msg.since;
      if (state === null || since !== seq) {
        socket.send(JSON.stringify({ type: "resync" }));
        return;
      }
      seq = msg.seq;
      ["registered", "attended", "no_shows", "cancelled", "recent"].forEach(function (k) {
        if (msg[k] !== undefined) state[k] = msg[k];
      });
      if (msg.by_category) mergeBy(state.by_category, msg.by_category, "category");
      if (msg.by_country) mergeBy(state.by_country, msg.by_country, "code");
      if (msg.by_session) mergeBy(state.by_session, msg.by_session, "slug");
      if (msg.arrivals_per_minute) {
        // Changed minutes replace theirs; a new minute pushes the oldest out.
        var hour = state.arrivals_per_minute.length;
        mergeBy(state.arrivals_per_minute, msg.arrivals_per_minute, "minute");
        state.arrivals_per_minute.sort(function (a, b) { return a.minute < b.minute ? -1 : a.minute > b.minute ? 1 : 0; });
        state.arrivals_per_minute = state.arrivals_per_minute.slice(-hour);
      }
      if (msg.recent_added) state.recent = msg.recent_added.concat(state.recent).slice(0, RECENT_MAX);
    } else {
      return;
    }
    root.dataset.seq = seq;
    render();
    setConn("Live", true);
  }

  function wsUrl(ticket) {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var url = proto + "//" + location.host + "/ws/events/" + encodeURIComponent(EVENT) + "/live";
    return ticket ? url + "?ticket=" + encodeURIComponent(ticket) : url;
  }

  function ticket() {
    if (AUTH !== "token") return Promise.resolve(null);
    return fetch("/api/v1/events/" + encodeURIComponent(EVENT) + "/live/ticket", {
      method: "POST", headers: { "Authorization": "Bearer " + token() }
    }).then(function (r) {
      if (!r.ok) throw new Error(r.status === 401 ? "This screen's token is not valid." : "Could not connect (" + r.status + ").");
      return r.json();
    }).then(function (t) { return t.ticket; });
  }

  function connect() {
    ticket().then(function (t) {
      socket = new WebSocket(wsUrl(t));
      // "Live" only once numbers arrive (the snapshot), not on the handshake.
      socket.onopen = function () { retryMs = 500; setConn("Connected…", false); };
      socket.onmessage = onMessage;
      socket.onclose = function () {
        setConn("Reconnecting…", false);
        seq = null;
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 10000);
      };
    }).catch(function (error) {
      setConn(error.message + " Retrying…", false);
      setTimeout(connect, Math.min(retryMs *= 2, 10000));
    });
  }
  connect();
})();
