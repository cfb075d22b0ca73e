"""Progress made before logging in follows the learner into their account."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from progress import services


@receiver(user_logged_in, dispatch_uid="progress.merge_on_login")
def merge_on_login(
    sender: Any, request: HttpRequest | None, user: AbstractBaseUser, **kwargs: Any
) -> None:
    # The receiver only hands over to the service: Django's own LoginView has no other hook.
    if request is not None and hasattr(request, "session"):
        services.learner_merge(request=request, user=user)
