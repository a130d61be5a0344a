"""LiveKit's own SDK as an independent peer of the tests.

    livekit_peer.py verify KEY SECRET    < tokens, one per line
        prints, per token, the claims LiveKit's TokenVerifier reads from it
        (and the registered claims it checked), or {"error": ...}
    livekit_peer.py webhooks KEY SECRET  < notifications, one JSON per line
        prints, per notification, {"body", "authorization"}: the body as a
        LiveKit server sends it (protobuf JSON of a WebhookEvent) and the
        Authorization header it signs it with (a JWT whose sha256 claim is
        the body's hash)

A notification: {"event", "room", "id", "created_at", and for participant_*
events "identity", "sid", "joined_at", "disconnect_reason", "kind"}.
"""

import base64
import dataclasses
import hashlib
import json
import sys

import jwt
from google.protobuf.json_format import MessageToJson
from livekit.api import AccessToken, TokenVerifier
from livekit.protocol.models import DisconnectReason, ParticipantInfo, Room
from livekit.protocol.webhook import WebhookEvent


def verify(key, secret):
    verifier = TokenVerifier(key, secret)
    for token in sys.stdin.read().split():
        try:
            claims = verifier.verify(token)
            registered = jwt.decode(
                token,
                key=secret,
                issuer=key,
                algorithms=["HS256"],
                options={"require": ["exp", "nbf", "iss", "sub"]},
            )
            out = {
                "identity": claims.identity,
                "name": claims.name,
                "metadata": json.loads(claims.metadata) if claims.metadata else None,
                "video": dataclasses.asdict(claims.video),
                "iss": registered["iss"],
                "sub": registered["sub"],
                "nbf": registered["nbf"],
                "exp": registered["exp"],
            }
        except Exception as e:  # the test reads the refusal
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


def webhooks(key, secret):
    for line in sys.stdin:
        if not line.strip():
            continue
        spec = json.loads(line)
        event = WebhookEvent(
            event=spec["event"],
            room=Room(name=spec["room"], sid="RM_" + spec["room"]),
            id=spec["id"],
            created_at=spec["created_at"],
        )
        if "identity" in spec:
            event.participant.CopyFrom(
                ParticipantInfo(
                    sid=spec["sid"],
                    identity=spec["identity"],
                    joined_at=spec.get("joined_at", 0),
                    kind=ParticipantInfo.Kind.Value(spec.get("kind", "STANDARD")),
                    disconnect_reason=DisconnectReason.Value(
                        spec.get("disconnect_reason", "UNKNOWN_REASON")
                    ),
                )
            )
        body = MessageToJson(event)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        token = AccessToken(key, secret).with_sha256(digest).to_jwt()
        print(json.dumps({"body": body, "authorization": token}), flush=True)


if __name__ == "__main__":
    command, key, secret = sys.argv[1:4]
    {"verify": verify, "webhooks": webhooks}[command](key, secret)
