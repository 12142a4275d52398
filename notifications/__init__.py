"""Notifications: jinja2 templates, the digest, the outbox and the aiosmtplib mailer."""
