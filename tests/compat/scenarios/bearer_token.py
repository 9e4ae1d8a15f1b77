"""A client given ``user_token`` sends ``Authorization: Bearer <token>`` on every request, and the server (run with
``--auth token``) accepts it.

The client talks to the server through a small recording proxy started here, so the header is seen on the wire.
"""

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from _support import SERVER_URL, TOKEN, check, connect, done, expect, step, unique

seen: list[tuple[str, str, str | None]] = []
HOP_BY_HOP = {"host", "connection", "content-length", "transfer-encoding", "keep-alive", "server", "date"}


class RecordingProxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def forward(self) -> None:
        seen.append((self.command, self.path, self.headers.get("Authorization")))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        request = urllib.request.Request(SERVER_URL + self.path, data=body, method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, reply_headers, data = response.status, response.headers, response.read()
        except urllib.error.HTTPError as err:
            status, reply_headers, data = err.code, err.headers, err.read()
        self.send_response(status)
        for key, value in reply_headers.items():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = forward

    def log_message(self, *args) -> None:
        pass


proxy = ThreadingHTTPServer(("127.0.0.1", 0), RecordingProxy)
threading.Thread(target=proxy.serve_forever, daemon=True).start()
r = connect(f"http://127.0.0.1:{proxy.server_address[1]}", user_token=TOKEN)

step("register, read and list with a bearer token")
name = unique("token")
r.register_model(name, f"s3://b/{name}", version="1", model_format_name="onnx", model_format_version="1")
rm = r.get_registered_model(name)
check(rm is not None, "model registered with a bearer token is found")
expect(r.get_model_artifact(name, "1").uri, f"s3://b/{name}", "artifact read with a bearer token")
check(name in {m.name for m in r.get_registered_models().page_size(50)}, "listing with a bearer token")
rm.description = "with token"
expect(r.update(rm).description, "with token", "update with a bearer token")

step("every request carried Authorization: Bearer <the token>")
check(len(seen) >= 8, "requests went through the proxy", seen)
expect({auth for _, _, auth in seen}, {f"Bearer {TOKEN}"}, "Authorization headers sent")
expect({method for method, _, _ in seen}, {"GET", "POST", "PATCH"}, "methods seen")
proxy.shutdown()
done()
