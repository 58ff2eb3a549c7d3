// Print button on the personal page (no inline scripts: the CSP forbids them).
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.addEventListener("click", function () { window.print(); });
});

// Times shown on the viewer's own clock.
document.querySelectorAll("time.local-time").forEach(function (el) {
  var when = new Date(el.getAttribute("datetime"));
  if (!isNaN(when)) el.textContent = when.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
});
