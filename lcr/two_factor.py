"""Two-factor pages: prove a code from an authenticator app (TOTP, django-otp), or set one up the
first time. Reached after the password, before anything else (lcr.signin.SecondFactorRequired).
"""

from base64 import b32encode

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from records.form_fields import PlainForm


class TokenForm(PlainForm):
    token = forms.CharField(
        label="Security code",
        help_text="The 6-digit code your authenticator app shows now.",
        max_length=20,
        error_messages={"required": "Enter the 6-digit security code"},
    )

    def clean_token(self) -> str:
        token = "".join(self.cleaned_data["token"].split())
        if not (token.isdigit() and len(token) == 6):
            raise forms.ValidationError("Enter the 6 digits of the code, like 123456.")
        return token


def _grouped(secret: str) -> str:
    """The key in groups of four, for typing into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return settings.LOGIN_REDIRECT_URL


def _check(form: TokenForm, device: TOTPDevice) -> bool:
    """Verify the code against this device, within django-otp's throttling."""
    if not form.is_valid():
        return False
    allowed, _ = device.verify_is_allowed()
    if not allowed:
        form.add_error("token", "Too many wrong codes. Wait a minute, then try again.")
        return False
    if not device.verify_token(form.cleaned_data["token"]):
        form.add_error("token", "That code is not right, or has expired. Try the current one.")
        return False
    return True


@never_cache
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    device = TOTPDevice.objects.filter(user=request.user, confirmed=True).first()
    if device is None:
        return redirect("two-factor-setup")
    form = TokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and _check(form, device):
        otp_login(request, device)
        return redirect(_next(request))
    return render(request, "registration/two_factor.html", {"form": form, "next": _next(request)})


@never_cache
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    """First-time setup only: once a device is confirmed, changing it is an administrator's job
    (Django admin, OTP devices), so a stolen password alone cannot replace it."""
    if TOTPDevice.objects.filter(user=request.user, confirmed=True).exists():
        return redirect("two-factor")
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=request.user, confirmed=False, name="Authenticator app"
        )
    form = TokenForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and _check(form, device):
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        otp_login(request, device)
        messages.success(request, "Two-factor sign-in is set up.")
        return redirect(_next(request))
    uri = device.config_url
    return render(
        request,
        "registration/two_factor_setup.html",
        {
            "form": form,
            "next": _next(request),
            "secret": _grouped(b32encode(device.bin_key).decode()),
            "otpauth_uri": uri,
            # segno's own SVG of the URI: no user input reaches it unescaped.
            "qr_svg": mark_safe(segno.make(uri, error="m").svg_inline(scale=4)),  # noqa: S308
            "issuer": settings.OTP_TOTP_ISSUER,
        },
    )
