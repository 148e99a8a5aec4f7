// Calls earshot's MCP tools with the official MCP TypeScript SDK, the way
// Claude Desktop, Claude Code and other MCP clients do: over stdio (the
// client starts `earshot mcp`) and over streamable HTTP (`earshot serve`
// at /mcp, with an API key).
//
//   EARSHOT_BIN=earshot EARSHOT_MODEL=base AUDIO=$PWD/call.wav node client.mjs stdio
//   EARSHOT_URL=http://127.0.0.1:8080 EARSHOT_API_KEY=... AUDIO=call.wav node client.mjs http
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const audio = resolve(process.env.AUDIO ?? "../../testdata/audio/jfk.wav");

function fail(msg) {
  console.error("FAIL:", msg);
  process.exit(1);
}

async function transcribeAndPage(client, args) {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort().join(",");
  if (names !== "get_transcript,transcribe") fail(`tools are ${names}`);
  if (!tools.every((t) => t.outputSchema?.type === "object")) fail("a tool has no output schema");

  // The SDK checks structuredContent against the tool's outputSchema.
  const progress = [];
  const res = await client.callTool(
    { name: "transcribe", arguments: { ...args, max_tokens: 200 } },
    undefined,
    { onprogress: (p) => progress.push(`${p.progress} ${p.message}`), timeout: 120000 },
  );
  if (res.isError) fail(`transcribe: ${res.content?.[0]?.text}`);
  const doc = res.structuredContent;
  if (doc.mode !== "agent" || !doc.transcript_id || doc.tokens.count > 200) fail(`answer ${JSON.stringify(doc)}`);
  if (JSON.stringify(JSON.parse(res.content[0].text)) !== JSON.stringify(doc)) fail("text and structuredContent differ");
  // earshot sends progress in increasing order (its Go tests check that);
  // say so if this client saw otherwise.
  const pcts = progress.map((p) => parseFloat(p));
  if (progress.length === 0) fail("no progress notifications");
  for (let i = 1; i < pcts.length; i++) {
    if (pcts[i] <= pcts[i - 1]) console.error(`warning: progress arrived out of order: ${JSON.stringify(progress)}`);
  }

  // Page through the rest, if any.
  let pages = 1, next = doc.next;
  while (next) {
    const page = await client.callTool({ name: "get_transcript", arguments: { transcript_id: doc.transcript_id, cursor: next, max_tokens: 200 } });
    if (page.isError) fail(`get_transcript: ${page.content?.[0]?.text}`);
    next = page.structuredContent.next;
    if (++pages > 100) fail("paging does not end");
  }
  // Bad input is a tool result with isError, never a protocol error.
  const bad = await client.callTool({ name: "transcribe", arguments: { path: "/etc/passwd" } });
  if (!bad.isError) fail("a path outside the allowed directories was read");
  return `${doc.intents.length} intent(s), ${doc.tokens.count} tokens, ${pages} page(s), ${progress.length} progress notification(s)`;
}

async function stdio() {
  const bin = process.env.EARSHOT_BIN ?? "earshot";
  const args = ["mcp", "--allow-dir", dirname(audio)];
  if (process.env.EARSHOT_MODEL) args.push("--model", process.env.EARSHOT_MODEL);
  const transport = new StdioClientTransport({ command: bin, args, env: { ...process.env }, stderr: "inherit" });
  const client = new Client({ name: "earshot-example", version: "1.0.0" });
  await client.connect(transport);
  try {
    console.log("stdio:", await transcribeAndPage(client, { path: audio }));
  } finally {
    await client.close();
  }
}

async function http() {
  const url = new URL("/mcp", process.env.EARSHOT_URL ?? "http://127.0.0.1:8080");
  const key = process.env.EARSHOT_API_KEY;
  const client = new Client({ name: "earshot-example", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: `Bearer ${key}` } } }));
  try {
    const audioBase64 = readFileSync(audio).toString("base64");
    console.log("http:", await transcribeAndPage(client, { audio_base64: audioBase64, filename: "jfk.wav" }));
  } finally {
    await client.close();
  }
  // Without the key the server answers 401.
  const anon = new Client({ name: "earshot-example", version: "1.0.0" });
  try {
    await anon.connect(new StreamableHTTPClientTransport(url));
    fail("connected without a key");
  } catch (err) {
    if (err.code !== 401) fail(`without a key: ${err} (code ${err.code})`);
    console.log("http without a key: 401");
  }
}

const mode = process.argv[2];
if (mode === "stdio") await stdio();
else if (mode === "http") await http();
else fail("usage: node client.mjs stdio|http");
