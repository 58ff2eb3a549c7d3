// Rollcall scan page: camera and keyboard-wedge scanning, an offline queue
// that never loses a scan, and answers that fill the screen.
(function () {
  "use strict";

  var root = document.getElementById("scan");
  var EVENT = root.dataset.event;
  var AUTH = root.dataset.auth; // "session" or "token"
  var CSRF = (document.querySelector("meta[name=csrf-token]") || {}).content || "";
  var API = "/api/v1/events/" + encodeURIComponent(EVENT);
  var KEY = "rollcall:" + EVENT + ":";
  var REQUEST_TIMEOUT_MS = 6000;
  var RETRY_MS = 3000;
  var SAME_CODE_QUIET_MS = 4000;

  var $ = function (id) { return document.getElementById(id); };
  var store = {
    get: function (name, fallback) {
      try { var v = localStorage.getItem(KEY + name); return v === null ? fallback : JSON.parse(v); }
      catch (e) { return fallback; }
    },
    set: function (name, value) { localStorage.setItem(KEY + name, JSON.stringify(value)); }
  };

  // --- Device token: taken from the link's #token=… once, then kept locally.
  if (AUTH === "token") {
    var match = /token=([^&]+)/.exec(location.hash);
    if (match) {
      localStorage.setItem("rollcall:token:" + EVENT, decodeURIComponent(match[1]));
      history.replaceState(null, "", location.pathname);
    }
  }
  function token() { return localStorage.getItem("rollcall:token:" + EVENT) || ""; }

  function headers(json) {
    var h = {};
    if (json) h["Content-Type"] = "application/json";
    if (AUTH === "token") h["Authorization"] = "Bearer " + token();
    else h["X-CSRF-Token"] = CSRF;
    return h;
  }

  function request(method, path, body) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS);
    return fetch(API + path, {
      method: method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal: controller.signal
    }).finally(function () { clearTimeout(timer); });
  }

  // A scan id is a UUID version 7: the time in milliseconds, then 74 random
  // bits. Ids that start with the time land at one end of the server's log
  // index instead of on a page at random, which on SQLite's one writer is
  // what a check-in costs (BENCHMARKS.md, history 21). Built by hand so it
  // works outside secure contexts too (no crypto.randomUUID on plain http).
  function newScanId() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    var ms = Date.now();
    for (var i = 5; i >= 0; i--) { b[i] = ms % 256; ms = Math.floor(ms / 256); }
    b[6] = (b[6] & 0x0f) | 0x70; b[8] = (b[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // --- Setup: session and door, remembered on this device.
  var setup = store.get("setup", null);
  var sessions = [];

  function describeWhere() {
    if (!setup) { $("where").textContent = "Choose session and door"; return; }
    var title = setup.session ? (sessions.filter(function (s) { return s.slug === setup.session; })[0] || {}).title || setup.session : "Event entry";
    $("where").textContent = title + " · " + (setup.door || "door");
  }

  function showSetup(message) {
    $("setup").hidden = false;
    $("token-box").hidden = AUTH !== "token";
    $("setup-error").hidden = !message;
    $("setup-error").textContent = message || "";
  }

  function loadSessions() {
    if (AUTH === "token" && !token()) { showSetup("This device needs a token."); return Promise.resolve(); }
    return request("GET", "/door").then(function (response) {
      if (response.status === 401) throw new Error(AUTH === "token" ? "The device token is not valid (revoked?)." : "Signed out: please sign in again.");
      if (!response.ok) throw new Error("Could not load the sessions (" + response.status + ").");
      return response.json();
    }).then(function (data) {
      sessions = data.sessions;
      store.set("sessions", data);
      fillSessionSelect(data);
    }).catch(function (error) {
      var cached = store.get("sessions", null);
      if (cached && error.name === "AbortError" || cached && error instanceof TypeError) {
        sessions = cached.sessions; fillSessionSelect(cached); return;
      }
      showSetup(error.message);
    });
  }

  // Keeps what the form shows: sessions can arrive while someone is
  // filling it in (a token just pasted), and must not undo their choices.
  function fillSessionSelect(data) {
    var select = $("session-select");
    var chosen = setup ? setup.session || "" : select.value;
    var door = setup ? setup.door : $("door-input").value;
    select.innerHTML = "";
    if (data.event_entry) select.appendChild(new Option("Event entry (arrival at the venue)", ""));
    data.sessions.forEach(function (s) {
      select.appendChild(new Option(s.title + " — " + s.time + (s.open_now ? "" : " (doors closed now)"), s.slug));
    });
    select.value = chosen;
    if (select.selectedIndex < 0) select.selectedIndex = 0;
    $("door-input").value = door;
    describeWhere();
    if (!setup) showSetup();
  }

  $("change").addEventListener("click", function () { showSetup(); });
  // A pasted token loads its sessions at once, so they can be chosen
  // before "Start scanning".
  $("token-input").addEventListener("change", function () {
    if (!$("token-input").value.trim()) return;
    localStorage.setItem("rollcall:token:" + EVENT, $("token-input").value.trim());
    loadSessions();
  });
  $("setup-done").addEventListener("click", function () {
    if (AUTH === "token" && $("token-input").value.trim()) {
      localStorage.setItem("rollcall:token:" + EVENT, $("token-input").value.trim());
      $("token-input").value = "";
      loadSessions().then(finishSetup);
      return;
    }
    finishSetup();
  });
  function finishSetup() {
    if (AUTH === "token" && !token()) { showSetup("This device needs a token."); return; }
    setup = { session: $("session-select").value || null, door: $("door-input").value.trim() || "Door" };
    store.set("setup", setup);
    $("setup").hidden = true;
    describeWhere();
    renderCount();
    focusScanner();
  }

  // --- Results on screen and in sound.
  var WORDS = {
    unknown_code: "Unknown code",
    cancelled: "Registration cancelled",
    not_registered_for_session: "Not registered for this session",
    members_only: "Members only",
    session_not_open: "Doors not open for this session",
    session_full: "Room is full",
    wrong_event: "Ticket for another event"
  };
  var audio = null;
  function beep(pattern) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var t = audio.currentTime;
      pattern.forEach(function (tone) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.frequency.value = tone[0]; osc.type = tone[0] < 300 ? "square" : "sine";
        gain.gain.setValueAtTime(0.2, t + tone[1]);
        gain.gain.exponentialRampToValueAtTime(0.001, t + tone[1] + tone[2]);
        osc.connect(gain); gain.connect(audio.destination);
        osc.start(t + tone[1]); osc.stop(t + tone[1] + tone[2]);
      });
    } catch (e) { /* no sound available */ }
  }
  var SOUNDS = {
    accepted: [[1046, 0, 0.15]],
    duplicate: [[660, 0, 0.12], [660, 0.18, 0.12]],
    rejected: [[180, 0, 0.5]],
    pending: [[440, 0, 0.1]]
  };

  function personLine(p) {
    if (!p) return "";
    return p.country + " · " + p.country_name + " · " + (p.mode === "online" ? "registered online" : "in person") + (p.affiliation ? " · " + p.affiliation : "");
  }

  function show(kind, word, name, detail) {
    var panel = $("result");
    panel.className = "result result-" + kind;
    $("result-word").textContent = word;
    $("result-name").textContent = name || "";
    $("result-detail").textContent = detail || "";
    beep(SOUNDS[kind] || SOUNDS.rejected);
  }

  function showAnswer(answer) {
    var p = answer.participant;
    if (answer.status === "accepted") {
      show("accepted", "✔ Accepted", p ? p.name : "", (answer.warning ? "⚠ " + answer.warning + " · " : "") + personLine(p));
    } else if (answer.status === "duplicate") {
      show("duplicate", "Already in", p ? p.name : "",
        "Since " + (answer.first_checked_in_local || "earlier") + (answer.first_door ? " at " + answer.first_door : "") + " · " + personLine(p));
    } else {
      show("rejected", "✖ " + (WORDS[answer.reason] || "Rejected"), p ? p.name : "", personLine(p));
    }
  }

  // --- Recent scans and the door counter.
  var recent = store.get("recent", []);
  function remember(entry) {
    recent = recent.filter(function (r) { return r.scan_id !== entry.scan_id; });
    recent.unshift(entry);
    recent = recent.slice(0, 10);
    store.set("recent", recent);
    renderRecent();
  }
  function renderRecent() {
    var list = $("recent");
    list.innerHTML = "";
    recent.forEach(function (r) {
      var li = document.createElement("li");
      li.className = "recent-" + r.kind;
      var tag = document.createElement("span");
      tag.className = "recent-tag";
      tag.textContent = r.label;
      li.appendChild(tag);
      li.appendChild(document.createTextNode(" " + (r.name || "…") + " · " + r.time));
      list.appendChild(li);
    });
  }
  function countKey() { return "count:" + (setup ? (setup.session || "entry") + ":" + setup.door : "none"); }
  function renderCount() { $("count").textContent = store.get(countKey(), 0); }
  function bumpCount() { store.set(countKey(), store.get(countKey(), 0) + 1); renderCount(); }

  // --- The queue: every scan is saved before it is sent, and leaves the
  // queue only when the server has answered it.
  var queue = store.get("queue", []);
  var flushing = false;
  var retryTimer = null;

  function setNet(online) {
    $("net").textContent = online ? "Online" : "Offline";
    $("net").title = online ? "" : "Scans are kept on this device and sent when the connection is back.";
    $("net").className = "net " + (online ? "net-ok" : "net-down");
  }
  function renderPending() {
    $("pending").hidden = queue.length === 0;
    $("pending").textContent = queue.length + (queue.length === 1 ? " scan" : " scans") + " waiting to send";
  }

  function enqueue(body, name) {
    var item = { body: body, at: new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }), name: name || "" };
    body.scan_id = newScanId();
    queue.push(item);
    store.set("queue", queue);
    renderPending();
    flush(item.body.scan_id);
  }

  function flush(current) {
    if (flushing || queue.length === 0) return;
    flushing = true;
    var item = queue[0];
    request("POST", "/checkins", item.body).then(function (response) {
      if (response.status === 200) {
        return response.json().then(function (answer) {
          dequeue(item);
          setNet(true);
          var late = item.body.scan_id !== current;
          if (!late) showAnswer(answer);
          if (answer.status === "accepted") bumpCount();
          remember({
            scan_id: item.body.scan_id,
            kind: answer.status,
            label: answer.status === "accepted" ? "in" : answer.status === "duplicate" ? "again" : "no",
            name: (answer.participant && answer.participant.name) || WORDS[answer.reason] || "",
            time: item.at + (late ? " (sent late)" : "")
          });
        });
      }
      if (response.status === 401 || response.status >= 500) throw new Error("retry");
      // The server understood and refused (400/403/404): retrying won't help.
      return response.json().catch(function () { return {}; }).then(function (error) {
        dequeue(item);
        show("rejected", "✖ Not sent", "", error.error || ("Refused (" + response.status + ")"));
      });
    }).catch(function () {
      setNet(false);
      if (item.body.scan_id === current) show("pending", "Saved — will send", item.name, "No connection right now. This scan is kept on this device and sent automatically.");
      remember({ scan_id: item.body.scan_id, kind: "pending", label: "waiting", name: item.name, time: item.at });
      clearTimeout(retryTimer);
      retryTimer = setTimeout(function () { flush(); }, RETRY_MS);
    }).finally(function () {
      flushing = false;
      renderPending();
      if (queue.length && queue[0] !== item) flush(current);
    });
  }
  function dequeue(item) {
    queue = queue.filter(function (q) { return q.body.scan_id !== item.body.scan_id; });
    store.set("queue", queue);
  }
  window.addEventListener("online", function () { flush(); });

  // --- Scanning: the same code twice within a few seconds is one scan. A
  // badge held in front of the camera keeps extending that quiet period.
  var lastCode = "", lastAt = 0;
  function scanCode(code, fromCamera) {
    code = (code || "").trim();
    if (!code) return;
    if (!setup) { showSetup("Choose the session and door first."); return; }
    var now = Date.now();
    if (code === lastCode && now - lastAt < SAME_CODE_QUIET_MS) {
      if (fromCamera) lastAt = now;
      return;
    }
    lastCode = code; lastAt = now;
    enqueue({ code: code, session: setup.session, door: setup.door });
  }

  // Keyboard-wedge scanners type the code and press Enter into whatever has
  // focus: keep the field focused and empty.
  var input = $("code-input");
  // Focus goes back to the scanner field unless someone is typing into
  // another field (the name search) or the setup is open.
  function focusScanner() {
    var active = document.activeElement;
    var typingElsewhere = active && active !== input && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName);
    if (!typingElsewhere && $("setup").hidden) input.focus({ preventScroll: true });
  }
  $("code-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var code = input.value;
    input.value = "";
    scanCode(code);
  });
  input.addEventListener("blur", function () { setTimeout(focusScanner, 300); });
  document.addEventListener("click", function () { setTimeout(focusScanner, 300); });

  // --- Camera.
  var video = $("video"), canvas = $("frame"), stream = null, detector = null;
  if ("BarcodeDetector" in window) {
    try { detector = new window.BarcodeDetector({ formats: ["qr_code"] }); } catch (e) { detector = null; }
  }
  function decodeFrame() {
    if (!stream) return;
    if (video.readyState >= 2) {
      if (detector) {
        detector.detect(video).then(function (codes) { if (codes.length) scanCode(codes[0].rawValue, true); }).catch(function () {});
      } else if (window.jsQR) {
        var w = video.videoWidth, h = video.videoHeight;
        var scale = Math.min(1, 640 / w);
        canvas.width = Math.round(w * scale); canvas.height = Math.round(h * scale);
        var ctx = canvas.getContext("2d", { willReadFrequently: true });
        ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
        var image = ctx.getImageData(0, 0, canvas.width, canvas.height);
        var found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
        if (found && found.data) scanCode(found.data, true);
      }
    }
    setTimeout(decodeFrame, 100);
  }
  $("camera-toggle").addEventListener("click", function () {
    if (stream) {
      stream.getTracks().forEach(function (t) { t.stop(); });
      stream = null; $("camera").hidden = true; $("camera-toggle").textContent = "Use camera";
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      $("camera").hidden = false; $("camera-error").hidden = false;
      $("camera-error").textContent = "The camera needs https (or localhost). The scanner field still works.";
      return;
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false }).then(function (s) {
      stream = s; video.srcObject = s; video.play();
      $("camera").hidden = false; $("camera-error").hidden = true; $("camera-toggle").textContent = "Stop camera";
      decodeFrame();
    }).catch(function (error) {
      $("camera").hidden = false; $("camera-error").hidden = false;
      $("camera-error").textContent = "No camera: " + error.message;
    });
  });

  // --- Manual check-in by name.
  var searchTimer = null;
  $("manual-input").addEventListener("input", function () {
    clearTimeout(searchTimer);
    var q = this.value.trim();
    searchTimer = setTimeout(function () { search(q); }, 250);
  });
  function search(q) {
    var list = $("manual-results");
    if (q.length < 2) { list.innerHTML = ""; return; }
    request("GET", "/participants?q=" + encodeURIComponent(q)).then(function (r) { return r.ok ? r.json() : []; }).then(function (people) {
      list.innerHTML = "";
      people.forEach(function (p) {
        var li = document.createElement("li");
        var label = document.createElement("span");
        label.textContent = p.name + " · " + p.country + " · " + p.affiliation + (p.status === "cancelled" ? " (cancelled)" : "");
        var button = document.createElement("button");
        button.type = "button"; button.className = "button small primary"; button.textContent = "Check in";
        button.addEventListener("click", function () {
          if (!setup) { showSetup("Choose the session and door first."); return; }
          enqueue({ participant_id: p.id, session: setup.session, door: setup.door }, p.name);
          list.innerHTML = ""; $("manual-input").value = "";
          focusScanner();
        });
        li.appendChild(label); li.appendChild(button);
        list.appendChild(li);
      });
      if (!people.length) { var none = document.createElement("li"); none.textContent = "No one found."; list.appendChild(none); }
    }).catch(function () { list.innerHTML = "<li>Search needs the network.</li>"; });
  }

  // --- Start.
  renderRecent(); renderPending(); renderCount();
  if (setup) $("setup").hidden = true;
  loadSessions().then(function () { focusScanner(); flush(); });
})();
