from __future__ import annotations

from django.urls import path

from progress import views

# In front of django.contrib.auth.urls (learnsite/urls.py): the same URLs and names, with the
# site's templates, throttled, and honest about mail. Django's own confirm and complete views
# stay (they find the site's templates in templates/registration/).
urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("password_reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password_reset/done/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
]
