// earshot's playground. Every call goes to the same /v1 routes any client
// uses, with the key the user typed (kept in sessionStorage: this tab only).
const $ = (id) => document.getElementById(id);
const origin = location.origin;
const state = { id: null, file: null, fileName: "audio.wav", url: null, live: null, recorder: null };

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}
const time = (s) => (s == null ? "" : `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`);
const span = (a, b) => (a == null ? "" : `${time(a)}–${time(b)}`);

function key() { return $("key").value.trim(); }
function headers() { return key() ? { Authorization: `Bearer ${key()}` } : {}; }
function status(text) { $("status").textContent = text; }

// showError renders an API error as the API gave it: status, code, message.
function showError(err) {
  const box = $("error");
  box.hidden = false;
  box.textContent = err.status ? `${err.status} ${err.code || err.type || ""}: ${err.message}` : String(err.message || err);
  status("");
}
function clearError() { $("error").hidden = true; $("error").textContent = ""; }

async function api(path, init = {}) {
  const res = await fetch(origin + path, { ...init, headers: { ...headers(), ...(init.headers || {}) } });
  const text = await res.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  if (!res.ok) {
    const e = (body && body.error) || {};
    throw { status: res.status, code: e.code, type: e.type, message: e.message || text || res.statusText };
  }
  return body;
}

async function loadModels() {
  try {
    const list = await api("/v1/models");
    const sel = $("model");
    sel.replaceChildren(...list.data.map((m) => el("option", { value: m.id }, m.id)));
  } catch (e) {
    if (e.status === 401) return; // asked again once a key is typed
    showError(e);
  }
}

