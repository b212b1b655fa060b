// The live suggestion bar of `wordrnn serve`: ask POST v1/complete for the text before the caret
// (debounced, with this page's session id so the server reads only what changed), show the words,
// and insert the one picked with Tab, a number key or a click. Plain JS, no dependencies.
"use strict";

(() => {
  const DEBOUNCE_MS = 40;        // one request per burst of keys, yet no visible lag
  const K = 5;                   // suggestions on the bar
  const BLOCK = 4096;            // long texts are cut at block boundaries, so the cut rarely moves
  const ATTACHED = new Set(".,;:!?)]}%…");   // written against the word before them
  const OPENING = new Set("([{\"'“‘");

  const box = document.getElementById("text");
  const bar = document.getElementById("bar");
  const status = document.getElementById("status");
  const digits = document.getElementById("digits");
  const session = newSessionId();
  let maxText = 20000;           // replaced by the server's limit from v1/info
  let shown = { text: null, prefix: "", words: [] };
  let timer = null;
  let latest = 0;                // number of the newest request; older answers are dropped

  function newSessionId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function before() {
    return box.value.slice(0, box.selectionStart);
  }

  // At most maxText characters, starting after a whitespace at a block boundary: as the text grows
  // the start stays put, so the server's session keeps its state instead of re-reading everything.
  function windowed(text) {
    if (text.length <= maxText) return text;
    let start = Math.ceil((text.length - maxText) / BLOCK) * BLOCK;
    const space = /\s/.exec(text.slice(start));
    if (space) start += space.index + 1;
    return text.slice(start);
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    return data;
  }

  async function refresh() {
    clearTimeout(timer);
    const text = before();
    const number = ++latest;
    return post("v1/complete", { text: windowed(text), k: K, session, complete_known_words: true })
      .then((data) => {
        if (number !== latest) return;
        const same = shown.text === text && JSON.stringify(shown.words) === JSON.stringify(data.suggestions);
        shown = { text, prefix: data.prefix, words: data.suggestions };
        status.textContent = "";
        if (!same) render();   // an identical answer leaves the bar alone: no flicker
      })
      .catch((error) => {
        if (number !== latest) return;
        shown = { text: null, prefix: "", words: [] };
        status.textContent = error instanceof TypeError ? "the server is not answering" : `error: ${error.message}`;
        render();
      });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, DEBOUNCE_MS);
  }

  function percent(p) {
    if (p === null) return "";
    return p >= 0.001 ? `${(p * 100).toFixed(p >= 0.1 ? 0 : 1)}%` : "<0.1%";
  }

  function render() {
    bar.replaceChildren();
    bar.dataset.text = shown.text === null ? "" : shown.text;
    bar.dataset.ready = shown.text === null ? "false" : "true";
    shown.words.forEach((suggestion, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "suggestion";
      button.setAttribute("role", "option");
      button.dataset.index = String(index);
      button.dataset.word = suggestion.word;
      const key = document.createElement("kbd");
      key.textContent = index < 9 ? String(index + 1) : "·";
      const word = document.createElement("span");
      word.className = "word";
      word.textContent = suggestion.word;
      const prob = document.createElement("span");
      prob.className = "prob";
      prob.textContent = percent(suggestion.prob);
      button.append(key, word, prob);
      bar.append(button);
    });
    if (!shown.words.length && shown.prefix) {
      const note = document.createElement("span");
      note.className = "empty";
      note.textContent = `no word starts with “${shown.prefix}”`;
      bar.append(note);
    }
  }

  // How accepting `word` edits the text before the caret: [characters to delete, text to insert].
  // The same rules as the terminal REPL: the partial word is replaced by the word and a space,
  // punctuation is written against the word before it, a word after a finished word gets a space.
  function insertion(text, prefix, word) {
    const length = Array.from(prefix).length;   // the server counts characters, JS counts UTF-16 units
    const cut = length ? Array.from(text).slice(-length).join("").length : 0;
    const stem = text.slice(0, text.length - cut);
    if (word && Array.from(word).every((c) => ATTACHED.has(c))) {
      return [cut + stem.length - stem.replace(/ +$/, "").length, word + " "];
    }
    if (stem && !prefix && !/\s$/.test(stem) && !OPENING.has(stem[stem.length - 1])) {
      return [cut, " " + word + " "];
    }
    return [cut, word + " "];
  }

  async function accept(index) {
    if (shown.text !== before()) await refresh();   // typed since: pick from the current suggestions
    if (index >= shown.words.length || shown.text !== before()) return;
    const caret = box.selectionStart;
    const [remove, insert] = insertion(before(), shown.prefix, shown.words[index].word);
    box.setRangeText(insert, caret - remove, box.selectionEnd, "end");
    box.focus();
    refresh();
  }

  function pickedIndex(event) {
    if (event.ctrlKey || event.metaKey) return null;
    const code = /^(?:Digit|Numpad)([1-9])$/.exec(event.code || "");
    if (event.altKey) return code ? Number(code[1]) - 1 : null;
    if (!digits.checked || !/^[1-9]$/.test(event.key)) return null;
    return Number(event.key) - 1;
  }

  box.addEventListener("keydown", (event) => {
    if (event.key === "Tab" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey) {
      if (shown.words.length || shown.text !== before()) {
        event.preventDefault();
        accept(0);
      }
      return;
    }
    const index = pickedIndex(event);
    if (index !== null && shown.text === before() && index < shown.words.length) {
      event.preventDefault();
      accept(index);
    }
  });
  box.addEventListener("input", schedule);
  document.addEventListener("selectionchange", () => {
    if (document.activeElement === box && before() !== shown.text) schedule();
  });
  bar.addEventListener("mousedown", (event) => event.preventDefault());   // keep the caret in the text box
  bar.addEventListener("click", (event) => {
    const button = event.target.closest(".suggestion");
    if (button) accept(Number(button.dataset.index));
  });
  window.addEventListener("pagehide", () => {
    fetch(`v1/sessions/${session}`, { method: "DELETE", keepalive: true }).catch(() => {});
  });

  fetch("v1/info")
    .then((response) => response.json())
    .then((info) => {
      const server = info.server || {};
      document.getElementById("model").textContent = `${server.name || info.path} (${server.runtime || "?"})`;
      if (server.limits && server.limits.max_text) maxText = server.limits.max_text;
    })
    .catch(() => { document.getElementById("model").textContent = "unknown (the server did not answer)"; });
  refresh();
})();
