"""URL configuration: the portal's pages, the partner API, the admin, health and readiness."""

from django.contrib import admin
from django.urls import include, path

from access import views as access_views
from audit import question_views, report_views, review_views
from audit import views as audit_views
from care_record import (
    administration,
    document_views,
    identity_merging,
    identity_review,
    patient_portal,
    relationship_import,
)
from care_record import launch as record_launch
from care_record import updates as record_updates
from care_record import views as record_views
from lcr import metrics, patient_sign_in_views, sign_in_views, two_factor, views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.health, name="health"),
    path("readyz", views.ready, name="ready"),
    path("metrics", metrics.metrics, name="metrics"),
    path("sign-in/", sign_in_views.SignInPage.as_view(), name="login"),
    path("sign-out/", sign_in_views.sign_out, name="logout"),
    path("sign-in/no-role/", sign_in_views.no_role, name="sign-in-no-role"),
    path(
        "oidc/<slug:slug>/backchannel-logout/",
        sign_in_views.backchannel_logout,
        name="backchannel-logout",
    ),
    path("oidc/jwks.json", sign_in_views.jwks, name="oidc-jwks"),
    path("sign-in/two-factor/", two_factor.verify, name="two-factor"),
    path("sign-in/two-factor/setup/", two_factor.setup, name="two-factor-setup"),
    # After the fixed sign-in addresses: a provider's slug could otherwise shadow them.
    path("sign-in/<slug:slug>/", sign_in_views.begin, name="sign-in-with"),
    path("sign-in/<slug:slug>/callback/", sign_in_views.callback, name="sign-in-callback"),
    path("team/", access_views.choose_team, name="choose-team"),
    path("patients/", record_views.patient_search, name="patient-search"),
    path("patients/<int:patient_id>/", record_views.patient_record, name="patient-record"),
    path(
        "patients/<int:patient_id>/updates/", record_updates.record_updates, name="record-updates"
    ),
    path(
        "patients/<int:patient_id>/documents/<str:source_ods_code>/<str:document_id>/",
        document_views.patient_document,
        name="patient-document",
    ),
    path("break-glass/", record_views.break_glass, name="break-glass"),
    path("launch", record_launch.launch, name="launch"),
    path("launch/callback", record_launch.launch_callback, name="launch-callback"),
    path("manage/patients/", administration.find_patient, name="manage-find-patient"),
    path("manage/patients/<int:patient_id>/", administration.manage_patient, name="manage-patient"),
    path(
        "manage/patients/<int:patient_id>/objections/",
        administration.record_objection,
        name="manage-record-objection",
    ),
    path(
        "manage/relationships/<int:relationship_id>/end/",
        administration.end_relationship,
        name="manage-end-relationship",
    ),
    path(
        "manage/objections/<int:objection_id>/withdraw/",
        administration.withdraw_objection,
        name="manage-withdraw-objection",
    ),
    path(
        "manage/relationships/import/",
        relationship_import.upload_page,
        name="manage-import-relationships",
    ),
    path(
        "manage/relationships/import/<int:import_id>/",
        relationship_import.check_page,
        name="manage-import-check",
    ),
    path(
        "manage/relationships/import/<int:import_id>/import/",
        relationship_import.import_page,
        name="manage-import-run",
    ),
    path(
        "manage/relationships/import/<int:import_id>/results/",
        relationship_import.results_page,
        name="manage-import-results",
    ),
    path(
        "manage/relationships/import/<int:import_id>/results.csv",
        relationship_import.results_csv,
        name="manage-import-results-csv",
    ),
    path("manage/teams/", access_views.manage_teams, name="manage-teams"),
    path(
        "manage/teams/<int:team_id>/members/",
        access_views.manage_team_members,
        name="manage-team-members",
    ),
    path(
        "manage/memberships/<int:membership_id>/end/",
        access_views.end_membership,
        name="manage-end-membership",
    ),
    # Identity reviewers' pages (docs/identity.md): the queue, decisions, merging.
    path("identity/", identity_review.queue, name="identity-queue"),
    path("identity/records/<int:record_id>/", identity_review.record_page, name="identity-record"),
    path(
        "identity/records/<int:record_id>/decision/",
        identity_review.decide,
        name="identity-decide",
    ),
    path("identity/merges/", identity_merging.merges, name="identity-merges"),
    path("identity/merges/choose/", identity_merging.choose, name="identity-merge-choose"),
    path("identity/merges/compare/", identity_merging.compare, name="identity-merge-compare"),
    path(
        "identity/merges/requests/<int:request_id>/",
        identity_merging.merge_request,
        name="identity-merge-request",
    ),
    path("identity/merges/<int:merge_id>/", identity_merging.merge_page, name="identity-merge"),
    path("audit/memberships/", audit_views.membership_changes, name="audit-membership-changes"),
    path("audit/patients/", report_views.find_patient, name="audit-find-patient"),
    path(
        "audit/patients/<int:patient_id>/",
        report_views.patient_access_report,
        name="audit-access-report",
    ),
    path(
        "audit/patients/<int:patient_id>/subject-access-requests/",
        report_views.subject_access_request,
        name="audit-subject-access-request",
    ),
    path(
        "audit/access-report-columns.csv",
        report_views.access_report_columns,
        name="audit-access-report-columns",
    ),
    path("audit/break-glass/", review_views.review_queue, name="audit-review-queue"),
    path("audit/break-glass/export/", review_views.review_queue_csv, name="audit-review-queue-csv"),
    path(
        "audit/break-glass/<int:access_id>/",
        review_views.break_glass_detail,
        name="audit-break-glass",
    ),
    path(
        "audit/break-glass/<int:access_id>/review/",
        review_views.review_break_glass,
        name="audit-review-break-glass",
    ),
    path("audit/questions/", question_views.patient_questions, name="audit-patient-questions"),
    path(
        "audit/questions/<int:question_id>/answer/",
        question_views.answer,
        name="audit-answer-question",
    ),
    path(
        "account/how-patients-see-you/",
        access_views.shown_to_patients,
        name="account-shown-to-patients",
    ),
    # Patients' own part of the portal, signed in through NHS login (docs/patients.md).
    path("your-record/", patient_portal.home, name="patient-home"),
    path("your-record/sign-in/", patient_sign_in_views.start, name="patient-sign-in"),
    path(
        "your-record/sign-in/nhs-login/",
        patient_sign_in_views.begin,
        name="patient-sign-in-begin",
    ),
    path(
        "your-record/sign-in/callback/",
        patient_sign_in_views.callback,
        name="patient-sign-in-callback",
    ),
    path("your-record/sign-out/", patient_sign_in_views.sign_out, name="patient-sign-out"),
    path("your-record/who-has-looked/", patient_portal.looks, name="patient-looks"),
    path(
        "your-record/who-has-looked/<int:look_id>/ask/",
        patient_portal.ask,
        name="patient-ask-about-look",
    ),
    path("your-record/questions/", patient_portal.questions, name="patient-questions"),
    path("your-record/sharing/", patient_portal.sharing, name="patient-sharing"),
    path("your-record/sharing/object/", patient_portal.object_to_sharing, name="patient-object"),
    path(
        "your-record/sharing/withdraw-objection/",
        patient_portal.withdraw,
        name="patient-withdraw-objection",
    ),
    path(
        "audit/alerts/<slug:kind>/<int:user_id>/",
        review_views.alert_evidence_page,
        name="audit-alert-evidence",
    ),
    path("api/", include("lcr.api_urls")),
    path("admin/", admin.site.urls),
]

handler404 = "lcr.views.not_found"
handler403 = "lcr.views.permission_denied"
handler500 = "lcr.views.server_error"