// transcribe decodes once (raw, kept by the server) and reads the kept
// transcript back as clean and agent: all three panes from one decode.
async function transcribe(file, name) {
  clearError();
  state.file = file;
  state.fileName = name || file.name || "audio.wav";
  if (state.url) URL.revokeObjectURL(state.url);
  state.url = URL.createObjectURL(file);
  $("player").src = state.url;
  $("player").hidden = false;
  renderSnippet();
  const form = new FormData();
  form.append("file", file, state.fileName);
  if ($("model").value) form.append("model", $("model").value);
  if ($("language").value) form.append("language", $("language").value);
  form.append("mode", "raw");
  status(`Transcribing ${state.fileName}…`);
  const started = performance.now();
  try {
    const raw = await api("/v1/transcriptions", { method: "POST", body: form });
    state.id = raw.transcript_id;
    renderRaw(raw);
    const clean = await api(`/v1/transcriptions/${encodeURIComponent(state.id)}?mode=clean`);
    renderClean(clean);
    await refreshAgent();
    status(`${state.fileName}: ${(raw.duration || 0).toFixed(1)} s of audio in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
  } catch (e) {
    showError(e);
  }
}

async function refreshAgent() {
  if (!state.id) return;
  const budget = Number($("max-tokens").value);
  const q = new URLSearchParams({ mode: "agent" });
  if (budget > 0) q.set("max_tokens", String(budget));
  try {
    renderAgent(await api(`/v1/transcriptions/${encodeURIComponent(state.id)}?${q}`), $("agent"), $("agent-tokens"));
  } catch (e) {
    showError(e);
  }
}

function renderRaw(raw) {
  $("raw-meta").textContent = [raw.language && `language ${raw.language}` + (raw.language_probability ? ` (${(raw.language_probability * 100).toFixed(0)}%)` : ""),
    raw.duration != null && `${raw.duration.toFixed(1)} s`, raw.vad && `VAD ${raw.vad}`].filter(Boolean).join(" · ");
  const list = (raw.segments || []).map((s) => el("li", {}, el("button", {
    type: "button", class: "segment", "data-start": String(s.start),
    "aria-label": `Play from ${time(s.start)}: ${s.text.trim()}`,
    onclick: () => { const p = $("player"); p.currentTime = s.start; p.play().catch(() => {}); },
  }, el("span", { class: "time" }, span(s.start, s.end)), s.text.trim())));
  $("raw").replaceChildren(...list);
  if (!list.length) $("raw").replaceChildren(el("li", {}, "No speech."));
}

function removedList(removed) {
  if (!removed || !removed.length) return null;
  return el("ul", { class: "removed", "aria-label": "Removed words" }, ...removed.map((r) =>
    el("li", {}, el("del", {}, r.text, el("span", { class: "why" }, `(${r.kind}${r.confidence != null ? `, ${r.confidence.toFixed(2)}` : ""})`)),
      r.start != null ? el("span", { class: "time" }, ` ${span(r.start, r.end)}`) : null)));
}

function renderClean(clean) {
  const paras = (clean.paragraphs || []).map((p) => el("p", { class: "paragraph" }, p.start != null ? el("span", { class: "time" }, time(p.start)) : null, p.text));
  $("clean").replaceChildren(...paras, removedList(clean.removed) || "");
  if (!paras.length) $("clean").prepend(el("p", {}, "Nothing to read."));
}

function renderAgent(agent, box, tokens) {
  const t = agent.tokens || {};
  tokens.textContent = `${t.count ?? "?"} tokens (${t.encoding || ""})` + (t.budget ? ` of a ${t.budget}-token budget` : "") + (agent.truncated ? " · truncated" : "");
  const cards = (agent.intents || []).map((i) => el("div", { class: "card" },
    el("div", { class: "kind" }, i.kind),
    el("div", { class: "text" }, i.text),
    el("div", { class: "facts" }, [span(i.start, i.end), i.confidence != null && `confidence ${i.confidence.toFixed(2)}`].filter(Boolean).join(" · "))));
  box.replaceChildren(...cards, removedList(agent.removed) || "");
  if (!cards.length) box.prepend(el("p", {}, "No request heard."));
  if (agent.omitted && agent.omitted.length) box.append(el("p", { class: "meta" }, `Left out to fit: ${agent.omitted.join(", ")}`));
}

// The exact request just made, as code. /v1/transcriptions takes the mode;
// OpenAI's SDKs speak /v1/audio/transcriptions, whose richest answer is
// verbose_json (the raw pane's segments).
function renderSnippet() {
  const mode = $("mode").value, model = $("model").value || "whisper-1", lang = $("language").value;
  const budget = Number($("max-tokens").value), f = state.fileName;
  const fields = [["model", model], ["mode", mode], ...(lang ? [["language", lang]] : []), ...(mode !== "raw" && budget > 0 ? [["max_tokens", String(budget)]] : [])];
  const auth = key() ? ' -H "Authorization: Bearer $EARSHOT_API_KEY"' : "";
  const py = fields.map(([k, v]) => `"${k}": "${v}"`).join(", ");
  const snippets = {
    curl: `curl ${origin}/v1/transcriptions${auth} \\\n  -F file=@${f} ${fields.map(([k, v]) => `-F ${k}=${v}`).join(" ")}`,
    httpx: `import os, httpx\n\nwith open("${f}", "rb") as audio:\n    r = httpx.post("${origin}/v1/transcriptions",\n        headers={"Authorization": "Bearer " + os.environ["EARSHOT_API_KEY"]},\n        files={"file": audio}, data={${py}}, timeout=600)\nr.raise_for_status()\nprint(r.json())`,
    "openai-python": `from openai import OpenAI\n\nclient = OpenAI(base_url="${origin}/v1", api_key=os.environ["EARSHOT_API_KEY"])\n# OpenAI's route: mode=${mode} is earshot's /v1/transcriptions (see httpx)\nwith open("${f}", "rb") as audio:\n    t = client.audio.transcriptions.create(model="${model}", file=audio,${lang ? ` language="${lang}",` : ""} response_format="verbose_json")\nprint(t.text)`.replace("from openai", "import os\nfrom openai"),
    "openai-js": `import fs from "node:fs";\nimport OpenAI from "openai";\n\nconst client = new OpenAI({ baseURL: "${origin}/v1", apiKey: process.env.EARSHOT_API_KEY });\n// OpenAI's route: mode=${mode} is earshot's /v1/transcriptions\nconst t = await client.audio.transcriptions.create({ model: "${model}", file: fs.createReadStream("${f}"),${lang ? ` language: "${lang}",` : ""} response_format: "verbose_json" });\nconsole.log(t.text);`,
    mcp: JSON.stringify({ mcpServers: { earshot: { type: "http", url: `${origin}/mcp`, ...(key() ? { headers: { Authorization: "Bearer ${EARSHOT_API_KEY}" } } : {}) } } }, null, 2) +
      `\n\n// then the transcribe tool with\n` + JSON.stringify({ path: `/absolute/path/to/${f}`, mode, ...(lang ? { language: lang } : {}), ...(mode !== "raw" && budget > 0 ? { max_tokens: budget } : {}) }, null, 2),
  };
  $("snippet").textContent = snippets[$("copy-as").value];
}

// Recording: MediaRecorder's file is uploaded when it stops.
async function toggleRecord() {
  const btn = $("record");
  if (state.recorder) { state.recorder.stop(); return; }
  clearError();
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const rec = new MediaRecorder(stream);
    const chunks = [];
    rec.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    rec.onstop = () => {
      stream.getTracks().forEach((t) => t.stop());
      state.recorder = null;
      btn.setAttribute("aria-pressed", "false");
      btn.textContent = "● Record";
      const type = rec.mimeType || "audio/webm";
      transcribe(new Blob(chunks, { type }), `recording.${type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm"}`);
    };
    rec.start(250);
    state.recorder = rec;
    btn.setAttribute("aria-pressed", "true");
    btn.textContent = "■ Stop and transcribe";
    status("Recording… press again to stop and transcribe.");
  } catch (e) {
    showError({ message: `The microphone could not be opened: ${e.message}` });
  }
}

