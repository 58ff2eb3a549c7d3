// Watch page: keeps a socket open so the organisers see you watching, and
// reconnects after a network drop.
(function () {
  "use strict";
  var root = document.getElementById("watch");
  var status = document.getElementById("presence");
  var retryMs = 1000;
  function connect() {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var url = proto + "//" + location.host + "/ws/watch/" + encodeURIComponent(root.dataset.token) + "/" + encodeURIComponent(root.dataset.session);
    var socket = new WebSocket(url);
    var ping = null;
    socket.onopen = function () {
      retryMs = 1000;
      status.textContent = "You are counted as watching";
      status.className = "conn conn-live";
      ping = setInterval(function () { socket.send("ping"); }, 5000);
    };
    socket.onclose = function () {
      clearInterval(ping);
      status.textContent = "Reconnecting…";
      status.className = "conn conn-off";
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 15000);
    };
  }
  connect();
})();
