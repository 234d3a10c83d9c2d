"""The sidecars: thin network skins over :class:`prefcenter.center.PreferenceCenter`.

Nothing in the core imports this package, so ``import prefcenter`` never loads
starlette, uvicorn, jinja2 or aiosmtpd.
"""
