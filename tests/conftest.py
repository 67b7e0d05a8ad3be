"""Shared fixtures: factories' users and sources, and settings every test runs under."""

import pytest
from django.conf import settings

from tests.factories import UserFactory

# Tests speak plain HTTP to the test server, as the local demo does.
settings.SECURE_SSL_REDIRECT = False
settings.SESSION_COOKIE_SECURE = False
settings.CSRF_COOKIE_SECURE = False


@pytest.fixture
def reviewer(db):
    return UserFactory(username="reviewer", first_name="Rita", last_name="Reviewer")
