"""The seal key in moto, as the template makes it, and sealing a snapshot the way the functions
do (scripts that seed snapshots "an earlier run made" seal them, as an operator's adopt would).

The seal is fleetkeeper's proof that it made a resource (shared/src/seal.rs): HMAC-SHA256, keyed
by the Secrets Manager secret, over length-prefixed parts: the format, the resource id, then
every fleetkeeper: tag but the seal, sorted by key. `fk1.<key version>.<base64url mac>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET = "fleetkeeper/seal-key"
SEAL_TAG = "fleetkeeper:seal"


def create_key(secretsmanager) -> None:
    """A fresh random key (never printed), as the template's GenerateSecretString makes it."""
    secretsmanager.create_secret(Name=SECRET, SecretString=secrets.token_hex(32))


def seal(secretsmanager, resource_id: str, tags: dict[str, str]) -> str:
    current = secretsmanager.get_secret_value(SecretId=SECRET)
    key, version = current["SecretString"].encode(), current["VersionId"]
    mac = hmac.new(key, digestmod=hashlib.sha256)
    claims = sorted((k, v) for k, v in tags.items() if k.startswith("fleetkeeper:") and k != SEAL_TAG)
    for part in ["fk1", resource_id] + [p for kv in claims for p in kv]:
        data = part.encode()
        mac.update(len(data).to_bytes(8, "big"))
        mac.update(data)
    return f"fk1.{version}.{base64.urlsafe_b64encode(mac.digest()).rstrip(b'=').decode()}"
