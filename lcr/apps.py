"""django.contrib.admin's app, with the product's own site (lcr.admin_site) as `admin.site`."""

from django.contrib.admin.apps import AdminConfig


class CareRecordAdminConfig(AdminConfig):
    default_site = "lcr.admin_site.CareRecordAdminSite"
