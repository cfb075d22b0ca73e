"""The learner models move from quizzes to progress without touching a row.

The tables keep their names (``db_table``), so this migration only changes Django's idea of
which app owns them; ``quizzes.0002`` drops them from the quizzes app's state.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("quizzes", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Learner",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("key", models.CharField(max_length=16, unique=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "merged_into",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="merged_from",
                                to="progress.learner",
                            ),
                        ),
                        (
                            "user",
                            models.OneToOneField(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="learner",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={"db_table": "quizzes_learner"},
                ),
                migrations.CreateModel(
                    name="PredictionAnswer",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("prediction_id", models.SlugField(max_length=100)),
                        ("lesson_slug", models.SlugField(max_length=100)),
                        ("answer", models.CharField(max_length=500)),
                        ("correct", models.BooleanField()),
                        ("answered_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "learner",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="predictions",
                                to="progress.learner",
                            ),
                        ),
                    ],
                    options={"db_table": "quizzes_predictionanswer"},
                ),
                migrations.CreateModel(
                    name="QuizAttempt",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("practice", "Practice set"),
                                    ("review", "Review my mistakes"),
                                ],
                                default="practice",
                                max_length=10,
                            ),
                        ),
                        ("lesson_slug", models.SlugField(blank=True, max_length=100)),
                        ("seed", models.BigIntegerField()),
                        ("started_at", models.DateTimeField(auto_now_add=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        ("score", models.PositiveIntegerField(default=0)),
                        ("total", models.PositiveIntegerField(default=0)),
                        (
                            "learner",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="attempts",
                                to="progress.learner",
                            ),
                        ),
                    ],
                    options={"db_table": "quizzes_quizattempt"},
                ),
                migrations.CreateModel(
                    name="Answer",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("question_id", models.SlugField(max_length=100)),
                        ("lesson_slug", models.SlugField(max_length=100)),
                        ("question_hash", models.CharField(max_length=16)),
                        ("option_id", models.CharField(max_length=8)),
                        ("shown_label", models.CharField(max_length=1)),
                        ("correct", models.BooleanField()),
                        ("mistake_id", models.SlugField(blank=True, max_length=100)),
                        ("first_try", models.BooleanField(default=False)),
                        ("answered_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "attempt",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="answers",
                                to="progress.quizattempt",
                            ),
                        ),
                    ],
                    options={"db_table": "quizzes_answer"},
                ),
                migrations.CreateModel(
                    name="LessonRead",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("lesson_slug", models.SlugField(max_length=100)),
                        ("read_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "learner",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="reads",
                                to="progress.learner",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "quizzes_lessonread",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("learner", "lesson_slug"), name="read_once"
                            )
                        ],
                    },
                ),
                migrations.AddIndex(
                    model_name="quizattempt",
                    index=models.Index(
                        fields=["learner", "kind", "lesson_slug", "-started_at"],
                        name="quizzes_qui_learner_1df3aa_idx",
                    ),
                ),
                migrations.AddIndex(
                    model_name="answer",
                    index=models.Index(
                        fields=["question_id"], name="quizzes_ans_questio_8026ef_idx"
                    ),
                ),
                migrations.AddIndex(
                    model_name="answer",
                    index=models.Index(
                        fields=["mistake_id"], name="quizzes_ans_mistake_59089d_idx"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="answer",
                    constraint=models.UniqueConstraint(
                        fields=("attempt", "question_id"), name="answer_once"
                    ),
                ),
            ],
        ),
    ]
