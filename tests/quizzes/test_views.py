from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.models import F
from django.test import Client

from progress.models import Answer, Learner, LessonRead, QuizAttempt
from quizzes.loader import QuizBank
from quizzes.shuffle import label_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_small_bank")]
HTMX = {"HTTP_HX_REQUEST": "true"}


def _form(client: Client, url: str = "/quizzes/intro/") -> dict[str, str]:
    """The hidden fields of the first unanswered question on the page."""
    html = client.get(url).content.decode()
    form = html[html.index('class="quiz-form"') :]
    fields = dict(re.findall(r'name="(attempt|question|version|number)" value="([^"]*)"', form)[:4])
    return fields


def _post(client: Client, fields: dict[str, str], option: str, **extra: Any) -> Any:
    return client.post("/quizzes/answer/", fields | {"option": option}, **extra)


def test_quiz_page_shows_questions_with_shuffled_labels(
    client: Client, small_bank: QuizBank
) -> None:
    response = client.get("/quizzes/intro/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="quiz-question"') == 4
    assert not QuizAttempt.objects.exists()  # the page only reads; the first answer saves
    fields = dict(re.findall(r'name="(attempt|question|version)" value="([^"]*)"', html)[3:6])
    assert fields["question"] == "q-two"
    _post(client, fields, "o1")
    attempt = QuizAttempt.objects.get()  # the order shown is the order recorded
    question = small_bank.questions["q-one"]
    right = label_of(question, attempt.seed, "o1")
    assert re.search(
        rf'id="q-q-one-o1" required>\s*<label for="q-q-one-o1">'
        rf'<span class="quiz-label">{right}</span>',
        html,
    )


def test_htmx_answer_swaps_feedback_with_labels_and_mistake(
    client: Client, small_bank: QuizBank
) -> None:
    fields = _form(client)
    response = _post(client, fields, "o3", **HTMX)
    attempt = QuizAttempt.objects.get()
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<article class="quiz-question" id="q-q-one"')
    picked = label_of(small_bank.questions["q-one"], attempt.seed, "o3")
    right = label_of(small_bank.questions["q-one"], attempt.seed, "o1")
    assert f"You picked {picked}; the right answer is {right}" in html
    assert f"The mistake behind {picked}: Thinks messages are stored" in html
    assert 'href="/lessons/intro/#what-it-does"' in html
    assert "<li>Sending is publishing.</li>" in html
    assert "Quick check:</strong> Send = publish." in html
    assert 'id="practice-score" class="quiz-score" hx-swap-oob="true"' in html
    assert "<base" not in html and "<html" not in html


def test_plain_post_redirects_back_to_the_question(client: Client) -> None:
    fields = _form(client)
    response = _post(client, fields | {"next": "/quizzes/intro/"}, "o1")
    assert response.status_code == 302
    assert response["Location"] == "/quizzes/intro/#q-q-one"
    page = client.get("/quizzes/intro/").content.decode()
    assert "<strong>Right.</strong>" in page
    assert "right of 4" in page and "<strong>1</strong>" in page


def test_next_to_another_site_is_ignored(client: Client) -> None:
    fields = _form(client)
    response = _post(client, fields | {"next": "https://evil.example/"}, "o1")
    assert response["Location"] == "/quizzes/intro/#q-q-one"


def test_double_submit_records_once_and_says_so(client: Client) -> None:
    fields = _form(client)
    _post(client, fields, "o2", **HTMX)
    again = _post(client, fields, "o1", **HTMX)
    assert again.status_code == 200
    assert "already answered this question" in again.content.decode()
    assert Answer.objects.count() == 1
    assert Answer.objects.get().option_id == "o2"


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"option": ""}, 400, "Pick one of the options A to D"),
        ({"question": "q-missing"}, 400, "There is no such question"),
        ({"option": "o7"}, 400, "not one of this question&#x27;s answers"),
        ({"version": "abc"}, 409, "changed since the page was shown"),
        ({"attempt": "424242"}, 400, "not yours or no longer exists"),
        ({"attempt": ""}, 400, "missing some of its hidden fields"),
    ],
)
def test_tampered_or_stale_forms_get_clear_4xx(
    client: Client, change: dict[str, str], status: int, message: str
) -> None:
    fields = _form(client) | {"option": "o1"}
    htmx = client.post("/quizzes/answer/", fields | change, **HTMX)
    plain = client.post("/quizzes/answer/", fields | change)
    assert htmx.status_code == plain.status_code == status
    assert message in htmx.content.decode()
    assert message in plain.content.decode()
    assert "<html" in plain.content.decode()
    assert Answer.objects.count() == 0


def _finish(client: Client, *options: str, url: str = "/quizzes/intro/") -> None:
    for option in options:
        assert _post(client, _form(client, url), option).status_code == 302


