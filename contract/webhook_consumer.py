"""Another service of the platform, receiving account events as signed webhooks: the example
consumer of docs/events.md, run by scripts/contract. It verifies each delivery with the Standard
Webhooks library (`pip install standardwebhooks`), keeps each event once by its id, and answers
204; a delivery it cannot verify gets 400 and is not kept.

    python3 webhook_consumer.py PORT SECRET EVENTS_FILE
"""
import http.server
import json
import sys

from standardwebhooks import Webhook


def serve(port, secret, events_file):
    webhook = Webhook(secret)  # "whsec_..." as `ums webhook add` printed it
    seen = set()

    class Consumer(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                event = webhook.verify(body, dict(self.headers))  # the signature, and a recent timestamp
            except Exception:  # noqa: BLE001 - any failure to verify: not ours, not kept
                self.send_response(400)
                self.end_headers()
                return
            if event["id"] not in seen:  # deliveries are at least once: deduplicate on the id
                seen.add(event["id"])
                with open(events_file, "a") as out:
                    out.write(json.dumps(event) + "\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", port), Consumer).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3])
