// facesift: the little behaviour the pages need. Plain JS from this file only (the
// Content-Security-Policy allows no inline script). Every page works without it; it adds:
//
// - confirm dialogs: a <form data-confirm="Question?">, or a submit button with data-confirm,
//   asks before it is sent, and is not sent unless the user agrees;
// - face pickers: in a .face-picker-image (data-name="RADIO NAME"), each button.face-box is
//   placed over its face from data-box="LEFT TOP WIDTH HEIGHT" (percent of the photo; set from
//   script because the CSP forbids style attributes), and clicking it checks the radio input
//   of that name whose value is the button's data-face. The radio stays the real form field;
// - box drawers: dragging on a .box-drawer's photo draws a box and fills the form's x1 y1 x2 y2
//   inputs (in the photo's own pixels); typing in them moves the box (the keyboard's way);
// - stacked tables: each body cell of a table with a <thead> gets its column's heading as
//   data-label, and the table the class is-stacked, so that at phone width app.css shows each
//   row as a card of labelled fields (no sideways scroll; a row's actions stay on screen).
(function () {
  "use strict";

  // ---- confirm dialogs -------------------------------------------------------------------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var message =
      (submitter && submitter.getAttribute("data-confirm")) ||
      (form && form.getAttribute && form.getAttribute("data-confirm"));
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // ---- face pickers ----------------------------------------------------------------------

  function radiosFor(picker) {
    var name = picker.getAttribute("data-name") || "face";
    var scope = picker.closest("form") || document;
    return Array.prototype.filter.call(
      scope.querySelectorAll('input[type="radio"]'),
      function (input) { return input.name === name; }
    );
  }

  function showSelection(picker) {
    var checked = radiosFor(picker).filter(function (input) { return input.checked; })[0];
    var value = checked ? checked.value : null;
    picker.querySelectorAll(".face-box").forEach(function (box) {
      box.setAttribute("aria-pressed", String(box.getAttribute("data-face") === value));
    });
  }

  function placeBox(box) {
    var parts = (box.getAttribute("data-box") || "").trim().split(/[\s,]+/).map(Number);
    var valid = parts.length === 4 && parts.every(function (n) { return isFinite(n); });
    if (!valid) {
      return;
    }
    box.style.left = parts[0] + "%";
    box.style.top = parts[1] + "%";
    box.style.width = parts[2] + "%";
    box.style.height = parts[3] + "%";
    box.classList.add("is-placed");
  }

  function setUpPicker(picker) {
    var radios = radiosFor(picker);
    picker.querySelectorAll(".face-box").forEach(function (box) {
      placeBox(box);
      box.addEventListener("click", function () {
        var face = box.getAttribute("data-face");
        var radio = radios.filter(function (input) { return input.value === face; })[0];
        if (!radio) {
          return;
        }
        radio.checked = true;
        radio.dispatchEvent(new Event("change", { bubbles: true }));
        showSelection(picker);
      });
    });
    radios.forEach(function (input) {
      input.addEventListener("change", function () { showSelection(picker); });
    });
    showSelection(picker);
  }

  // ---- face zoom: img.face-zoom data-zoom="LEFT TOP WIDTH HEIGHT" (percent) shows that face
  // with a margin around it (object-view-box); without JS, or where unsupported, the whole photo.

  function zoom(img) {
    var parts = (img.getAttribute("data-zoom") || "").trim().split(/[\s,]+/).map(Number);
    if (parts.length !== 4 || !parts.every(function (n) { return isFinite(n); })) {
      return;
    }
    var margin = 0.35 * Math.max(parts[2], parts[3]);
    var left = Math.max(0, parts[0] - margin);
    var top = Math.max(0, parts[1] - margin);
    var right = Math.max(0, 100 - (parts[0] + parts[2] + margin));
    var bottom = Math.max(0, 100 - (parts[1] + parts[3] + margin));
    img.style.setProperty("object-view-box",
      "inset(" + top + "% " + right + "% " + bottom + "% " + left + "%)");
  }

  // ---- stacked tables --------------------------------------------------------------------

  function stackTable(table) {
    var headings = table.querySelectorAll("thead tr:first-child > th");
    if (!headings.length) {
      return;
    }
    var labels = Array.prototype.map.call(headings, function (th) {
      return th.textContent.trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (!cell.textContent.trim() && !cell.querySelector("img, input, button, select")) {
          cell.classList.add("is-empty");  // no label over nothing on a stacked card
        } else if (cell.colSpan === 1 && labels[i]) {
          cell.setAttribute("data-label", labels[i]);
        }
      });
    });
    table.classList.add("is-stacked");
  }

  // ---- box drawers: drag on .box-drawer's photo to draw a box; its four number inputs
  // (x1 y1 x2 y2, in the photo's own pixels; data-width, data-height) follow the drag, and
  // typing in them moves the box. The inputs are the form's real fields, and the way in
  // without a pointer.

  function setUpDrawer(drawer) {
    var form = drawer.closest("form");
    var img = drawer.querySelector("img");
    var shown = drawer.querySelector(".drawn-box");
    var field = function (name) { return form.querySelector('input[name="' + name + '"]'); };
    var inputs = ["x1", "y1", "x2", "y2"].map(field);
    var width = Number(drawer.getAttribute("data-width"));
    var height = Number(drawer.getAttribute("data-height"));
    if (!img || !shown || inputs.some(function (i) { return !i; }) || !width || !height) {
      return;
    }
    var start = null;

    function clamp(value, most) { return Math.max(0, Math.min(most, Math.round(value))); }

    function photoPoint(event) {  // the pointer in the photo's own pixels
      var rect = img.getBoundingClientRect();
      return [
        clamp((event.clientX - rect.left) * width / rect.width, width),
        clamp((event.clientY - rect.top) * height / rect.height, height),
      ];
    }

    function show() {
      var v = inputs.map(function (i) { return Number(i.value); });
      if (!v.every(isFinite) || v[2] <= v[0] || v[3] <= v[1]) {
        shown.hidden = true;
        return;
      }
      shown.style.left = (100 * v[0] / width) + "%";
      shown.style.top = (100 * v[1] / height) + "%";
      shown.style.width = (100 * (v[2] - v[0]) / width) + "%";
      shown.style.height = (100 * (v[3] - v[1]) / height) + "%";
      shown.hidden = false;
    }

    function setBox(a, b) {
      var box = [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
      inputs.forEach(function (input, i) { input.value = String(box[i]); });
      show();
    }

    drawer.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) {
        return;
      }
      event.preventDefault();
      start = photoPoint(event);
      drawer.setPointerCapture(event.pointerId);
      setBox(start, start);
    });
    drawer.addEventListener("pointermove", function (event) {
      if (start) {
        setBox(start, photoPoint(event));
      }
    });
    var finish = function (event) {
      if (start) {
        setBox(start, photoPoint(event));
        start = null;
      }
    };
    drawer.addEventListener("pointerup", finish);
    drawer.addEventListener("pointercancel", function () { start = null; });
    inputs.forEach(function (input) { input.addEventListener("input", show); });
    show();
  }

  function start() {
    document.querySelectorAll("table").forEach(stackTable);
    document.querySelectorAll(".face-picker-image").forEach(setUpPicker);
    document.querySelectorAll("img.face-zoom[data-zoom]").forEach(zoom);
    document.querySelectorAll(".box-drawer").forEach(setUpDrawer);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
