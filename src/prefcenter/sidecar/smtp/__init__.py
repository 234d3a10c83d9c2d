"""The SMTP sidecar: unsubscribe replies, bounces and complaint reports, under aiosmtpd."""
