"""A stand-in for the OpenAI HTTP API on a loopback port, so SDK wrappers (langfuse.openai, LiteLLM, LangSmith's
wrap_openai) run their real code without calling a provider. Answers chat completions (streamed or not) and
embeddings with fixed usage; records every request body in `requests`."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The usage every chat completion reports (OpenAI's field names), and the dated model that "answered".
CHAT_USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
              "prompt_tokens_details": {"cached_tokens": 200}}
EMBEDDING_TOKENS = 8


def response_model(requested: str) -> str:
    return {"gpt-4o-mini": "gpt-4o-mini-2024-07-18", "gpt-4o": "gpt-4o-2024-08-06"}.get(requested, requested)


class FakeOpenAI:
    def __init__(self):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                outer.requests.append((self.path, body))
                if self.path.endswith("/embeddings"):
                    self.reply({"object": "list", "model": body.get("model"),
                                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
                                "usage": {"prompt_tokens": EMBEDDING_TOKENS, "total_tokens": EMBEDDING_TOKENS}})
                elif self.path.endswith("/chat/completions"):
                    model = response_model(body.get("model", ""))
                    if body.get("stream"):
                        self.stream(model, body)
                    else:
                        self.reply({"id": "chatcmpl-fake", "object": "chat.completion", "created": 1795000000,
                                    "model": model, "system_fingerprint": "fp_fake",
                                    "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": "fake answer"}}],
                                    "usage": CHAT_USAGE})
                else:
                    self.reply({"error": {"message": f"no route {self.path}"}}, status=404)

            def reply(self, payload, status=200):
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def stream(self, model, body):
                chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": "fake "}}]},
                          {"choices": [{"index": 0, "delta": {"content": "answer"}, "finish_reason": "stop"}]}]
                if (body.get("stream_options") or {}).get("include_usage"):
                    chunks.append({"choices": [], "usage": CHAT_USAGE})
                raw = b"".join(
                    b"data: " + json.dumps({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                                            "created": 1795000000, "model": model, **c}).encode() + b"\n\n"
                    for c in chunks) + b"data: [DONE]\n\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
