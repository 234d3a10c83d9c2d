"""The OpenAPI 3.1 document of the /v1 API and the /hooks receivers, written next to the
limits it states.

``api.py`` validates requests against these same limits; ``test_openapi_fuzz.py`` runs
schemathesis against the live document so the two cannot drift apart silently.
"""

from __future__ import annotations

from typing import Any

from prefcenter.feed import MAX_PAGE
from prefcenter.model import Action, Channel, Kind, Reason, Scope, Source
from prefcenter.version import __version__

#: Most recipients in one /v1/check/batch request.
MAX_BATCH = 10_000
#: Largest /v1 request body in bytes.
MAX_BODY = 4 * 1024 * 1024

_NULL_STRING = {"type": ["string", "null"]}
_RECIPIENT = {
    "type": "string",
    "maxLength": 320,
    "description": "An email address, or an E.164 phone number for sms/voice.",
    "examples": ["alice@example.com"],
}
_TOPIC = {"type": ["string", "null"], "maxLength": 200, "description": "A topic (list) id."}
_CHANNEL = {"type": "string", "enum": [c.value for c in Channel], "default": "email"}
_KIND = {"type": "string", "enum": [k.value for k in Kind], "default": "marketing"}


def _obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


def _request(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """A request body: a misspelled field is refused, not ignored (``"topik"`` would
    otherwise check all marketing instead of the topic)."""
    return {**_obj(properties, required), "additionalProperties": False}


_SCHEMAS: dict[str, Any] = {
    "CheckRequest": _request(
        {"recipient": _RECIPIENT, "topic": _TOPIC, "channel": _CHANNEL, "kind": _KIND},
        ["recipient"],
    ),
    "Decision": _obj(
        {
            "allowed": {"type": "boolean"},
            "reason": {"type": "string", "enum": [r.value for r in Reason]},
            "message": {"type": "string"},
            "identity_hash": {"type": "string"},
            "channel": {"type": "string", "enum": [c.value for c in Channel]},
            "topic": _NULL_STRING,
            "since": {"type": ["string", "null"], "format": "date-time"},
            "scope": {"type": ["string", "null"], "enum": [*(s.value for s in Scope), None]},
            "source": {"type": ["string", "null"], "enum": [*(s.value for s in Source), None]},
            "until": {"type": ["string", "null"], "format": "date-time"},
        },
        ["allowed", "reason", "message", "identity_hash", "channel"],
    ),
    "BatchRequest": _request(
        {
            "recipients": {"type": "array", "items": _RECIPIENT, "maxItems": MAX_BATCH},
            "topic": _TOPIC,
            "channel": _CHANNEL,
            "kind": _KIND,
        },
        ["recipients"],
    ),
    "BatchResult": _obj(
        {
            "sendable": {"type": "array", "items": {"type": "string"}},
            "refused": {
                "type": "array",
                "items": _obj(
                    {
                        "recipient": {"type": "string"},
                        "reason": {"type": "string", "enum": [r.value for r in Reason]},
                        "message": {"type": "string"},
                    },
                    ["recipient", "reason", "message"],
                ),
            },
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
        ["sendable", "refused", "counts"],
    ),
    "LinksRequest": _request(
        {
            "recipient": _RECIPIENT,
            "topic": _TOPIC,
            "channel": _CHANNEL,
            "lang": {
                "type": "string",
                "maxLength": 20,
                "description": "Language of the pages the links open: en, de, fr, es, pt or "
                "ja; omitted: the browser's Accept-Language, else the LANGUAGE setting.",
            },
        },
        ["recipient"],
    ),
    "Links": _obj(
        {
            "headers": {
                "type": "object",
                "description": "Email only (absent for sms and voice, as are mailto and "
                "return_path). Header name to value, in the order to add them: "
                "List-Unsubscribe, List-Unsubscribe-Post, List-Id (and CFBL-Address when "
                "configured). Write each value as it is: never RFC 2047-encode it.",
                "additionalProperties": {"type": "string"},
            },
            "unsubscribe_url": {"type": "string", "description": "The one-click link."},
            "preferences_url": {"type": "string", "description": "For the message body."},
            "mailto": {"type": "string", "description": "unsubscribe+TOKEN@MAIL_DOMAIN"},
            "return_path": {
                "type": "string",
                "description": "bounces+TOKEN@MAIL_DOMAIN: the envelope sender (VERP), so "
                "bounces find this recipient.",
            },
        },
        ["unsubscribe_url", "preferences_url"],
    ),
    "SendRequest": _request(
        {
            "recipient": _RECIPIENT,
            "channel": _CHANNEL,
            "topic": _TOPIC,
            "kind": _KIND,
            "sender": {"type": ["string", "null"], "maxLength": 200},
            "message_id": {"type": ["string", "null"], "maxLength": 998},
        },
        ["recipient"],
    ),
    "Recorded": _obj({"recorded": {"type": "boolean"}}, ["recorded"]),
    "SuppressRequest": _request(
        {
            "recipient": _RECIPIENT,
            "topic": _TOPIC,
            "channel": _CHANNEL,
            "hard": {"type": "boolean", "default": False},
            "all_channels": {"type": "boolean", "default": False},
            "reason": {"type": ["string", "null"], "maxLength": 500},
        },
        ["recipient"],
    ),
    "ResubscribeRequest": _request(
        {
            "recipient": _RECIPIENT,
            "topic": _TOPIC,
            "channel": _CHANNEL,
            "reason": {"type": "string", "minLength": 1, "maxLength": 500},
            "hard": {
                "type": "boolean",
                "description": "Lift a hard suppression (bounce, complaint) instead of an "
                "opt-out; the reason should say why the address works again.",
            },
        },
        ["recipient", "reason"],
    ),
    "Changed": _obj(
        {"changed": {"type": "boolean"}, "request_id": {"type": "string"}},
        ["changed", "request_id"],
    ),
    "HistoryRequest": _request({"recipient": _RECIPIENT, "channel": _CHANNEL}, ["recipient"]),
    "History": _obj(
        {
            "events": {
                "type": "array",
                "items": _obj(
                    {
                        "id": {"type": "integer"},
                        "at": {"type": "string", "format": "date-time"},
                        "identity_hash": {"type": "string"},
                        "action": {"type": "string", "enum": [a.value for a in Action]},
                        "source": {"type": "string", "enum": [s.value for s in Source]},
                        "channel": _NULL_STRING,
                        "scope": _NULL_STRING,
                        "topic": _NULL_STRING,
                        "reason": _NULL_STRING,
                        "evidence": _NULL_STRING,
                        "requested_at": {"type": ["string", "null"], "format": "date-time"},
                        "detail": {
                            "type": "string",
                            "description": "The value a change set: a pause's end, a "
                            "ceiling's days, ...; empty when none.",
                        },
                    },
                    ["id", "at", "identity_hash", "action", "source"],
                ),
            }
        },
        ["events"],
    ),
    "ChangeEvent": _obj(
        {
            "id": {
                "type": "string",
                "description": "The audit event's id (the webhook-id of its webhook is evt_ID).",
            },
            "kind": {"type": "string", "enum": [a.value for a in Action]},
            "channel": _NULL_STRING,
            "topic": _NULL_STRING,
            "scope": {"type": ["string", "null"], "enum": [*(s.value for s in Scope), None]},
            "reason": _NULL_STRING,
            "source": {"type": "string", "enum": [s.value for s in Source]},
            "time": {"type": "string", "format": "date-time"},
            "requested_at": {"type": ["string", "null"], "format": "date-time"},
            "detail": _NULL_STRING,
            "identity_hash": _NULL_STRING,
            "address": {
                "type": "string",
                "description": "Only when the store keeps the clear address; a hash-only or "
                "forgotten identity is named by identity_hash alone.",
            },
        },
        ["id", "kind", "source", "time"],
    ),
    "Changes": _obj(
        {
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/ChangeEvent"}},
            "cursor": {
                "type": "string",
                "description": "Opaque; pass it as 'after' to read on. Unchanged when no "
                "event is new.",
            },
        },
        ["events", "cursor"],
    ),
    "Error": _obj(
        {
            "error": _obj(
                {
                    "status": {"type": "integer"},
                    "message": {"type": "string"},
                    "request_id": {"type": "string"},
                },
                ["status", "message", "request_id"],
            )
        },
        ["error"],
    ),
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_ERRORS = {
    "401": _error("No or unknown bearer key."),
    "413": _error("Request body too large."),
    "422": _error("A field is missing or unusable (the message names it)."),
    "503": _error("The store cannot be reached; nothing changed. Retry after Retry-After."),
}


def _post(summary: str, request: str, response: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": [{"bearer": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{request}"}}
                },
            },
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{response}"}}
                    },
                },
                **_ERRORS,
            },
        }
    }


