from django.urls import path

from lab import views

app_name = "lab"

urlpatterns = [
    path("", views.lab_page, name="page"),
    path("run", views.run, name="run"),
    path("drafts", views.drafts, name="drafts"),
    path("runs/<str:job>/stream", views.run_stream, name="stream"),
    path("exercises/<slug:exercise_id>/", views.exercise_page, name="exercise"),
]