def test_answer_after_try_again_elsewhere_is_stale(client: Client) -> None:
    old_first = _form(client)  # a tab showing the first round before anything was answered
    assert old_first["attempt"] == "new-practice"
    _finish(client, "o1", "o1", "o1", "o1")  # another tab finishes it and tries again
    assert client.post("/quizzes/intro/again/").status_code == 302
    response = _post(client, old_first, "o1", **HTMX)
    assert response.status_code == 409
    assert "newer round" in response.content.decode()
    # The message goes into the question's error box; the question stays answerable.
    assert response["HX-Retarget"] == f"#q-{old_first['question']}-error"
    assert response["HX-Reswap"] == "innerHTML"
    assert Answer.objects.count() == 4


def test_csrf_is_enforced() -> None:
    client = Client(enforce_csrf_checks=True)
    fields = _form(client)
    response = _post(client, fields, "o1")
    assert response.status_code == 403
    assert Answer.objects.count() == 0
    token = client.cookies["csrftoken"].value
    ok = client.post("/quizzes/answer/", fields | {"option": "o1"}, HTTP_X_CSRFTOKEN=token)
    assert ok.status_code == 302
    assert Answer.objects.count() == 1


def test_get_on_answer_is_refused(client: Client) -> None:
    assert client.get("/quizzes/answer/").status_code == 405


def test_unknown_lesson_is_404(client: Client) -> None:
    assert client.get("/quizzes/no-such-lesson/").status_code == 404
    assert client.post("/quizzes/no-such-lesson/again/").status_code == 404


def test_try_again_starts_a_new_attempt_and_keeps_the_old(client: Client) -> None:
    _finish(client, "o2", "o1", "o1", "o1")
    response = client.post("/quizzes/intro/again/")
    assert response.status_code == 302
    assert QuizAttempt.objects.count() == 2
    assert Answer.objects.count() == 4
    page = client.get("/quizzes/intro/").content.decode()
    assert page.count('class="quiz-form"') == 4


def test_review_asks_missed_questions_once_due(client: Client) -> None:
    assert "Nothing to review" in client.get("/quizzes/review/").content.decode()
    _post(client, _form(client), "o2")
    page = client.get("/quizzes/review/").content.decode()
    assert 'class="quiz-question"' not in page  # a wrong answer comes back in 10 minutes
    assert "Intro — 1 question, the first in 9" in page
    Answer.objects.update(answered_at=F("answered_at") - timedelta(minutes=11))
    page = client.get("/quizzes/review/").content.decode()
    assert page.count('class="quiz-question"') == 1
    assert 'id="review-intro">Intro</h2>' in page  # under its practice set's label
    assert "The mistakes you make most" not in page  # made once
    fields = _form(client, "/quizzes/review/")
    assert fields["attempt"] == "new-review"  # created by its first answer
    response = _post(client, fields, "o1")
    assert QuizAttempt.objects.get(kind="review").answers.count() == 1
    assert response["Location"] == "/quizzes/review/#q-q-one"
    page = client.get("/quizzes/review/").content.decode()
    assert 'class="quiz-question"' not in page  # right: back in a day
    assert "Intro — 1 question, the first in 23" in page


def test_progress_json_exports_own_progress(client: Client) -> None:
    empty = client.get("/quizzes/progress.json").json()
    assert empty["attempts"] == []
    _post(client, _form(client), "o2")
    data = json.loads(client.get("/quizzes/progress.json").content)
    assert data["attempts"][0]["lesson"] == "intro"
    answer = data["attempts"][0]["answers"][0]
    assert (answer["question"], answer["option"], answer["correct"], answer["mistake"]) == (
        "q-one",
        "o2",
        False,
        "wrong-method",
    )
    other = Client().get("/quizzes/progress.json").json()
    assert other["attempts"] == []


