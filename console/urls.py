from django.urls import path

from console import views

app_name = "console"
urlpatterns = [
    path("", views.console_page, name="page"),
    path("run/", views.console_run, name="run"),
    path("stream/", views.console_stream, name="stream"),
    path("predict/<slug:prediction_id>/", views.prediction_check, name="predict"),
    path("demo/streams/<slug:action>/", views.streams_demo, name="streams-demo"),
]
