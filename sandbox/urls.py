from __future__ import annotations

from django.urls import path

from sandbox.views import chat, demo, playground, workers

app_name = "sandbox"
urlpatterns = [
    path("", playground.playground, name="playground"),
    path("panels/", playground.panel_add, name="panel_add"),
    path("stream/", playground.stream, name="stream"),
    path("publish/", playground.publish, name="publish"),
    path("demo/", demo.start, name="demo_start"),
    path("demo/stop/", demo.stop, name="demo_stop"),
    path("demo/publish/", demo.publish, name="demo_publish"),
    path("demo/<slug:token>/events/", demo.events, name="demo_events"),
    path("workers/events/<slug:token>/", workers.events, name="workers_events"),
    path("workers/<slug:kind>/", workers.start, name="workers_start"),
    path("workers/<slug:kind>/control/", workers.control, name="workers_control"),
    path("chat/", chat.lobby, name="chat_lobby"),
    path("chat/new/", chat.create, name="chat_create"),
    path("chat/<str:room>/", chat.room_page, name="chat_room"),
    path("chat/<str:room>/nick/", chat.nick, name="chat_nick"),
    path("chat/<str:room>/send/", chat.send, name="chat_send"),
    path("chat/<str:room>/events/", chat.events, name="chat_events"),
]
