"""Transcribe a file with earshot using plain httpx.

This is the snippet people copy from docs for hosted speech-to-text APIs;
against earshot only the base URL and the key change.

    EARSHOT_URL=http://127.0.0.1:8080 EARSHOT_API_KEY=esk_... python3 transcribe.py audio.wav

It needs httpx: `pip install httpx`, or on Debian and Ubuntu
`sudo apt-get install python3-httpx`. raise_for_status() stops at a wrong
key or a bad field; the reason is in response.json()["error"]["message"].
"""
import os
import sys

import httpx

BASE_URL = os.environ.get("EARSHOT_URL", "http://127.0.0.1:8080")
API_KEY = os.environ["EARSHOT_API_KEY"]
path = sys.argv[1] if len(sys.argv) > 1 else "../../testdata/audio/jfk.wav"

with open(path, "rb") as f:
    response = httpx.post(
        f"{BASE_URL}/v1/transcriptions",
        headers={"Authorization": f"Bearer {API_KEY}"},
        files={"file": (os.path.basename(path), f, "audio/wav")},
        data={"model": "whisper-1", "language": "en"},
        timeout=600,
    )
response.raise_for_status()
print(response.json()["text"])

# The same audio shaped for an agent: self-repairs resolved, one intent per
# request, within a token budget.
with open(path, "rb") as f:
    response = httpx.post(
        f"{BASE_URL}/v1/transcriptions",
        headers={"Authorization": f"Bearer {API_KEY}"},
        files={"file": (os.path.basename(path), f, "audio/wav")},
        data={"model": "whisper-1", "language": "en", "mode": "agent", "max_tokens": "2000"},
        timeout=600,
    )
response.raise_for_status()
agent = response.json()
assert agent["mode"] == "agent" and agent["tokens"]["count"] <= 2000, agent
for intent in agent["intents"]:
    print(f'{intent["kind"]}: {intent["text"]}')
