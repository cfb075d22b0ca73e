from django.urls import path

from quizzes import views

app_name = "quizzes"
urlpatterns = [
    path("review/", views.review, name="review"),
    path("signup/", views.signup, name="signup"),
]
