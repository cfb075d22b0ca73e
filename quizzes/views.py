from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def review(request: HttpRequest) -> HttpResponse:
    return render(request, "lessons/home.html", {})


def signup(request: HttpRequest) -> HttpResponse:
    return render(request, "lessons/home.html", {})
