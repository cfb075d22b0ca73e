from __future__ import annotations

from django.urls import path

from live import views

app_name = "live"
urlpatterns = [
    path("", views.index, name="index"),
    path("<str:feed>/", views.feed_page, name="feed"),
    path("<str:feed>/stream", views.stream, name="stream"),
    path("<str:feed>/kickoff", views.kickoff, name="kickoff"),
]
