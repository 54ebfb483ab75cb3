from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.urls import path


def home(request: HttpRequest) -> HttpResponse:
    # static() gives the hashed name from the manifest collectstatic wrote.
    return HttpResponse(f'<!doctype html><link rel="stylesheet" href="{static("css/app.css")}">'
                        "<h1>Hello from Django</h1>")


urlpatterns = [path("", home)]
