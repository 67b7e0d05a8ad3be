"""URL configuration: the portal's pages, the partner API, the admin, health and readiness."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from access import views as access_views
from audit import views as audit_views
from lcr import two_factor, views
from records import views as record_views

admin.site.site_header = "Shared care record administration"
admin.site.site_title = "Shared care record"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.health, name="health"),
    path("readyz", views.ready, name="ready"),
    path(
        "sign-in/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path("sign-in/two-factor/", two_factor.verify, name="two-factor"),
    path("sign-in/two-factor/setup/", two_factor.setup, name="two-factor-setup"),
    path("team/", access_views.choose_team, name="choose-team"),
    path("patients/", record_views.patient_search, name="patient-search"),
    path("patients/<int:patient_id>/", record_views.patient_record, name="patient-record"),
    path("break-glass/", record_views.break_glass, name="break-glass"),
    path("manage/patients/", access_views.find_patient, name="manage-find-patient"),
    path("manage/patients/<int:patient_id>/", access_views.manage_patient, name="manage-patient"),
    path(
        "manage/patients/<int:patient_id>/objections/",
        access_views.record_objection,
        name="manage-record-objection",
    ),
    path(
        "manage/relationships/<int:relationship_id>/end/",
        access_views.end_relationship,
        name="manage-end-relationship",
    ),
    path(
        "manage/objections/<int:objection_id>/withdraw/",
        access_views.withdraw_objection,
        name="manage-withdraw-objection",
    ),
    path(
        "manage/relationships/import/",
        access_views.import_relationships_page,
        name="manage-import-relationships",
    ),
    path(
        "audit/patients/<int:patient_id>/",
        audit_views.patient_access_report,
        name="audit-access-report",
    ),
    path("audit/break-glass/", audit_views.review_queue, name="audit-review-queue"),
    path(
        "audit/break-glass/<int:access_id>/review/",
        audit_views.review_break_glass,
        name="audit-review-break-glass",
    ),
    path("api/", include("lcr.api_urls")),
    path("admin/", admin.site.urls),
]

handler404 = "lcr.views.not_found"
handler403 = "lcr.views.permission_denied"
handler500 = "lcr.views.server_error"
