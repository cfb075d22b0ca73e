from django.contrib import admin
from django.urls import include, path

from learnsite import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("streams/", views.streams, name="streams"),
    path("admin/", admin.site.urls),
    # progress's throttled log-in first: it takes the same URL and name as Django's.
    path("accounts/", include("progress.account_urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("quizzes/", include("progress.urls")),
    path("quizzes/", include("quizzes.urls")),
    path("sandbox/console/", include("console.urls")),
    path("sandbox/", include("sandbox.urls")),
    path("live/", include("live.urls")),
    path("lab/", include("lab.urls")),
    path("", include("lessons.urls")),
]

handler400 = "learnsite.errors.bad_request"
handler403 = "learnsite.errors.permission_denied"
handler404 = "learnsite.errors.page_not_found"
handler500 = "learnsite.errors.server_error"