def _events() -> dict[str, Any]:
    ok = {"application/json": {"schema": {"$ref": "#/components/schemas/Changes"}}}
    return {
        "get": {
            "summary": "Every change, in commit order, after a cursor (the change feed).",
            "security": [{"bearer": []}],
            "parameters": [
                {
                    "name": "after",
                    "in": "query",
                    "required": False,
                    "description": "The cursor of the last page read; none: from the first event.",
                    "schema": {"type": "string", "maxLength": 80},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_PAGE,
                        "default": 100,
                    },
                },
            ],
            "responses": {"200": {"description": "OK", "content": ok}, **_ERRORS},
        }
    }


_HOOK_RESULT = _obj(
    {
        "events": {"type": "integer", "description": "Events read from the request."},
        "changed": {"type": "integer", "description": "Events that changed the store."},
        "unchanged": {"type": "integer", "description": "Already recorded (a replay)."},
        "ignored": {"type": "integer", "description": "Nothing to do (a delivery, HELP...)."},
        "invalid": {"type": "integer", "description": "Address or number unusable: skipped."},
        "queued": {"type": "integer", "description": "Sent to the exceptions queue."},
    },
    ["events", "changed", "unchanged", "ignored", "invalid", "queued"],
)
_HOOK_ERRORS = {
    "400": _error("Not the provider's shape (nothing changed)."),
    "401": _error("Bad signature or credentials, a stale timestamp or a reused token."),
    "404": _error("This webhook is off: its setting is empty."),
    "413": _error("Body over 4 MiB."),
    "429": _error("Too many refused requests (HOOK_FAILURE_RATE) or requests (HOOK_RATE)."),
    "503": _error("The store could not commit; nothing changed. The provider retries."),
}
#: The hooks: (provider, summary, request content type, security scheme or None, body).
_HOOKS: list[tuple[str, str, str, str | None, dict[str, Any]]] = [
    ("ses", "Amazon SES notifications through SNS (signed inside the body; "
     "SubscriptionConfirmation for topics in SES_TOPIC_ARNS).", "text/plain", None,
     {"type": "object", "description": "An SNS message (Type, MessageId, TopicArn, Message, "
      "Timestamp, SignatureVersion, Signature, SigningCertURL...)."}),
    ("sendgrid", "SendGrid's signed Event Webhook: a batch of events.", "application/json",
     "sendgrid", {"type": "array", "items": {"type": "object"},
                  "description": "Events (email, event, sg_event_id, ...)."}),
    ("postmark", "One Postmark Bounce, SpamComplaint or SubscriptionChange record.",
     "application/json", "postmark", {"type": "object"}),
    ("mailgun", "One signed Mailgun event (signature inside the body).", "application/json",
     None, _obj({"signature": {"type": "object"}, "event-data": {"type": "object"}},
                ["signature", "event-data"])),
    ("twilio", "An inbound SMS from Twilio, answered with TwiML.",
     "application/x-www-form-urlencoded", "twilio",
     _obj({"From": {"type": "string"}, "Body": {"type": "string"},
           "MessageSid": {"type": "string"}}, ["From", "MessageSid"])),
    ("generic", "One Standard Webhooks signed event: suppress, resubscribe, bounce or "
     "complaint.", "application/json", "standard-webhooks", {"type": "object"}),
]  # fmt: skip
_HOOK_SECURITY = {
    "sendgrid": {"type": "apiKey", "in": "header", "name": "X-Twilio-Email-Event-Webhook-Signature",
                 "description": "ECDSA P-256 over X-Twilio-Email-Event-Webhook-Timestamp + body, "
                 "checked with SENDGRID_WEBHOOK_PUBLIC_KEY."},
    "postmark": {"type": "http", "scheme": "basic",
                 "description": "POSTMARK_WEBHOOK_USER and _PASSWORD."},
    "twilio": {"type": "apiKey", "in": "header", "name": "X-Twilio-Signature",
               "description": "HMAC-SHA1 of BASE_URL + path and the sorted form fields, "
               "keyed with TWILIO_AUTH_TOKEN."},
    "standard-webhooks": {"type": "apiKey", "in": "header", "name": "webhook-signature",
                          "description": "Standard Webhooks: webhook-id, webhook-timestamp and "
                          "webhook-signature, keyed with GENERIC_WEBHOOK_SECRET."},
}  # fmt: skip


