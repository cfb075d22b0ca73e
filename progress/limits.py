"""How often someone may try to log in or sign up, per client address and per user name.

Why this and not django-axes: both would count failures, but axes writes a database row
for every attempt (under a flood that is the database doing the attacker's work), counts
per address only as the request's ``REMOTE_ADDR`` or its own proxy settings, and covers
log-in only. Here the same mechanism as every other limit of the site
(:mod:`learnsite.admission`) counts attempts in Redis before the password is hashed or the
user name looked up: per address (``TRUSTED_PROXIES`` decides which address), per user name
(so a user name cannot be guessed at from many addresses) and site-wide, for log-in and
sign-up alike, with one kind of refusal and a ``Retry-After``. Every attempt counts, not
only failures: each costs a password hash. The lock-out of a user name lasts one window.
"""

from __future__ import annotations

from learnsite import admission
from learnsite.admission import LimitError

__all__ = ["LOGINS", "SIGNUPS", "LimitError", "login_attempt_admit", "signup_attempt_admit"]

LOGIN_WINDOW = 300  # seconds
LOGINS_PER_NAME = 10  # log-in attempts for one user name per window
LOGINS_PER_ADDRESS = 30  # ... from one address per window
LOGINS_SITE = 3000
SIGNUP_WINDOW = 3600
SIGNUPS_PER_NAME = 5  # sign-up attempts with one user name per window
SIGNUPS_PER_ADDRESS = 40  # a class of 30 signing up behind one address fits
SIGNUPS_SITE = 1000

LOGINS = admission.Rate(
    name="login",
    per_learner=LOGINS_PER_NAME,
    per_address=LOGINS_PER_ADDRESS,
    site=LOGINS_SITE,
    window=LOGIN_WINDOW,
    messages={
        "learner": "Too many log-in attempts for this user name. Try again in {wait} s, or "
        "sign up for a new account.",
        "address": "Too many log-in attempts from your network. Try again in {wait} s.",
        "site": "Too many log-in attempts on the site right now. Try again in {wait} s.",
    },
)
SIGNUPS = admission.Rate(
    name="signup",
    per_learner=SIGNUPS_PER_NAME,
    per_address=SIGNUPS_PER_ADDRESS,
    site=SIGNUPS_SITE,
    window=SIGNUP_WINDOW,
    messages={
        "learner": "Too many sign-up attempts with this user name. Choose another, or try "
        "again in {wait} s.",
        "address": "Too many sign-ups from your network. Try again in {wait} s.",
        "site": "Too many sign-ups on the site right now. Try again in {wait} s.",
    },
)


def _name(user_name: str) -> str:
    # Django's user names are case-sensitive, but Ann and ann are one guess to an attacker.
    return "name:" + user_name.strip().casefold()[:150]


def login_attempt_admit(*, user_name: str, client_addr: str) -> None:
    """Count one log-in attempt; LimitError (counting nothing) past a limit."""
    LOGINS.hit(learner=_name(user_name), address=client_addr)


def signup_attempt_admit(*, user_name: str, client_addr: str) -> None:
    """Count one sign-up attempt; LimitError (counting nothing) past a limit."""
    SIGNUPS.hit(learner=_name(user_name), address=client_addr)


RESET_WINDOW = 3600
RESETS_PER_EMAIL = 3  # reset links sent to one address per hour
RESETS_PER_ADDRESS = 20
RESETS_SITE = 500
RESETS = admission.Rate(
    name="password-reset",
    per_learner=RESETS_PER_EMAIL,
    per_address=RESETS_PER_ADDRESS,
    site=RESETS_SITE,
    window=RESET_WINDOW,
    messages={
        "learner": "A reset link was asked for this email several times already. Check your "
        "inbox (and spam folder), or try again in {wait} s.",
        "address": "Too many reset requests from your network. Try again in {wait} s.",
        "site": "Too many reset requests on the site right now. Try again in {wait} s.",
    },
)


def password_reset_admit(*, email: str, client_addr: str) -> None:
    """Count one reset request (each may send a mail); LimitError past a limit."""
    RESETS.hit(learner="email:" + email.strip().casefold()[:254], address=client_addr)
