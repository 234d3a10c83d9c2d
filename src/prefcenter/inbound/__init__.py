"""Inbound mail: safe parsing, bounces, complaints, replies and sender authentication.

Everything here reads untrusted bytes, so every parser returns a clean result (or
``None`` for "not this kind of message") and never raises on input.
"""
