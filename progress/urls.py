from __future__ import annotations

from django.urls import path

from progress import views

# Mounted under /quizzes/, where these pages have always been (bookmarks and links stay good).
# The export, /quizzes/progress.json, is served by the quizzes app (quizzes:export): it tells the
# course's completion and mastery, which need the lessons and the practice sets.
app_name = "progress"
urlpatterns = [
    path("signup/", views.signup, name="signup"),
]