def test_signup_merges_progress_and_logs_in(client: Client) -> None:
    _post(client, _form(client), "o2")
    response = client.post(
        "/quizzes/signup/",
        {
            "username": "newbie",
            "password1": "a-long-pass-phrase-42",
            "password2": "a-long-pass-phrase-42",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(username="newbie")
    learner = Learner.objects.get(user=user)
    assert learner.attempts.get().answers.count() == 1
    page = client.get("/quizzes/review/").content.decode()
    assert "Intro — 1 question" in page  # the answer's schedule came along


def test_signup_errors_are_shown_with_400(client: Client) -> None:
    response = client.post(
        "/quizzes/signup/", {"username": "x", "password1": "a", "password2": "b"}
    )
    assert response.status_code == 400
    assert "didn’t match" in response.content.decode() or "match" in response.content.decode()


def test_login_merges_into_existing_account(client: Client) -> None:
    user = User.objects.create_user("ada", password="pw-123456-long")
    account = Learner.objects.create(key="1" * 16, user=user)
    LessonRead.objects.create(learner=account, lesson_slug="intro")
    _post(client, _form(client), "o2")
    response = client.post("/accounts/login/", {"username": "ada", "password": "pw-123456-long"})
    assert response.status_code == 302
    assert account.attempts.count() == 1
    assert Answer.objects.filter(attempt__learner=account).count() == 1
    client.post("/accounts/logout/")
    assert "Nothing to review" in client.get("/quizzes/review/").content.decode()


def test_insights_is_for_staff(client: Client) -> None:
    assert client.get("/quizzes/insights/").status_code == 302
    User.objects.create_user("pat", password="pw-123456-long")
    client.login(username="pat", password="pw-123456-long")
    response = client.get("/quizzes/insights/")  # logged in, not staff: told why, not sent back
    assert response.status_code == 403
    assert b"open only to the people who run this site" in response.content


def test_insights_counts_picks_first_tries_and_mistakes(admin_client: Client) -> None:
    for option in ("o2", "o2", "o3"):
        learner_client = Client()
        _post(learner_client, _form(learner_client), option)
    learner_client = Client()
    _post(learner_client, _form(learner_client), "o1")
    page = admin_client.get("/quizzes/insights/?lesson=intro").content.decode()
    assert "Right at first try: <strong>25%</strong> of 4 learners" in page
    assert re.search(r"Uses a method that does not exist</a></th>\s*<td>2</td>", page)
    assert 'width="100"' in page and 'width="50"' in page
    bad = admin_client.get("/quizzes/insights/?lesson=%3Cscript%3E")
    assert bad.status_code == 400
    assert "<script>" not in bad.content.decode().split("<main", 1)[1]


def test_quiz_page_query_count_is_bounded(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    _post(client, _form(client), "o2")
    with django_assert_max_num_queries(5):
        assert client.get("/quizzes/intro/").status_code == 200


def test_answer_query_count_is_bounded(client: Client, django_assert_max_num_queries: Any) -> None:
    fields = _form(client)
    # The first answer also creates the learner, the session and the round.
    with django_assert_max_num_queries(17):
        assert _post(client, fields, "o2", **HTMX).status_code == 200
    fields = _form(client)
    with django_assert_max_num_queries(11):
        assert _post(client, fields, "o2", **HTMX).status_code == 200


def test_review_and_insights_query_counts_are_bounded(
    client: Client, admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    for _ in range(3):
        c = Client()
        _post(c, _form(c), "o2")
    _post(client, _form(client), "o2")
    with django_assert_max_num_queries(7):
        client.get("/quizzes/review/")
    with django_assert_max_num_queries(5):
        admin_client.get("/quizzes/insights/")


@pytest.mark.parametrize(
    "change",
    [
        {"attempt": "9" * 40},
        {"attempt": "²"},
        {"attempt": "١٢"},
        {"number": "²"},
        {"number": "9" * 50},
        {"question": "<script>alert(1)</script>"},
        {"option": "o1\x00"},
        {"version": "x" * 5000},
    ],
)
def test_hostile_values_never_cause_a_500(client: Client, change: dict[str, str]) -> None:
    fields = _form(client) | {"option": "o1"}
    for extra in ({}, HTMX):
        response = client.post("/quizzes/answer/", fields | change, **extra)
        assert response.status_code in (200, 302, 400, 409)
        assert "<script>alert" not in response.content.decode()


def test_results_and_history_after_a_finished_attempt(client: Client) -> None:
    for option in ("o1", "o2", "o1", "o1"):
        _post(client, _form(client), option)
    page = client.get("/quizzes/intro/").content.decode()
    assert "Your result: 3 of 4 right" in page
    client.post("/quizzes/intro/again/")
    page = client.get("/quizzes/intro/").content.decode()
    assert "Your result" not in page
    assert "Finished attempts, newest first:" in page and "3/4 on" in page


def test_admin_lists_attempts_and_learners(client: Client, admin_client: Client) -> None:
    _post(client, _form(client), "o2")
    attempt = QuizAttempt.objects.get()
    for url in (
        "/admin/progress/quizattempt/",
        f"/admin/progress/quizattempt/{attempt.pk}/change/",
        "/admin/progress/learner/",
        "/admin/progress/lessonread/",
        "/admin/progress/predictionanswer/",
    ):
        assert admin_client.get(url).status_code == 200, url
    assert (
        "q-one"
        in admin_client.get(f"/admin/progress/quizattempt/{attempt.pk}/change/").content.decode()
    )


@pytest.mark.django_db
def test_quiz_index_lists_every_practice_set_in_course_order(client: Any) -> None:
    from lessons.loader import get_course
    from quizzes.loader import get_bank

    response = client.get("/quizzes/")
    assert response.status_code == 200
    body = response.content.decode()
    positions = [body.index(f'href="/quizzes/{lesson.slug}/"') for lesson in get_course().lessons]
    assert positions == sorted(positions)
    for lesson in get_course().lessons:
        count = len(get_bank().sets[lesson.slug].questions)
        assert f"{count} questions" in body
