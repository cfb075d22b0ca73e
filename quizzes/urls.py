from __future__ import annotations

from django.urls import path

from quizzes import views

app_name = "quizzes"
urlpatterns = [
    path("", views.index, name="index"),
    path("review/", views.review, name="review"),
    path("review/again/", views.review_again, name="review_again"),
    path("answer/", views.answer, name="answer"),
    path("insights/", views.insights, name="insights"),
    path("mastery/", views.mastery, name="mastery"),
    path("progress.json", views.export, name="export"),
    path("progress/import/", views.progress_import, name="import"),
    path("<slug:lesson_slug>/", views.quiz_page, name="quiz"),
    path("<slug:lesson_slug>/again/", views.try_again, name="try_again"),
    path("<slug:lesson_slug>/retry/", views.retry, name="retry"),
    path("<slug:lesson_slug>/retry/<int:retry_id>/", views.retry_page, name="retry_page"),
]
