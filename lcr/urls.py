"""URL configuration: the portal's pages, the admin, and a health check for process managers."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from lcr import views

admin.site.site_header = "Shared care record administration"
admin.site.site_title = "Shared care record"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.health, name="health"),
    path(
        "sign-in/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]

handler404 = "lcr.views.not_found"
handler500 = "lcr.views.server_error"
