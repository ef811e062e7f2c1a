// Tessera's few page behaviours, loaded as a file: the Content-Security-Policy allows no
// inline script or event-handler attribute (core/web/security_headers.py).
(function () {
  "use strict";

  // Idle sign-out hint: after the clinic's idle period without a page load or htmx
  // request, go to the sign-in page. The period comes from #idle-signout, which every
  // full page (and every boosted navigation) brings along.
  var timer = 0;
  function arm() {
    clearTimeout(timer);
    var marker = document.getElementById("idle-signout");
    var seconds = marker ? parseInt(marker.getAttribute("data-idle-seconds"), 10) || 0 : 0;
    if (seconds > 0) {
      timer = setTimeout(function () {
        window.location.assign(
          "/login?reason=session_idle&next=" + encodeURIComponent(window.location.pathname)
        );
      }, seconds * 1000);
    }
  }
  document.addEventListener("DOMContentLoaded", arm);
  document.addEventListener("htmx:afterRequest", arm);
  document.addEventListener("htmx:afterSettle", arm);

  // <select data-submit-on-change>: submit its form when the choice changes.
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.hasAttribute && target.hasAttribute("data-submit-on-change") && target.form) {
      target.form.requestSubmit();
    }
  });

  // <input data-select-on-focus>: select the whole value (a link to copy).
  document.addEventListener("focusin", function (event) {
    var target = event.target;
    if (target && target.hasAttribute && target.hasAttribute("data-select-on-focus")) {
      target.select();
    }
  });
})();
