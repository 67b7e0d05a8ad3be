"""The demo's second factor: the current sign-in codes of the demo administrator, privacy officer
and identity reviewer, as their authenticator app would show them (`.venv/bin/python -m demo.totp`).

Their keys are published in demo/load.py; they exist only in the local demo database.
"""

import sys
from base64 import b32encode

from django_otp.oath import TOTP

from demo.load import DEMO_USERS


def current_code(hex_key: str) -> str:
    return f"{TOTP(bytes.fromhex(hex_key)).token():06d}"


def authenticator_key(hex_key: str) -> str:
    """The key as an authenticator app takes it (base32)."""
    return b32encode(bytes.fromhex(hex_key)).decode()


def main() -> None:
    wanted = set(sys.argv[1:])
    for user in DEMO_USERS:
        if user.totp_key and (not wanted or user.username in wanted):
            print(f"{user.username:<10} {current_code(user.totp_key)}")


if __name__ == "__main__":
    main()
