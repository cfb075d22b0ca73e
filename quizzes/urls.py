from __future__ import annotations

from django.urls import path

from quizzes import views

app_name = "quizzes"
urlpatterns = [
    path("", views.index, name="index"),
    path("review/", views.review, name="review"),
    path("review/again/", views.review_again, name="review_again"),
    path("signup/", views.signup, name="signup"),
    path("answer/", views.answer, name="answer"),
    path("progress.json", views.progress_json, name="progress_json"),
    path("insights/", views.insights, name="insights"),
    path("<slug:lesson_slug>/", views.quiz_page, name="quiz"),
    path("<slug:lesson_slug>/again/", views.try_again, name="try_again"),
]
