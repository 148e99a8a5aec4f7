// Transcribe a file with earshot through the official OpenAI Node SDK: the
// only changes from code written for OpenAI are the base URL and the key.
//
//   EARSHOT_URL=http://127.0.0.1:8080 EARSHOT_API_KEY=esk_... node transcribe.mjs audio.wav
import fs from "node:fs";
import OpenAI from "openai";

const file = process.argv[2] ?? "../../testdata/audio/jfk.wav";
const client = new OpenAI({
  baseURL: `${process.env.EARSHOT_URL ?? "http://127.0.0.1:8080"}/v1`,
  apiKey: process.env.EARSHOT_API_KEY,
});

const transcription = await client.audio.transcriptions.create({
  file: fs.createReadStream(file),
  model: "whisper-1",
  language: "en",
  response_format: "verbose_json",
});
console.log(`${transcription.duration.toFixed(1)} s, ${transcription.segments.length} segments`);
console.log(transcription.text);

// Streaming: deltas as whisper decodes each part of the audio.
const stream = await client.audio.transcriptions.create({
  file: fs.createReadStream(file),
  model: "whisper-1",
  stream: true,
});
let deltas = "";
for await (const event of stream) {
  if (event.type === "transcript.text.delta") deltas += event.delta;
  if (event.type === "transcript.text.done" && event.text !== deltas) {
    throw new Error("streamed deltas do not add up to the final text");
  }
}
console.log(`streamed ${deltas.length} characters`);
