// Live transcription with earshot through the official OpenAI Node SDK's
// Realtime clients: code written for OpenAI's Realtime transcription works
// by changing the base URL and the key. The SDK always dials wss://, so
// earshot serves TLS here (earshot serve --tls-cert --tls-key).
//
//   EARSHOT_TLS_URL=https://127.0.0.1:8443 EARSHOT_API_KEY=esk_... node realtime.mjs audio.wav
//
// It runs two sessions: OpenAIRealtimeWS (Node; the key in the
// Authorization header) and OpenAIRealtimeWebSocket (the browser client;
// the key in the "openai-insecure-api-key." subprotocol), each streaming
// a 16-bit mono WAV as 24 kHz PCM in 40 ms chunks with server VAD.
import fs from "node:fs";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";
import { OpenAIRealtimeWebSocket } from "openai/realtime/websocket";
import { WebSocket } from "ws";

const file = process.argv[2] ?? "../../live/testdata/turns.wav";
const client = new OpenAI({
  baseURL: `${process.env.EARSHOT_TLS_URL ?? "https://127.0.0.1:8443"}/v1`,
  apiKey: process.env.EARSHOT_API_KEY,
});

// A 16-bit mono WAV as 24 kHz 16-bit PCM (OpenAI's input format).
function pcm24k(wav) {
  let off = 12, rate = 0, data;
  while (off + 8 <= wav.length) {
    const id = wav.toString("ascii", off, off + 4), size = wav.readUInt32LE(off + 4);
    if (id === "fmt ") rate = wav.readUInt32LE(off + 12);
    if (id === "data") { data = wav.subarray(off + 8, off + 8 + size); break; }
    off += 8 + size + (size & 1);
  }
  const n = data.length >> 1, m = Math.floor((n * 24000) / rate), out = Buffer.alloc(2 * m);
  for (let i = 0; i < m; i++) {
    const pos = (i * rate) / 24000, j = Math.floor(pos), f = pos - j;
    const a = data.readInt16LE(2 * j), b = data.readInt16LE(2 * Math.min(j + 1, n - 1));
    out.writeInt16LE(Math.round(a + (b - a) * f), 2 * i);
  }
  return out;
}

async function session(name, rt, onOpen) {
  const deltas = new Map();
  const turns = [];
  const done = new Promise((resolve, reject) => {
    rt.on("error", (err) => reject(err));
    rt.on("conversation.item.input_audio_transcription.delta", (e) => {
      deltas.set(e.item_id, (deltas.get(e.item_id) ?? "") + e.delta);
    });
    rt.on("conversation.item.input_audio_transcription.completed", (e) => {
      const sofar = deltas.get(e.item_id) ?? "";
      if (!e.transcript.startsWith(sofar)) reject(new Error(`${name}: deltas "${sofar}" are not a prefix of "${e.transcript}"`));
      turns.push(e);
      console.log(`${name}: turn ${turns.length}: ${e.usage.seconds.toFixed(2)} s: ${e.transcript}`);
      if (turns.length === 2) resolve();
    });
  });
  await new Promise((resolve, reject) => { onOpen(resolve); rt.on("error", reject); });
  rt.send({
    type: "session.update",
    session: {
      type: "transcription",
      audio: {
        input: {
          format: { type: "audio/pcm", rate: 24000 },
          transcription: { model: "gpt-4o-transcribe", language: "en" },
          turn_detection: { type: "server_vad", silence_duration_ms: 500 },
        },
      },
    },
  });
  const pcm = Buffer.concat([pcm24k(fs.readFileSync(file)), Buffer.alloc(48000)]); // and 1 s of silence
  const chunk = 1920; // 40 ms
  for (let off = 0; off < pcm.length; off += chunk) {
    rt.send({ type: "input_audio_buffer.append", audio: pcm.subarray(off, off + chunk).toString("base64") });
    if ((off / chunk) % 25 === 0) await new Promise((r) => setTimeout(r, 20)); // about 20x real time
  }
  await done;
  rt.close();
  return turns.length;
}

// Node: the key goes in the Authorization header.
const ws = new OpenAIRealtimeWS({ model: "gpt-realtime" }, client);
await session("OpenAIRealtimeWS", ws, (open) => ws.socket.on("open", open));

// The browser client, with ws standing in for the browser's WebSocket:
// the key goes in the subprotocol list next to "realtime".
globalThis.WebSocket = WebSocket;
const browser = new OpenAIRealtimeWebSocket({ model: "gpt-4o-transcribe", dangerouslyAllowBrowser: true }, client);
await session("OpenAIRealtimeWebSocket", browser, (open) => browser.socket.addEventListener("open", open));
console.log("realtime: 2 sessions, 4 turns");
