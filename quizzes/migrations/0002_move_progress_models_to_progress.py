"""The learner models now belong to the progress app; their tables and rows stay as they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("quizzes", "0001_initial"),
        ("progress", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="Answer"),
                migrations.DeleteModel(name="LessonRead"),
                migrations.DeleteModel(name="PredictionAnswer"),
                migrations.DeleteModel(name="QuizAttempt"),
                migrations.DeleteModel(name="Learner"),
            ],
        ),
    ]
