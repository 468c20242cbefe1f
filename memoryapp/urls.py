from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from memoryapp import views
from memoryapp.views import memory as memory_views
from memoryapp.views import memory_forget, memory_privacy, memory_review, memory_search
from memoryapp.views import memory_import as memory_import_views
from memoryapp.views import models as model_views

urlpatterns = [
    path("", views.home, name="home"),
    path("c/new", views.conversation_new, name="conversation_new"),
    path("c/start", views.conversation_start, name="conversation_start"),
    path("c/<uuid:conversation_id>/", views.conversation_detail, name="conversation"),
    path("c/<uuid:conversation_id>/rename", views.conversation_rename, name="conversation_rename"),
    path(
        "c/<uuid:conversation_id>/delete",
        memory_forget.conversation_forget,
        name="conversation_delete",
    ),
    path("c/<uuid:conversation_id>/messages", views.message_send, name="message_send"),
    path("m/<uuid:message_id>/", views.message_detail, name="message"),
    path("m/<uuid:message_id>/stop", views.answer_stop, name="answer_stop"),
    path("m/<uuid:message_id>/retry", views.answer_retry, name="answer_retry"),
    path("m/<uuid:message_id>/continue", views.answer_continue, name="answer_continue"),
    path(
        "c/<uuid:conversation_id>/incognito",
        memory_privacy.conversation_incognito,
        name="conversation_incognito",
    ),
    path("search", views.conversation_search, name="conversation_search"),
    path("memory/pause", memory_privacy.memory_pause, name="memory_pause"),
    path("memory/search", memory_search.memory_search_page, name="memory_search"),
    path("memory/", memory_views.memory_page, name="memory"),
    path("memory/export", memory_views.memory_export, name="memory_export"),
    path("memory/import", memory_import_views.memory_import, name="memory_import"),
    path("memory/imports/<uuid:job_id>", memory_import_views.import_job_status, name="import_job"),
    path("memory/facts/<uuid:fact_id>/", memory_review.fact_body, name="fact_body"),
    path("memory/facts/<uuid:fact_id>/edit", memory_review.fact_edit, name="fact_edit"),
    path("memory/facts/<uuid:fact_id>/retract", memory_review.fact_retract, name="fact_retract"),
    path("memory/review/", memory_review.review_page, name="memory_review"),
    path(
        "memory/review/<uuid:proposal_id>/accept",
        memory_review.proposal_accept,
        name="proposal_accept",
    ),
    path(
        "memory/review/<uuid:proposal_id>/reject",
        memory_review.proposal_reject,
        name="proposal_reject",
    ),
    path("memory/history/", memory_review.history_page, name="memory_history"),
    path("memory/forget/fact/<uuid:fact_id>", memory_forget.fact_forget, name="fact_forget"),
    path(
        "memory/forget/topic/<uuid:segment_id>",
        memory_forget.segment_forget,
        name="segment_forget",
    ),
    path("memory/forget/everything", memory_forget.everything_forget, name="everything_forget"),
    path(
        "memory/changesets/<uuid:changeset_id>/undo",
        memory_views.changeset_undo,
        name="changeset_undo",
    ),
    path("setup/<str:token>/", views.setup, name="setup"),
    path("members/", views.members, name="members"),
    path("help/models", views.help_models, name="help_models"),
    path("models/", model_views.models_page, name="models"),
    path("models/download", model_views.model_download, name="model_download"),
    path(
        "models/downloads/<uuid:download_id>",
        model_views.model_download_status,
        name="model_download_status",
    ),
    path("models/use", model_views.model_use, name="model_use"),
    path("models/use-settings", model_views.model_use_settings, name="model_use_settings"),
    path("members/<int:member_id>/password", views.member_password, name="member_password"),
    path("members/<int:member_id>/remove", views.member_remove, name="member_remove"),
    path("account/", views.account, name="account"),
    path("account/password", views.account_password, name="account_password"),
    path("account/privacy", views.account_privacy, name="account_privacy"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
