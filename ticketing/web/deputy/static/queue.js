/* The reports waiting on this phone: one IndexedDB store, keyed by each report's Idempotency-Key.
   An entry: {key, user, created, attempts, next, state: "waiting" | "refused", error,
              fields: {name: value}, photos: [{name, type, blob}]}.
   Photos are kept as Blobs, so a report survives closing the page, a reload or a restart. */
(function () {
  "use strict";
  var DB = "suishoupai", STORE = "reports", VERSION = 1;
  var opening = null;

  function open() {
    if (!opening) {
      opening = new Promise(function (resolve, reject) {
        var req = indexedDB.open(DB, VERSION);
        req.onupgradeneeded = function () {
          if (!req.result.objectStoreNames.contains(STORE)) {
            req.result.createObjectStore(STORE, { keyPath: "key" });
          }
        };
        req.onsuccess = function () { resolve(req.result); };
        req.onerror = function () { opening = null; reject(req.error); };
      });
    }
    return opening;
  }

  function run(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var result;
        tx.oncomplete = function () { resolve(result); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error); };
        work(tx.objectStore(STORE), function (value) { result = value; });
      });
    });
  }

  window.SuishoupaiQueue = {
    /* Store a new report; resolves once it is safely written. */
    add: function (entry) {
      return run("readwrite", function (store) { store.add(entry); });
    },
    /* Replace an entry (its state, attempts, next try). */
    put: function (entry) {
      return run("readwrite", function (store) { store.put(entry); });
    },
    remove: function (key) {
      return run("readwrite", function (store) { store.delete(key); });
    },
    /* Every entry, oldest first. */
    all: function () {
      return run("readonly", function (store, done) {
        var req = store.getAll();
        req.onsuccess = function () {
          done(req.result.sort(function (a, b) { return a.created - b.created; }));
        };
      });
    }
  };
})();
