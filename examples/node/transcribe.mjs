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

// OpenAI's newer fields: token log probabilities, chunking at pauses, and
// the diarization earshot does not do (a 400 that names the field).
const detailed = await client.audio.transcriptions.create({
  file: fs.createReadStream(file),
  model: "gpt-4o-transcribe",
  include: ["logprobs"],
  chunking_strategy: "auto",
});
if (!Array.isArray(detailed.logprobs) || detailed.usage?.type !== "duration") {
  throw new Error(`include=logprobs: ${JSON.stringify(detailed).slice(0, 200)}`);
}
console.log(`${detailed.logprobs.length} tokens with log probabilities`);
try {
  await client.audio.transcriptions.create({
    file: fs.createReadStream(file),
    model: "gpt-4o-transcribe",
    known_speaker_names: ["agent", "customer"],
  });
  throw new Error("known_speaker_names was accepted");
} catch (err) {
  if (!(err instanceof OpenAI.BadRequestError) || err.param !== "known_speaker_names[]") throw err;
  console.log(`diarization refused: ${err.message}`);
}
