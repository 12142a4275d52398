"""The agency webhook: agencies acknowledge, report and complete their work over signed HTTP.

`create_app` builds the FastAPI application; `SecretStore` keeps each agency's signing secret,
encrypted at rest; `signing` verifies RFC 9421 request signatures (`auth`: the HMAC secrets' form).
"""

from chidao.webhook.app import create_app
from chidao.webhook.secrets import SecretStore

__all__ = ["SecretStore", "create_app"]