def _hook(summary: str, content_type: str, security: str | None, body: Any) -> dict[str, Any]:
    ok: dict[str, Any] = {"application/json": {"schema": _HOOK_RESULT}}
    if content_type.endswith("urlencoded"):  # Twilio: TwiML, the reply text from settings
        ok = {"application/xml": {"schema": {"type": "string"}}}
    operation: dict[str, Any] = {
        "summary": summary,
        "description": "Answered 200 only after the store committed every event; a replay "
        "(the same provider event id) changes nothing. See docs/integrations.md.",
        "security": [{security: []}] if security else [],
        "requestBody": {"required": True, "content": {content_type: {"schema": body}}},
        "responses": {"200": {"description": "Committed", "content": ok}, **_HOOK_ERRORS},
    }
    return {"post": operation}


def hook_paths() -> dict[str, Any]:
    """The ``/hooks/...`` paths of the OpenAPI document."""
    return {
        f"/hooks/{provider}": _hook(summary, content_type, security, body)
        for provider, summary, content_type, security, body in _HOOKS
    }


def request_fields(schema: str) -> frozenset[str]:
    """The fields a request body of ``schema`` may have."""
    return frozenset(_SCHEMAS[schema]["properties"])


def document(base_url: str) -> dict[str, Any]:
    """The OpenAPI document for a sidecar reachable at ``base_url``."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "prefcenter API",
            "version": __version__,
            "description": "Check, record and change contact preferences from any language. "
            "Changes are committed before the answer and recorded with source 'api'.",
        },
        "servers": [{"url": base_url.rstrip("/")}],
        "paths": {
            "/v1/check": _post("May this recipient be contacted now?", "CheckRequest", "Decision"),
            "/v1/check/batch": _post(
                "Split a list into sendable and refused recipients.", "BatchRequest", "BatchResult"
            ),
            "/v1/links": _post(
                "Headers, links and return path for one message.", "LinksRequest", "Links"
            ),
            "/v1/sends": _post("Record a send (feeds frequency caps).", "SendRequest", "Recorded"),
            "/v1/suppress": _post("Record an opt-out or hard stop.", "SuppressRequest", "Changed"),
            "/v1/resubscribe": _post(
                "Lift an opt-out; needs a reason.", "ResubscribeRequest", "Changed"
            ),
            "/v1/history": _post("Audit events of one recipient.", "HistoryRequest", "History"),
            "/v1/events": _events(),
            **hook_paths(),
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                **_HOOK_SECURITY,
            },
        },
    }
