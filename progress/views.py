"""Progress pages: sign up to keep your progress, log in (throttled), reset a forgotten
password (by email where the site sends mail; otherwise an honest page). Its export is
``quizzes.views.export``: that needs the course and the practice sets, which this layer
cannot read."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_http_methods

from learnsite import admission
from learnsite.http import safe_next
from progress import limits, selectors
from progress.forms import ProgressImportForm, SignupForm


def _refused(response: HttpResponse, exc: limits.LimitError) -> HttpResponse:
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


class LoginView(auth_views.LoginView):
    """Django's log-in, with attempts counted per address and per user name before the
    password is checked (see ``progress/limits.py``)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user_name = request.POST.get("username", "")
        try:
            limits.login_attempt_admit(
                user_name=user_name, client_addr=admission.request_address(request)
            )
        except limits.LimitError as exc:
            # An unbound form: binding it would authenticate, the work being refused.
            form = AuthenticationForm(request, initial={"username": user_name})
            context = self.get_context_data(form=form, refusal=str(exc))
            return _refused(self.render_to_response(context, status=429), exc)
        return super().post(request, *args, **kwargs)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("lessons:home")
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        try:
            # Before is_valid(): that hashes the password and looks the user name up.
            limits.signup_attempt_admit(
                user_name=request.POST.get("username", ""),
                client_addr=admission.request_address(request),
            )
        except limits.LimitError as exc:
            unbound = SignupForm(initial={"username": request.POST.get("username", "")})
            page = render(
                request,
                "registration/signup.html",
                {"form": unbound, "next": request.GET.get("next", ""), "refusal": str(exc)},
                status=429,
            )
            return _refused(page, exc)
    if request.method == "POST" and form.is_valid():
        moving = selectors.learner_holdings(learner=selectors.learner_find(request=request))
        user = form.save()
        # Logging in fires user_logged_in, which merges this visitor's progress.
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        summary = selectors.moved_summary(moving, into="into your account")
        messages.success(
            request,
            f"Welcome, {user.get_username()}. "
            + (summary or "Your account is ready: what you do from now on is kept in it."),
        )
        return redirect(safe_next(request, reverse("lessons:home")))
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "registration/signup.html",
        {"form": form, "next": request.GET.get("next", "")},
        status=status,
    )


def _mail_kind() -> str | None:
    kind: str | None = settings.PASSWORD_RESET_MAIL
    return kind


def _no_mail(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    """The reset page where the site sends no mail: say so, and offer the progress import."""
    return render(
        request,
        "registration/password_reset_unavailable.html",
        {"import_form": ProgressImportForm()},
        status=status,
    )


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset by email, with the site's templates, and only where mail goes out.
    Requests are counted per email and address (each may send a mail)."""

    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if _mail_kind() is None:
            return _no_mail(request)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(**kwargs) | {
            "mail_kind": _mail_kind(),
            "import_form": ProgressImportForm(),
        }

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            limits.password_reset_admit(
                email=request.POST.get("email", ""),
                client_addr=admission.request_address(request),
            )
        except limits.LimitError as exc:
            context = self.get_context_data(refusal=str(exc))
            return _refused(self.render_to_response(context, status=429), exc)
        return super().post(request, *args, **kwargs)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if _mail_kind() is None:  # nothing was sent: never say it was
            return _no_mail(request)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(**kwargs) | {"mail_kind": _mail_kind()}
