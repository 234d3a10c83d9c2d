"""Bounces, wherever they are heard: the reason vocabulary, reading a reason from a status
code and the server's words, and the policy that decides what a bounce does.

Both the SMTP sidecar's delivery reports (:mod:`prefcenter.inbound`) and the ESP webhooks
(:mod:`prefcenter.providers`) use it, so a bounce means the same whichever way it came.
"""
