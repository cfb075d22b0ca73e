from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "lessons/home.html", {})


def search(request: HttpRequest) -> HttpResponse:
    return render(request, "lessons/home.html", {})


def lesson_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "lessons/home.html", {})
