from channels.generic.websocket import AsyncWebsocketConsumer


class LiveConsumer(AsyncWebsocketConsumer):
    """A viewer of one feed: joins the feed's group and forwards each update as text."""

    async def connect(self):
        self.group = "live-" + self.scope["url_route"]["kwargs"]["feed"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def live_update(self, event):
        await self.send(text_data=event["body"])
