// facesift: the review workspace (issue 13). Plain JS, no library, from this file only (the
// Content-Security-Policy allows no inline script). Without it every page still works: the
// people are a list, the decision form is a form. On a list marked [data-workspace] it adds:
//
// - keyboard: j or n moves to the next person, k or p to the previous (not while typing);
//   z zooms the current person's pair of faces, f flickers it; on a compare page (.compare-nav)
//   j / k open the next or previous candidate;
// - zoom: [data-zoom-toggle] makes the probe's face and the candidate's larger;
// - flicker: [data-flicker] lays the candidate's face over the probe's, both as chips aligned
//   at their five landmarks (eyes on eyes: services/face_chips.py), and alternates them
//   every 0.5 s; [data-fade] sets how much of the candidate shows.
(function () {
  "use strict";

  var FLICKER_MS = 500;

  function people(list) {
    return Array.prototype.slice.call(list.querySelectorAll("[data-person]"));
  }

  function setCurrent(list, person) {
    people(list).forEach(function (p) { p.classList.toggle("is-current", p === person); });
    person.focus({ preventScroll: true });
    person.scrollIntoView({ block: "start", behavior: "auto" });
  }

  function current(list) {
    return list.querySelector("[data-person].is-current") || people(list)[0];
  }

  function step(list, by) {
    var all = people(list);
    var at = all.indexOf(current(list));
    var next = all[Math.min(all.length - 1, Math.max(0, at + by))];
    if (next) {
      setCurrent(list, next);
    }
  }

  function pairOf(person) {
    return person.querySelector("[data-pair]");
  }

  // Overlaid, both faces are shown as chips aligned at their landmarks (data-aligned-src),
  // so the eyes fall on the eyes; side by side, the plain crops again.
  function overlay(pair, on) {
    pair.classList.toggle("is-overlaid", on);
    pair.querySelectorAll("img[data-aligned-src]").forEach(function (img) {
      if (on && !img.hasAttribute("data-plain-src")) {
        img.setAttribute("data-plain-src", img.getAttribute("src"));
        img.setAttribute("src", img.getAttribute("data-aligned-src"));
      } else if (!on && img.hasAttribute("data-plain-src")) {
        img.setAttribute("src", img.getAttribute("data-plain-src"));
        img.removeAttribute("data-plain-src");
      }
    });
  }

  function press(button, on) {
    button.setAttribute("aria-pressed", String(on));
  }

  function toggleZoom(person) {
    var pair = pairOf(person);
    var on = !pair.classList.contains("is-zoomed");
    pair.classList.toggle("is-zoomed", on);
    var button = person.querySelector("[data-zoom-toggle]");
    if (button) {
      press(button, on);
    }
  }

  function stopFlicker(person) {
    var pair = pairOf(person);
    if (pair.flickerTimer) {
      window.clearInterval(pair.flickerTimer);
      pair.flickerTimer = null;
    }
    pair.classList.remove("is-flickering", "flicker-probe");
    var range = person.querySelector("[data-fade]");
    if (!range || Number(range.value) >= 100) {
      overlay(pair, false);  // back side by side
    }
    var button = person.querySelector("[data-flicker]");
    if (button) {
      press(button, false);
    }
  }

  function toggleFlicker(person) {
    var pair = pairOf(person);
    if (pair.flickerTimer) {
      stopFlicker(person);
      return;
    }
    overlay(pair, true);
    pair.classList.add("is-flickering");
    pair.flickerTimer = window.setInterval(function () {
      pair.classList.toggle("flicker-probe");
    }, FLICKER_MS);
    var button = person.querySelector("[data-flicker]");
    if (button) {
      press(button, true);
    }
  }

  function fade(person, value) {
    var pair = pairOf(person);
    stopFlicker(person);
    overlay(pair, Number(value) < 100);
    var top = pair.querySelector(".chip-candidate img");
    if (top) {
      // 100: the candidate only (side by side); lower lets the probe show through.
      top.style.opacity = Number(value) < 100 ? String(Number(value) / 100) : "";
    }
  }

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" ||
      (tag === "INPUT" && !/^(checkbox|radio|range|button|submit)$/.test(target.type));
  }

  function setUp(list) {
    people(list).forEach(function (person) {
      person.addEventListener("focusin", function () {
        people(list).forEach(function (p) { p.classList.toggle("is-current", p === person); });
      });
      var zoom = person.querySelector("[data-zoom-toggle]");
      if (zoom) {
        zoom.addEventListener("click", function () { toggleZoom(person); });
      }
      var flicker = person.querySelector("[data-flicker]");
      if (flicker) {
        flicker.addEventListener("click", function () { toggleFlicker(person); });
      }
      var range = person.querySelector("[data-fade]");
      if (range) {
        range.addEventListener("input", function () { fade(person, range.value); });
      }
      person.querySelectorAll("[data-person-next], [data-person-prev]").forEach(function (link) {
        link.addEventListener("click", function (event) {
          event.preventDefault();
          people(list).forEach(function (p) { p.classList.toggle("is-current", p === person); });
          step(list, link.hasAttribute("data-person-next") ? 1 : -1);  // from this card
        });
      });
    });
    document.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) {
        return;
      }
      var key = event.key;
      if (key === "j" || key === "n") {
        step(list, 1);
      } else if (key === "k" || key === "p") {
        step(list, -1);
      } else if (key === "z") {
        toggleZoom(current(list));
      } else if (key === "f") {
        toggleFlicker(current(list));
      } else {
        return;
      }
      event.preventDefault();
    });
    var first = people(list)[0];
    if (first) {
      first.classList.add("is-current");
    }
  }

  // On a compare page: j or n opens the next candidate, k or p the previous.
  function setUpCompare(nav) {
    document.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) {
        return;
      }
      var rel = { j: "next", n: "next", k: "prev", p: "prev" }[event.key];
      var link = rel && nav.querySelector('a[rel="' + rel + '"]');
      if (link) {
        event.preventDefault();
        window.location.assign(link.href);
      }
    });
  }

  function start() {
    var list = document.querySelector("[data-workspace]");
    if (list) {
      setUp(list);
    }
    var nav = document.querySelector(".compare-nav");
    if (nav) {
      setUpCompare(nav);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
