from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def console_page(request: HttpRequest) -> HttpResponse:
    return render(request, "lessons/home.html", {})