// Live: OpenAI's Realtime transcription protocol on /v1/realtime, 16 kHz
// PCM (earshot's extension: no resampling), turns found by server_vad.
async function toggleLive() {
  if (state.live) { state.live.stop(); return; }
  clearError();
  const btn = $("live");
  const protocols = ["realtime", ...(key() ? [`openai-insecure-api-key.${key()}`] : [])];
  const ws = new WebSocket(`${origin.replace(/^http/, "ws")}/v1/realtime?intent=transcription`, protocols);
  let ctx = null, stream = null, node = null;
  const partials = new Map();
  const stop = () => {
    if (node) node.port.onmessage = null;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (ctx) ctx.close();
    if (ws.readyState <= 1) ws.close();
    state.live = null;
    btn.setAttribute("aria-pressed", "false");
    btn.textContent = "◉ Live";
    status("Live session closed.");
  };
  state.live = { stop };
  btn.setAttribute("aria-pressed", "true");
  btn.textContent = "■ Stop live";
  $("live-pane").hidden = false;
  $("live-turns").replaceChildren();
  $("live-partial").textContent = "";
  ws.onerror = () => showError({ message: "The live connection failed: check the key (a wrong one is refused at the handshake) and that the server serves --live." });
  ws.onclose = (e) => { if (state.live) { if (e.code !== 1000 && e.code !== 1005 && e.reason) showError({ message: `Live session closed: ${e.reason}` }); stop(); } };
  ws.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    switch (ev.type) {
      case "session.created":
        ws.send(JSON.stringify({ type: "session.update", session: {
          type: "transcription",
          audio: { input: { format: { type: "audio/pcm", rate: 16000 }, transcription: { ...($("model").value ? { model: $("model").value } : {}), ...($("language").value ? { language: $("language").value } : {}) },
            turn_detection: { type: "server_vad", silence_duration_ms: 500 } } },
          ...($("mode").value !== "raw" ? { earshot: { mode: $("mode").value } } : {}),
        } }));
        break;
      case "session.updated":
        startAudio().catch((e) => { showError({ message: `The microphone could not be opened: ${e.message}` }); stop(); });
        break;
      case "conversation.item.input_audio_transcription.delta":
        partials.set(ev.item_id, (partials.get(ev.item_id) || "") + ev.delta);
        $("live-partial").textContent = partials.get(ev.item_id);
        break;
      case "conversation.item.input_audio_transcription.completed": {
        partials.delete(ev.item_id);
        $("live-partial").textContent = "";
        const li = el("li", { id: `turn-${ev.item_id}`, class: "turn" }, ev.transcript.trim() || "(no words)");
        $("live-turns").append(li);
        break;
      }
      case "earshot.turn.agent":
      case "earshot.turn.clean": {
        const li = $(`turn-${ev.item_id}`);
        if (li && ev.output && ev.output.intents) { const box = el("div"), t = el("p", { class: "meta" }); renderAgent(ev.output, box, t); li.append(t, box); }
        break;
      }
      case "error":
        showError({ code: ev.error.code, type: ev.error.type, message: ev.error.message, status: "live" });
        break;
    }
  };
  async function startAudio() {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false } });
    ctx = new AudioContext({ sampleRate: 16000 });
    await ctx.audioWorklet.addModule("/playground/pcm.js");
    node = new AudioWorkletNode(ctx, "pcm16");
    node.port.onmessage = (e) => {
      if (ws.readyState !== 1) return;
      const bytes = new Uint8Array(e.data);
      let bin = "";
      for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      ws.send(JSON.stringify({ type: "input_audio_buffer.append", audio: btoa(bin) }));
    };
    ctx.createMediaStreamSource(stream).connect(node);
    status("Listening… speak; each turn appears when you pause.");
  }
}

function init() {
  $("key").value = sessionStorage.getItem("earshot.key") || "";
  $("key").addEventListener("change", () => { sessionStorage.setItem("earshot.key", key()); clearError(); loadModels(); renderSnippet(); });
  $("file").addEventListener("change", (e) => { const f = e.target.files[0]; if (f) transcribe(f); e.target.value = ""; });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); const f = e.dataTransfer.files[0]; if (f) transcribe(f); });
  $("max-tokens").addEventListener("input", () => { const v = Number($("max-tokens").value); $("max-tokens-value").textContent = v ? `${v} tokens` : "no limit"; renderSnippet(); });
  $("max-tokens").addEventListener("change", refreshAgent);
  for (const id of ["mode", "model", "language", "copy-as"]) $(id).addEventListener("change", renderSnippet);
  $("copy").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("snippet").textContent); status("Copied."); } catch { status("Select the snippet and copy it (the clipboard is not available here)."); }
  });
  $("record").addEventListener("click", toggleRecord);
  $("live").addEventListener("click", toggleLive);
  if (!window.MediaRecorder || !navigator.mediaDevices) {
    for (const id of ["record", "live"]) { $(id).disabled = true; $(id).title = "The microphone needs HTTPS or localhost."; }
  }
  renderSnippet();
  loadModels();
}
init();
