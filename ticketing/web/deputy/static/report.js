/* Snap and report, enhanced. Without this script the form posts itself (deputy.submit).

   With it: photo previews (add several, remove one), the position from the phone or a pin on
   the map (the server takes the photo's GPS position when neither is given), the domain tiles,
   nearby open tickets of the same category ("same problem? follow it instead"), and a queue.

   The queue: on submit the report is written to IndexedDB (photos as Blobs) with an
   Idempotency-Key made once for it, then sent to POST /api/v1/tickets. A network failure, a
   5xx or a 409 race keeps it for another try (on the "online" event, and with a growing
   delay); the server answers a repeated key with the first response, so a report whose
   answer was lost on the way back is never created twice. An entry leaves the queue only
   once the server has answered 201. A refusal (4xx) stays visible with the reason. */
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form || !window.indexedDB || !window.fetch || !window.FormData || !window.Promise || !window.SuishoupaiQueue) {
    return;
  }
  var Queue = window.SuishoupaiQueue;
  var t = JSON.parse(document.getElementById("report-i18n").textContent);
  var userId = form.getAttribute("data-user");
  var apiUrl = form.getAttribute("data-api");
  var ticketUrl = form.getAttribute("data-ticket");
  var tokenUrl = form.getAttribute("data-token");
  var nearbyUrl = form.getAttribute("data-nearby");
  var maxPhotos = parseInt(t.max_photos, 10) || 9;
  var csrf = form.querySelector("input[name=csrf_token]").value;

  form.classList.add("enhanced");
  Array.prototype.forEach.call(document.querySelectorAll(".js-only"), function (el) { el.hidden = false; });

  function fill(template, value) { return template.replace("{n}", value); }

  /* ------------------------------------------------------------------ photos */
  var input = document.getElementById("photos");
  var previews = document.getElementById("previews");
  var chosen = [];
  var urls = [];

  function syncInput() {
    try {
      var dt = new DataTransfer();
      chosen.forEach(function (f) { dt.items.add(f); });
      input.files = dt.files;
    } catch (e) { /* old browsers: the list below is what gets sent */ }
    input.setCustomValidity(chosen.length ? "" : t.need_photo);
  }

  function renderPreviews() {
    urls.forEach(function (u) { URL.revokeObjectURL(u); });
    urls = [];
    previews.textContent = "";
    chosen.forEach(function (file, i) {
      var li = document.createElement("li");
      var img = document.createElement("img");
      var url = URL.createObjectURL(file);
      urls.push(url);
      img.src = url;
      img.alt = fill(t.photo_n, i + 1);
      img.onerror = function () {  /* a format this browser cannot show (HEIC): its name instead */
        var name = document.createElement("span");
        name.className = "name";
        name.textContent = file.name;
        img.replaceWith(name);
      };
      var remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "×";
      remove.setAttribute("aria-label", fill(t.remove_photo, i + 1));
      remove.addEventListener("click", function () {
        chosen.splice(i, 1);
        syncInput();
        renderPreviews();
        input.focus();
      });
      li.appendChild(img);
      li.appendChild(remove);
      previews.appendChild(li);
    });
  }

  input.addEventListener("change", function () {
    var tooMany = false;
    Array.prototype.forEach.call(input.files, function (f) {
      if (chosen.indexOf(f) !== -1) { return; }
      if (chosen.length < maxPhotos) { chosen.push(f); } else { tooMany = true; }
    });
    syncInput();
    renderPreviews();
    if (tooMany) { say(t.too_many); }
  });
  syncInput();

  /* ------------------------------------------------------------------ location */
  var lonIn = document.getElementById("lon");
  var latIn = document.getElementById("lat");
  var locStatus = document.getElementById("loc-status");
  var mapEl = document.getElementById("pin-map");
  var source = null;  /* "device", "pin" or "typed": a person's choice is never overwritten by the phone */
  var map = null, marker = null;

  if (window.L && window.SuishoupaiMap) {
    mapEl.hidden = false;
    var created = window.SuishoupaiMap.create(mapEl, {});
    map = created.map;
    map.on("click", function (e) { setPoint(e.latlng.lng, e.latlng.lat, "pin"); });
    /* The boundary layer fits the view to the district once loaded: keep a pin placed before that in view. */
    created.ready.then(function () {
      if (marker) { map.setView(marker.getLatLng(), 17); }
    }).catch(function () {});
  } else {
    mapEl.hidden = true;
  }

  function placeMarker(lon, lat, zoom) {
    if (!map) { return; }
    if (!marker) {
      marker = window.L.marker([lat, lon], { draggable: true, autoPan: true }).addTo(map);
      marker.on("dragend", function () {
        var p = marker.getLatLng();
        setPoint(p.lng, p.lat, "pin");
      });
    } else {
      marker.setLatLng([lat, lon]);
    }
    if (zoom) { map.setView([lat, lon], zoom); }
  }

  function setPoint(lon, lat, how, accuracy, keepInputs) {
    source = how;
    if (!keepInputs) {
      lonIn.value = lon.toFixed(6);
      latIn.value = lat.toFixed(6);
    }
    placeMarker(lon, lat, how === "device" ? 17 : (how === "typed" ? 16 : null));
    if (how === "device") {
      locStatus.textContent = fill(t.located, Math.round(accuracy || 0));
    } else {
      locStatus.textContent = how === "pin" ? t.pinned : t.typed;
    }
    scheduleNearby();
  }

  function typed() {
    var lon = parseFloat(lonIn.value), lat = parseFloat(latIn.value);
    if (isFinite(lon) && isFinite(lat) && Math.abs(lon) <= 180 && Math.abs(lat) <= 90) {
      setPoint(lon, lat, "typed", 0, true);
    }
  }
  lonIn.addEventListener("change", typed);
  latIn.addEventListener("change", typed);

  function locate(byHand) {
    if (!navigator.geolocation) {
      locStatus.textContent = t.no_device;
      return;
    }
    locStatus.textContent = t.locating;
    navigator.geolocation.getCurrentPosition(function (pos) {
      if (source === "pin" || source === "typed") {
        if (!byHand) { return; }
      }
      setPoint(pos.coords.longitude, pos.coords.latitude, "device", pos.coords.accuracy);
    }, function () {
      if (!source) { locStatus.textContent = t.no_device; }
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }
  document.getElementById("locate").addEventListener("click", function () { locate(true); });

  /* ------------------------------------------------------------------ category */
  var picker = document.getElementById("category-picker");
  var groups = picker.querySelectorAll(".subs");

  function showDomain(code) {
    Array.prototype.forEach.call(groups, function (g) {
      var mine = g.getAttribute("data-domain") === code;
      g.classList.toggle("shown", mine);
      if (!mine) {
        Array.prototype.forEach.call(g.querySelectorAll("input:checked"), function (i) { i.checked = false; });
      }
    });
  }
  picker.addEventListener("change", function (e) {
    if (e.target.name === "domain") { showDomain(e.target.value); }
    if (e.target.name === "category") { scheduleNearby(); }
  });
  var checkedDomain = picker.querySelector("input[name=domain]:checked");
  var checkedCategory = picker.querySelector("input[name=category]:checked");
  if (!checkedDomain && checkedCategory) {
    checkedDomain = document.getElementById("domain-" + checkedCategory.closest(".subs").getAttribute("data-domain"));
    checkedDomain.checked = true;
  }
  if (checkedDomain) { showDomain(checkedDomain.value); }

  /* ------------------------------------------------------------------ same problem nearby? */
  var nearby = document.getElementById("nearby");
  var nearbyTimer = null;

  function scheduleNearby() {
    clearTimeout(nearbyTimer);
    nearbyTimer = setTimeout(loadNearby, 300);
  }

  function loadNearby() {
    var category = picker.querySelector("input[name=category]:checked");
    if (!category || !lonIn.value || !latIn.value || !navigator.onLine) {
      nearby.hidden = true;
      return;
    }
    var query = new URLSearchParams({ category: category.value, lon: lonIn.value, lat: latIn.value });
    fetch(nearbyUrl + "?" + query.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        /* Rendered by the server (Jinja, escaped): the offers and their follow buttons. */
        nearby.innerHTML = html;
        nearby.hidden = !html.trim();
      })
      .catch(function () { nearby.hidden = true; });
  }

  /* ------------------------------------------------------------------ the queue */
  var queueBox = document.getElementById("queue");
  var queueCount = document.getElementById("queue-count");
  var queueItems = document.getElementById("queue-items");
  var offlineNote = document.getElementById("offline");
  var sentBox = document.getElementById("sent");
  var sentNow = {};
  var flushing = null;
  var retryTimer = null;

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function say(text) {
    locStatus.textContent = text;
  }

  function render() {
    offlineNote.hidden = navigator.onLine;
    offlineNote.textContent = navigator.onLine ? "" : t.offline;
    return Queue.all().then(function (entries) {
      var mine = entries.filter(function (e) { return e.user === userId; });
      var waiting = mine.filter(function (e) { return e.state !== "refused"; }).length;
      queueBox.hidden = mine.length === 0;
      queueCount.textContent = waiting === 0 ? "" : (waiting === 1 ? t.waiting_one : fill(t.waiting_many, waiting));
      queueItems.textContent = "";
      mine.forEach(function (e) {
        var li = document.createElement("li");
        var what = document.createElement("span");
        what.textContent = (e.fields.description || "").slice(0, 40) + " · " + fill(t.photos_n, e.photos.length);
        var state = document.createElement("span");
        if (e.state === "refused") {
          state.className = "refused";
          state.textContent = t.state_refused + " " + e.error;
          var remove = document.createElement("button");
          remove.type = "button";
          remove.className = "secondary";
          remove.textContent = t.remove;
          remove.addEventListener("click", function () { Queue.remove(e.key).then(render); });
          li.appendChild(what);
          li.appendChild(state);
          li.appendChild(remove);
        } else {
          state.textContent = e.error ? e.error : (!navigator.onLine ? t.state_waiting :
            (e.attempts ? t.state_retry : t.state_sending));
          li.appendChild(what);
          li.appendChild(state);
        }
        queueItems.appendChild(li);
      });
      return mine;
    });
  }

  function showSent(number) {
    var p = document.createElement("p");
    p.className = "flash ok";
    p.appendChild(document.createTextNode(fill(t.sent, number) + " "));
    var a = document.createElement("a");
    a.href = ticketUrl.replace("__N__", encodeURIComponent(number));
    a.textContent = t.open;
    p.appendChild(a);
    sentBox.appendChild(p);
  }

  function refreshToken() {
    return fetch(tokenUrl, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { if (body && body.csrf_token) { csrf = body.csrf_token; } })
      .catch(function () {});
  }

  function refusal(code, body) {
    if (code === "location_required") { return t.location_required; }
    if (code && code.indexOf("photo") === 0) { return t.photo_rejected; }
    var message = body && body.error && body.error.message;
    return message ? t.refused + " (" + message + ")" : t.refused;
  }

  /* One attempt: {ok, number} | {retry, message} | {refused, message}. */
  function send(entry, tokenRetried) {
    var data = new FormData();
    Object.keys(entry.fields).forEach(function (name) {
      if (entry.fields[name] !== "" && entry.fields[name] !== null) { data.append(name, entry.fields[name]); }
    });
    entry.photos.forEach(function (p) { data.append("photos", p.blob, p.name || "photo.jpg"); });
    return fetch(apiUrl, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "Idempotency-Key": entry.key, "X-CSRFToken": csrf, "Accept": "application/json" }
    }).then(function (resp) {
      return resp.json().catch(function () { return null; }).then(function (body) {
        var code = body && body.error && body.error.code;
        if (resp.status === 201 || resp.status === 200) { return { ok: true, number: body && body.number }; }
        if (resp.status === 403 && code === "csrf_failed" && !tokenRetried) {
          return refreshToken().then(function () { return send(entry, true); });
        }
        if (resp.status === 401 || resp.status === 403 && code === "csrf_failed") {
          return { retry: true, message: t.sign_in_again };
        }
        if (resp.status >= 500 || resp.status === 408 || resp.status === 429 ||
            (resp.status === 409 && code !== "idempotency_key_reused")) {
          return { retry: true };
        }
        return { refused: true, message: refusal(code, body) };
      });
    }, function () {
      return { retry: true };  /* no answer at all: offline, or the connection broke */
    });
  }

  function backoff(attempts) {
    var base = Math.min(300000, 2000 * Math.pow(2, Math.min(attempts, 10)));
    return base * (0.8 + Math.random() * 0.4);
  }

  function schedule(entries) {
    clearTimeout(retryTimer);
    var next = entries.filter(function (e) { return e.state !== "refused"; })
      .reduce(function (soonest, e) { return Math.min(soonest, e.next || 0); }, Infinity);
    if (next !== Infinity && navigator.onLine) {
      retryTimer = setTimeout(function () { flush(); }, Math.max(0, next - Date.now()));
    }
  }

  /* Send what waits, one at a time, oldest first; `now` also sends those whose retry is not due. */
  function pass(now) {
    return Queue.all().then(function (entries) {
      var mine = entries.filter(function (e) { return e.user === userId && e.state !== "refused"; });
      return mine.reduce(function (chain, entry) {
        return chain.then(function () {
          if (!navigator.onLine || (!now && entry.next && entry.next > Date.now())) { return; }
          return render().then(function () { return send(entry); }).then(function (result) {
            if (result.ok) {
              sentNow[entry.key] = result.number;
              showSent(result.number);
              return Queue.remove(entry.key);
            }
            if (result.retry) {
              entry.attempts += 1;
              entry.next = Date.now() + backoff(entry.attempts);
              entry.error = result.message || "";
              return Queue.put(entry);
            }
            entry.state = "refused";
            entry.error = result.message;
            return Queue.put(entry);
          });
        });
      }, Promise.resolve());
    }).then(render).then(schedule);
  }

  /* One pass at a time in this page, and across the tabs of this browser when it can say so. */
  function flush(now) {
    if (flushing) { return flushing; }
    var work = function () { return pass(now); };
    var locked = navigator.locks ? navigator.locks.request("suishoupai-report-queue", work) : work();
    flushing = Promise.resolve(locked).catch(function () {}).then(function () { flushing = null; });
    return flushing;
  }

  function fields() {
    var category = picker.querySelector("input[name=category]:checked");
    var privateBox = form.querySelector("input[name=visibility]");
    return {
      category: category ? category.value : "",
      description: form.querySelector("textarea[name=description]").value,
      lon: lonIn.value.trim(),
      lat: latIn.value.trim(),
      crs: "wgs84",
      address: form.querySelector("input[name=address]").value,
      visibility: privateBox && privateBox.checked ? "private" : "public"
    };
  }

  function resetForm() {
    form.reset();
    chosen = [];
    syncInput();
    renderPreviews();
    showDomain(null);
    nearby.hidden = true;
    nearby.textContent = "";
    source = null;
    locate(false);
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    syncInput();
    if (!form.reportValidity()) {
      if (!chosen.length) { say(t.need_photo); }
      return;
    }
    var entry = {
      key: newKey(),  /* once per report: every retry sends the same key */
      user: userId,
      created: Date.now(),
      attempts: 0,
      next: 0,
      state: "waiting",
      error: "",
      fields: fields(),
      photos: chosen.map(function (f) { return { name: f.name, type: f.type, blob: new Blob([f], { type: f.type }) }; })
    };
    var button = document.getElementById("submit");
    button.disabled = true;
    Queue.add(entry).then(function () {
      resetForm();
      return render();
    }, function () {
      /* No IndexedDB here (a private window, no space): post the form as it is, without the queue. */
      say(t.store_failed);
      HTMLFormElement.prototype.submit.call(form);
      throw new Error("not queued");
    }).then(function () {
      return flush(true);
    }).then(function () {
      if (sentNow[entry.key]) {
        window.location.assign(ticketUrl.replace("__N__", encodeURIComponent(sentNow[entry.key])));
      }
    }).catch(function () {}).then(function () { button.disabled = false; });
  });

  window.addEventListener("online", function () { render(); flush(true); });
  window.addEventListener("offline", function () { render(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { flush(); }
  });

  render().then(function () { return flush(true); });
  locate(false);
})();
