"""The sign-up form."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

NAME_UNAVAILABLE = "That user name cannot be used; pick another."
EMAIL_UNAVAILABLE = "That email cannot be used here; use another, or leave it empty."
EMAIL_HELP = (
    "Optional. Only used to send you a link if you forget your password. Without it, a "
    "forgotten password cannot be reset; you can still download your progress and import it."
)

# django-stubs makes the form generic in its user model; at run time the class is not.
if TYPE_CHECKING:
    _Base = UserCreationForm[User]
else:
    _Base = UserCreationForm


class SignupForm(_Base):
    """Django's sign-up form, except for a name already taken. Django answers "A user with
    that username already exists.", which confirms to anyone that an account of that name
    exists (and so a name worth guessing passwords for). This says only that the name cannot
    be used, as it would for any other reason, and sign-up attempts are throttled per address
    and per name (``progress/limits.py``), so probing names one by one is slow."""

    email = forms.EmailField(required=False, max_length=254, help_text=EMAIL_HELP)

    field_order = ["username", "email", "password1", "password2"]

    def clean_email(self) -> str:
        email: str = self.cleaned_data.get("email") or ""
        # Two accounts with one email would both get its reset link.
        if email and User.objects.filter(email__iexact=email).exists():
            raise ValidationError(EMAIL_UNAVAILABLE, code="email_unavailable")
        return email

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        user.email = self.cleaned_data.get("email") or ""
        if commit:
            user.save()
        return user

    def clean_username(self) -> str:
        # Runs only once the field itself is valid, so the name is there.
        username: str = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError(NAME_UNAVAILABLE, code="username_unavailable")
        return username


class ProgressImportForm(forms.Form):
    """The exported progress file (``/quizzes/progress.json``) to add to this learner."""

    file = forms.FileField(label="Your progress file (my-progress.json)")
