from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def playground(request: HttpRequest) -> HttpResponse:
    return render(request, "lessons/home.html", {})
