"""The HTML pages of the simulated identity providers (demo/identity_provider.py): sign-in, role
choice, errors and the simulator's "sign out of everything" page.

Plain HTML with one same-origin stylesheet (no external assets, no inline styles), readable on a
390 px wide phone. Every page says at the top that it is a simulation, so nobody mistakes it for
the real CIS2 or a council's real sign-in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

STYLESHEET = b"""
body { font-family: Arial, Helvetica, sans-serif; margin: 0; color: #212b32; background: #f0f4f5; }
main { max-width: 40rem; margin: 0 auto; padding: 1rem; }
.simulation { background: #ffeb3b; border-bottom: 4px solid #212b32; padding: 0.75rem 1rem;
  font-weight: bold; }
h1 { font-size: 1.6rem; }
label { display: block; font-weight: bold; margin: 1rem 0 0.25rem; }
input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: 0.5rem;
  font-size: 1rem; border: 2px solid #4c6272; }
fieldset { border: 0; padding: 0; margin: 1rem 0; }
legend { font-weight: bold; }
fieldset label { font-weight: normal; display: block; margin: 0.5rem 0; }
button { font-size: 1rem; padding: 0.6rem 1rem; margin: 1rem 0.5rem 0 0; border: 0;
  background: #007f3b; color: #fff; cursor: pointer; }
button.secondary { background: #4c6272; }
.error { border-left: 6px solid #d5281b; padding-left: 0.75rem; color: #d5281b; font-weight: bold; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.35rem; border-bottom: 1px solid #d8dde0; vertical-align: top;
  overflow-wrap: anywhere; }
code { font-size: 0.9rem; }
"""


def _page(*, title: str, banner: str, body: str, stylesheet_url: str) -> bytes:
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f'<link rel="stylesheet" href="{escape(stylesheet_url)}"></head>'
        f'<body><p class="simulation" role="note">{escape(banner)}</p>'
        f"<main><h1>{escape(title)}</h1>{body}</main></body></html>\n"
    ).encode()


def _users_table(users: Iterable[Any], *, profile: str) -> str:
    rows = []
    if profile == "nhs-login":
        return _patients_table(users)
    for user in users:
        if profile == "cis2":
            roles = "<br>".join(
                f"{escape(role['org_code'])} {escape(role['role_code'])}" for role in user.roles
            )
        else:
            roles = escape(", ".join(user.roles))
        rows.append(
            f"<tr><td><code>{escape(user.username)}</code></td>"
            f"<td><code>{escape(user.password)}</code></td>"
            f"<td>{escape(user.given_name)} {escape(user.family_name)}</td><td>{roles}</td></tr>"
        )
    return (
        "<h2>Demo users (synthetic)</h2>"
        "<table><thead><tr><th>Username</th><th>Password</th><th>Name</th><th>Roles</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _patients_table(users: Iterable[Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(user.username)}</code></td>"
        f"<td><code>{escape(user.password)}</code></td>"
        f"<td>{escape(user.given_name)} {escape(user.family_name)}</td>"
        f"<td>{escape(user.nhs_number)}</td><td>{escape(user.proofing_level)}</td></tr>"
        for user in users
    )
    return (
        "<h2>Demo patients (synthetic)</h2>"
        "<table><thead><tr><th>Username</th><th>Password</th><th>Name</th><th>NHS number</th>"
        f"<th>Identity proved to</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def sign_in_page(
    *,
    profile: str,
    banner: str,
    title: str,
    action: str,
    request_id: str,
    users: Sequence[Any],
    error: str = "",
    username: str = "",
    stylesheet_url: str,
) -> bytes:
    """The username and password form, with CIS2's "authenticate with" choice."""
    method = ""
    if profile == "cis2":
        method = (
            "<fieldset><legend>Authenticate with</legend>"
            '<label><input type="radio" name="method" value="smartcard" checked> '
            "Smartcard (AAL3)</label>"
            '<label><input type="radio" name="method" value="security-key"> '
            "Password and security key (AAL2)</label></fieldset>"
        )
    body = (
        (f'<p class="error" role="alert">{escape(error)}</p>' if error else "")
        + f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="request" value="{escape(request_id)}">'
        '<label for="username">Username</label>'
        f'<input type="text" id="username" name="username" value="{escape(username)}" '
        'autocomplete="username" required>'
        '<label for="password">Password</label>'
        '<input type="password" id="password" name="password" autocomplete="current-password">'
        f"{method}"
        '<button type="submit" name="action" value="sign-in">Sign in</button>'
        '<button type="submit" name="action" value="cancel" class="secondary" formnovalidate>'
        "Cancel</button></form>" + _users_table(users, profile=profile)
    )
    return _page(title=title, banner=banner, body=body, stylesheet_url=stylesheet_url)


def role_page(
    *, banner: str, action: str, request_id: str, roles: Sequence[dict], stylesheet_url: str
) -> bytes:
    """CIS2's role selection, for a user with more than one role."""
    choices = "".join(
        f'<label><input type="radio" name="role" value="{escape(role["person_roleid"])}"'
        f"{' checked' if index == 0 else ''}> {escape(role['role_name'])} at "
        f"{escape(role['org_code'])} (<code>{escape(role['role_code'])}</code>)</label>"
        for index, role in enumerate(roles)
    )
    body = (
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="request" value="{escape(request_id)}">'
        f"<fieldset><legend>Which role are you working in?</legend>{choices}</fieldset>"
        '<button type="submit" name="action" value="select-role">Continue</button>'
        '<button type="submit" name="action" value="cancel" class="secondary">Cancel</button>'
        "</form>"
    )
    return _page(title="Select your role", banner=banner, body=body, stylesheet_url=stylesheet_url)


def error_page(*, banner: str, message: str, stylesheet_url: str) -> bytes:
    """An error shown to the browser: never a redirect to an unregistered address."""
    body = f'<p class="error" role="alert">{escape(message)}</p>'
    return _page(
        title="Sign-in cannot continue", banner=banner, body=body, stylesheet_url=stylesheet_url
    )


def message_page(*, banner: str, title: str, message: str, stylesheet_url: str) -> bytes:
    return _page(
        title=title, banner=banner, body=f"<p>{escape(message)}</p>", stylesheet_url=stylesheet_url
    )


def sign_out_page(
    *,
    banner: str,
    action: str,
    users: Sequence[Any],
    signed_in_as: str,
    deliveries: Sequence[dict] | None,
    stylesheet_url: str,
) -> bytes:
    """The simulator's "sign out of everything": ends a user's sessions at the provider and tells
    each relying party by back-channel logout; after a POST, shows what each delivery answered."""
    options = "".join(
        f'<label><input type="radio" name="username" value="{escape(user.username)}"'
        f"{' checked' if user.username == signed_in_as or (not signed_in_as and i == 0) else ''}>"
        f" {escape(user.username)}</label>"
        for i, user in enumerate(users)
    )
    result = ""
    if deliveries is not None:
        if deliveries:
            rows = "".join(
                f"<tr><td>{escape(d['client_id'])}</td><td>{escape(d['uri'])}</td>"
                f"<td>{escape(str(d['status'] or d['error']))}</td></tr>"
                for d in deliveries
            )
            result = (
                "<h2>Back-channel logout deliveries</h2><table><thead><tr><th>Client</th>"
                f"<th>Address</th><th>Answer</th></tr></thead><tbody>{rows}</tbody></table>"
            )
        else:
            result = "<p>That user had no sessions here: nobody was told.</p>"
    body = (
        "<p>Ends every session of the chosen user at this provider and sends a back-channel "
        "logout token to each service they signed in to.</p>"
        f'<form method="post" action="{escape(action)}">'
        f"<fieldset><legend>User</legend>{options}</fieldset>"
        '<button type="submit">Sign out of everything (simulated)</button></form>' + result
    )
    return _page(
        title="Sign out of everything (simulated)",
        banner=banner,
        body=body,
        stylesheet_url=stylesheet_url,
    )
